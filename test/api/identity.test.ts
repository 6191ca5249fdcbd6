// Users, logins and tokens, with GitHub played by a FAKE (GitHub cannot be reached from here).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { type FakeGitHub, githubEnv, oauthLogin, startFakeGitHub, userToken } from '../helpers/fake-github.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { BIN } from '../server/process.js';

const exec = promisify(execFile);
let server: TestServer;
let gh: FakeGitHub;
test.before(async () => {
  gh = await startFakeGitHub();
  server = await startTestServer(githubEnv(gh));
});
test.after.always(async () => {
  await server?.close();
  await gh?.close();
});

const users = async () =>
  (await server.api('GET', '/api/admin/users')).body.items as {
    login: string;
    state: string;
    organizations: unknown[];
  }[];
const stateOf = async (login: string) => (await users()).find((u) => u.login === login)?.state;

async function cli(args: string[]) {
  try {
    const r = await exec(process.execPath, [BIN, ...args, '--host', server.url, '--token', ADMIN_TOKEN], {
      env: { ...process.env, ROUNDHOUSE_HOST: '', ROUNDHOUSE_TOKEN: '' },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test.serial(
  'fake GitHub OAuth login creates an active user with cached org memberships; /me and collaborations',
  async (t) => {
    const login = await oauthLogin(
      server.url,
      gh.codeFor({ id: 101, login: 'alice', name: 'Alice', orgs: [{ org: 'acme' }] }),
    );
    t.is(login.status, 302, login.body);
    t.is(login.location, '/');
    t.truthy(login.cookie);
    t.is(await stateOf('alice'), 'active');
    const me = await fetch(`${server.url}/api/v2/me`, { headers: { cookie: login.cookie! } });
    t.like(await me.json(), { login: 'alice', name: 'Alice' });
    const collab = await fetch(`${server.url}/api/v2/me/collaborations`, { headers: { cookie: login.cookie! } });
    t.like((await collab.json())[0], { 'vcs-type': 'github', name: 'acme', slug: 'gh/acme', avatar_url: '' });
    // A bad code is refused, with GitHub's reason and no session.
    const bad = await oauthLogin(server.url, 'not-a-code');
    t.is(bad.status, 302);
    t.regex(bad.location, /^\/\?login_error=GitHub login failed: The code passed is incorrect or expired/);
    t.is(bad.cookie, undefined);
    t.deepEqual(gh.unexpected, []);
  },
);

test.serial('sessions: CSRF token required for changes, logout ends the session', async (t) => {
  const s = await oauthLogin(server.url, gh.codeFor({ id: 102, login: 'bob', orgs: [{ org: 'acme' }] }));
  const post = (headers: Record<string, string>) =>
    fetch(`${server.url}/api/v1.1/user/token`, {
      method: 'POST',
      headers: { cookie: s.cookie!, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ label: 'x' }),
    });
  t.is((await post({})).status, 403, 'no CSRF header');
  t.is((await post({ 'x-csrf-token': 'wrong' })).status, 403);
  t.is((await post({ 'x-csrf-token': s.csrf! })).status, 201);
  const out = await fetch(`${server.url}/auth/logout`, {
    method: 'POST',
    headers: { cookie: s.cookie!, 'x-csrf-token': s.csrf! },
  });
  t.is(out.status, 200);
  t.is((await fetch(`${server.url}/api/v2/me`, { headers: { cookie: s.cookie! } })).status, 401);
});

test.serial(
  'personal API tokens: created, listed without the secret, usable as Circle-Token and basic auth, revoked',
  async (t) => {
    const token = await userToken(server.url, gh, { id: 103, login: 'carol', orgs: [{ org: 'acme' }] });
    t.is((await server.api('GET', '/api/v2/me', undefined, token)).body.login, 'carol');
    const basic = await fetch(`${server.url}/api/v2/me`, {
      headers: { authorization: `Basic ${Buffer.from(`${token}:`).toString('base64')}` },
    });
    t.is(basic.status, 200);
    const list = (await server.api('GET', '/api/v1.1/user/token', undefined, token)).body;
    t.is(list.length, 1);
    t.false(JSON.stringify(list).includes(token));
    t.is((await server.api('DELETE', `/api/v1.1/user/token/${list[0].id}`, undefined, token)).status, 200);
    t.is((await server.api('GET', '/api/v2/me', undefined, token)).status, 401);
  },
);

test.serial('suspending a user stops their tokens at once; activating restores them', async (t) => {
  const token = await userToken(server.url, gh, { id: 104, login: 'dave', orgs: [{ org: 'acme' }] });
  t.is((await server.api('POST', '/api/admin/users/dave/suspend')).status, 200);
  t.is(await stateOf('dave'), 'suspended');
  const r = await server.api('GET', '/api/v2/me', undefined, token);
  t.is(r.status, 401);
  t.regex(r.body.message, /suspended/);
  // A suspended user cannot log in either.
  const again = await oauthLogin(server.url, gh.codeFor({ id: 104, login: 'dave', orgs: [{ org: 'acme' }] }));
  t.regex(again.location, /login_error=Account dave is suspended/);
  t.is(again.cookie, undefined);
  t.is((await server.api('POST', '/api/admin/users/dave/activate')).status, 200);
  t.is((await server.api('GET', '/api/v2/me', undefined, token)).status, 200);
});

test.serial('"Suspend New Users": new accounts start suspended until an admin activates them', async (t) => {
  t.is((await server.api('PUT', '/api/admin/settings', { suspend_new_users: true })).status, 200);
  try {
    const first = await oauthLogin(server.url, gh.codeFor({ id: 105, login: 'erin', orgs: [{ org: 'acme' }] }));
    t.regex(first.location, /login_error=.*waiting for an administrator/);
    t.is(first.cookie, undefined);
    t.is(await stateOf('erin'), 'suspended');
    t.is((await server.api('POST', '/api/admin/users/erin/activate')).status, 200);
    const second = await oauthLogin(server.url, gh.codeFor({ id: 105, login: 'erin', orgs: [{ org: 'acme' }] }));
    t.is(second.location, '/');
    t.is(await stateOf('erin'), 'active');
  } finally {
    await server.api('PUT', '/api/admin/settings', { suspend_new_users: false });
  }
});

test.serial('"Required Org Membership List": only members of a listed org may log in (checked at login)', async (t) => {
  const set = await server.api('PUT', '/api/admin/settings', { required_org_membership: 'acme, Umbrella' });
  t.deepEqual(set.body, { suspend_new_users: false, required_org_membership: 'acme,umbrella' });
  try {
    const out = await oauthLogin(server.url, gh.codeFor({ id: 106, login: 'frank', orgs: [{ org: 'other' }] }));
    t.regex(out.location, /login_error=.*required organization/);
    t.is(out.cookie, undefined);
    t.is(await stateOf('frank'), undefined, 'no account is created');
    const ok = await oauthLogin(server.url, gh.codeFor({ id: 107, login: 'grace', orgs: [{ org: 'UMBRELLA' }] }));
    t.is(ok.location, '/');
  } finally {
    await server.api('PUT', '/api/admin/settings', { required_org_membership: '' });
  }
  t.is((await server.api('PUT', '/api/admin/settings', { required_org_membership: 'bad;org' })).status, 400);
});

test.serial('inactive accounts: approved by an admin, inactive until the first login', async (t) => {
  t.is((await server.api('POST', '/api/admin/users', { login: 'heidi' })).status, 201);
  t.is(await stateOf('heidi'), 'inactive');
  t.is((await server.api('POST', '/api/admin/users', { login: 'heidi' })).status, 409);
  t.is((await server.api('POST', '/api/admin/users', { login: 'bad login!' })).status, 400);
  // Activating keeps a never-logged-in account inactive (not counted as a seat).
  await server.api('POST', '/api/admin/users/heidi/activate');
  t.is(await stateOf('heidi'), 'inactive');
  const s = await oauthLogin(server.url, gh.codeFor({ id: 108, login: 'heidi', orgs: [{ org: 'acme' }] }));
  t.is(s.location, '/');
  t.is(await stateOf('heidi'), 'active');
});

test.serial('refresh permissions re-reads orgs and teams from GitHub', async (t) => {
  const token = await userToken(server.url, gh, { id: 109, login: 'ivan', orgs: [{ org: 'acme' }] });
  gh.update('ivan', {
    orgs: [{ org: 'acme' }, { org: 'initech', role: 'admin' }],
    teams: [{ org: 'acme', slug: 'ops' }],
  });
  t.deepEqual((await server.api('GET', '/api/account', undefined, token)).body.organizations, [
    { org: 'acme', role: 'member' },
  ]);
  const r = await server.api('POST', '/api/account/refresh-permissions', undefined, token);
  t.is(r.status, 200);
  t.deepEqual(r.body.teams, [{ org: 'acme', team: 'ops' }]);
  const acct = (await server.api('GET', '/api/account', undefined, token)).body;
  t.deepEqual(acct.organizations, [
    { org: 'acme', role: 'member' },
    { org: 'initech', role: 'admin' },
  ]);
  // The bootstrap admin is not linked to GitHub: nothing to refresh, said clearly.
  t.is((await server.api('POST', '/api/account/refresh-permissions')).status, 400);
});

test.serial('CLI: roundhouse admin users list | suspend | activate | delete', async (t) => {
  await oauthLogin(server.url, gh.codeFor({ id: 110, login: 'judy', orgs: [{ org: 'acme' }] }));
  const list = await cli(['admin', 'users', 'list']);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /^judy\s+active\s/m);
  t.regex(list.stdout, /^admin\s+active\s+admin/m);
  t.is((await cli(['admin', 'users', 'suspend', 'judy'])).code, 0);
  t.is(await stateOf('judy'), 'suspended');
  t.regex((await cli(['admin', 'users', 'list'])).stdout, /^judy\s+suspended/m);
  t.is((await cli(['admin', 'users', 'activate', 'judy'])).code, 0);
  t.is(await stateOf('judy'), 'active');
  const del = await cli(['admin', 'users', 'delete', 'judy']);
  t.is(del.code, 0, del.stderr);
  t.is(await stateOf('judy'), undefined);
  const missing = await cli(['admin', 'users', 'delete', 'nobody']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /User nobody not found/);
  t.is((await cli(['admin', 'users', 'suspend', 'admin'])).code, 2, 'the bootstrap admin cannot be suspended');
});

test('embedded mode: token login gives a session; non-admins get 403 from the admin API', async (t) => {
  const r = await fetch(`${server.url}/auth/token-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: ADMIN_TOKEN }),
  });
  t.is(r.status, 200);
  const cookie = r.headers.getSetCookie()[0].split(';')[0];
  t.regex(r.headers.getSetCookie()[0], /HttpOnly/);
  t.regex(r.headers.getSetCookie()[0], /SameSite=Lax/);
  t.is((await fetch(`${server.url}/api/admin/users`, { headers: { cookie } })).status, 200);
  const bad = await fetch(`${server.url}/auth/token-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: 'wrong-token' }),
  });
  t.is(bad.status, 401);
  const token = await userToken(server.url, gh, { id: 111, login: 'kim', orgs: [] });
  t.is((await server.api('GET', '/api/admin/users', undefined, token)).status, 403);
});
