import { generateKeyPairSync } from 'node:crypto';
// The authorization matrix: every HTTP route × {anonymous, member, non-member, suspended, admin}.
// A route the app serves without a rule here fails the suite. GitHub (memberships) is a FAKE.
import test from 'ava';
import { type FakeGitHub, githubEnv, startFakeGitHub, userToken } from '../helpers/fake-github.js';
import { configRepo } from '../helpers/git.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const SSH_KEY = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

type Role = 'anonymous' | 'member' | 'nonMember' | 'suspended' | 'admin';
const ROLES: Role[] = ['anonymous', 'nonMember', 'suspended', 'member', 'admin'];
type Expect = Record<Role, number>;
/** anonymous, member, non-member, suspended, admin */
const x = (anonymous: number, member: number, nonMember: number, suspended: number, admin: number): Expect => ({
  anonymous,
  member,
  nonMember,
  suspended,
  admin,
});
const PUBLIC = (s: number) => x(s, s, s, s, s);
const USER = (s: number, admin = s) => x(401, s, s, 401, admin);
/** Inside the project's (or context's) organization: non-members are told it does not exist. */
const ORG = (s: number, admin = s) => x(401, s, 404, 401, admin);
const ADMIN = (s: number) => x(401, 403, 403, 401, s);

interface Fx {
  slug: string;
  pipelineId: string;
  workflowId: string;
  jobId: string;
  jobNumber: number;
  contextId: string;
  fingerprint: string;
}
interface Rule {
  expect: Expect;
  /** Path (and body) for a role; may create what the call consumes. */
  call: (role: Role, fx: Fx) => Promise<{ path: string; body?: unknown }> | { path: string; body?: unknown };
}

let server: TestServer;
let gh: FakeGitHub;
const tokens: Partial<Record<Role, string>> = { admin: ADMIN_TOKEN };
let fx: Fx;
const admin = (method: string, path: string, body?: unknown) => server.api(method, path, body);

test.before(async () => {
  gh = await startFakeGitHub();
  server = await startTestServer(githubEnv(gh));
  tokens.member = await userToken(server.url, gh, { id: 1, login: 'member', orgs: [{ org: 'acme' }] });
  tokens.nonMember = await userToken(server.url, gh, { id: 2, login: 'outsider', orgs: [{ org: 'other' }] });
  tokens.suspended = await userToken(server.url, gh, { id: 3, login: 'gone', orgs: [{ org: 'acme' }] });
  await admin('POST', '/api/admin/users/gone/suspend');
  const slug = 'gh/acme/app';
  await server.addProject(
    slug,
    configRepo(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: echo hi}]}
workflows:
  w: {jobs: [build]}
`),
  );
  const p = await server.trigger(slug);
  const [wf] = await server.waitForPipeline(p.id);
  const ctx = (await admin('POST', '/api/v2/context', { name: 'matrix', owner: { slug: 'gh/acme' } })).body;
  await admin('PUT', `/api/v2/context/${ctx.id}/environment-variable/V`, { value: 'v' });
  await admin('POST', `/api/v2/project/${slug}/envvar`, { name: 'PV', value: 'secret' });
  const key = (await admin('POST', `/api/v2/project/${slug}/checkout-key`, { type: 'deploy-key' })).body;
  fx = {
    slug,
    pipelineId: p.id,
    workflowId: wf.id,
    jobId: wf.jobs[0].id,
    jobNumber: wf.jobs[0].job_number!,
    contextId: ctx.id,
    fingerprint: key.fingerprint,
  };
});
test.after.always(async () => {
  await server?.close();
  await gh?.close();
});

let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}`;
const p = (path: string, body?: unknown) => () => ({ path, body });

const RULES: Record<string, Rule> = {
  'POST /webhooks/github': { expect: PUBLIC(401), call: p('/webhooks/github', {}) },
  'GET /auth/providers': { expect: PUBLIC(200), call: p('/auth/providers') },
  'GET /auth/github': { expect: PUBLIC(302), call: p('/auth/github') },
  'GET /auth/github/callback': { expect: PUBLIC(400), call: p('/auth/github/callback') },
  'POST /auth/token-login': {
    expect: x(401, 200, 200, 401, 200),
    call: (r) => ({ path: '/auth/token-login', body: { token: tokens[r] ?? 'not-a-token' } }),
  },
  'POST /auth/logout': { expect: USER(200), call: p('/auth/logout') },
  'GET /api/account': { expect: USER(200), call: p('/api/account') },
  'POST /api/account/refresh-permissions': { expect: USER(200, 400), call: p('/api/account/refresh-permissions') },
  'GET /api/v1.1/user/token': { expect: USER(200), call: p('/api/v1.1/user/token') },
  'POST /api/v1.1/user/token': { expect: USER(201), call: p('/api/v1.1/user/token', { label: 'matrix' }) },
  'DELETE /api/v1.1/user/token/:id': { expect: USER(404), call: p('/api/v1.1/user/token/not-mine') },
  'POST /api/v2/pipeline/continue': {
    expect: PUBLIC(404),
    call: p('/api/v2/pipeline/continue', { 'continuation-key': 'nope', configuration: 'x' }),
  },
  'GET /api/v2/context': { expect: ORG(200), call: p('/api/v2/context?owner-slug=gh/acme') },
  'POST /api/v2/context': {
    expect: ORG(200),
    call: () => ({ path: '/api/v2/context', body: { name: fresh('ctx-'), owner: { slug: 'gh/acme' } } }),
  },
  'GET /api/v2/context/:id': { expect: ORG(200), call: (_r, f) => ({ path: `/api/v2/context/${f.contextId}` }) },
  'DELETE /api/v2/context/:id': {
    expect: ORG(200),
    call: async () => {
      const c = (await admin('POST', '/api/v2/context', { name: fresh('del-'), owner: { slug: 'gh/acme' } })).body;
      return { path: `/api/v2/context/${c.id}` };
    },
  },
  'GET /api/v2/context/:id/environment-variable': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/context/${f.contextId}/environment-variable` }),
  },
  'PUT /api/v2/context/:id/environment-variable/:name': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/context/${f.contextId}/environment-variable/W`, body: { value: 'w' } }),
  },
  'DELETE /api/v2/context/:id/environment-variable/:name': {
    expect: ORG(200),
    call: async (_r, f) => {
      const name = fresh('D');
      await admin('PUT', `/api/v2/context/${f.contextId}/environment-variable/${name}`, { value: 'x' });
      return { path: `/api/v2/context/${f.contextId}/environment-variable/${name}` };
    },
  },
  'GET /api/v2/context/:id/restrictions': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/context/${f.contextId}/restrictions` }),
  },
  'POST /api/v2/context/:id/restrictions': {
    expect: ORG(403, 201),
    call: async () => {
      const c = (await admin('POST', '/api/v2/context', { name: fresh('r-'), owner: { slug: 'gh/acme' } })).body;
      return {
        path: `/api/v2/context/${c.id}/restrictions`,
        body: { restriction_type: 'group', restriction_value: 'ops' },
      };
    },
  },
  'DELETE /api/v2/context/:id/restrictions/:rid': {
    expect: ORG(403, 200),
    call: async (_r, f) => {
      const c = (await admin('POST', '/api/v2/context', { name: fresh('rd-'), owner: { slug: 'gh/acme' } })).body;
      const r = (
        await admin('POST', `/api/v2/context/${c.id}/restrictions`, {
          restriction_type: 'group',
          restriction_value: 'ops',
        })
      ).body;
      return { path: `/api/v2/context/${c.id}/restrictions/${r.id ?? f.contextId}` };
    },
  },
  'GET /api/v2/project/:vcs/:org/:repo/checkout-key': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/checkout-key` }),
  },
  'POST /api/v2/project/:vcs/:org/:repo/checkout-key': {
    expect: ORG(403, 201),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/checkout-key`, body: { type: 'deploy-key' } }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/checkout-key/:fingerprint': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/checkout-key/${f.fingerprint}` }),
  },
  'DELETE /api/v2/project/:vcs/:org/:repo/checkout-key/:fingerprint': {
    expect: ORG(403, 200),
    call: async (_r, f) => {
      const k = (await admin('POST', `/api/v2/project/${f.slug}/checkout-key`, { type: 'user-key' })).body;
      return { path: `/api/v2/project/${f.slug}/checkout-key/${k.fingerprint}` };
    },
  },
  'GET /api/v2/project/:vcs/:org/:repo/settings': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/settings` }),
  },
  'PATCH /api/v2/project/:vcs/:org/:repo/settings': {
    expect: ORG(403, 200),
    call: (_r, f) => ({
      path: `/api/v2/project/${f.slug}/settings`,
      body: { advanced: { forks_receive_secret_env_vars: false } },
    }),
  },
  'GET /api/v2/me/collaborations': { expect: USER(200), call: p('/api/v2/me/collaborations') },
  'GET /api/v2/me': { expect: USER(200), call: p('/api/v2/me') },
  'GET /api/v2/project/:vcs/:org/:repo': { expect: ORG(200), call: (_r, f) => ({ path: `/api/v2/project/${f.slug}` }) },
  'POST /api/v2/project/:vcs/:org/:repo/pipeline': {
    expect: ORG(201),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/pipeline`, body: { branch: 'main' } }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/envvar': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/envvar` }),
  },
  'POST /api/v2/project/:vcs/:org/:repo/envvar': {
    expect: ORG(201),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/envvar`, body: { name: 'SET_BY_MATRIX', value: 'x' } }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/envvar/:name': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/envvar/PV` }),
  },
  'DELETE /api/v2/project/:vcs/:org/:repo/envvar/:name': {
    expect: ORG(200),
    call: async (_r, f) => {
      const name = fresh('DEL_');
      await admin('POST', `/api/v2/project/${f.slug}/envvar`, { name, value: 'x' });
      return { path: `/api/v2/project/${f.slug}/envvar/${name}` };
    },
  },
  'GET /api/v1.1/project/:vcs/:org/:repo/ssh-key': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v1.1/project/${f.slug}/ssh-key` }),
  },
  'POST /api/v1.1/project/:vcs/:org/:repo/ssh-key': {
    expect: ORG(201),
    call: (_r, f) => ({
      path: `/api/v1.1/project/${f.slug}/ssh-key`,
      body: { hostname: fresh('host-'), private_key: SSH_KEY },
    }),
  },
  'DELETE /api/v1.1/project/:vcs/:org/:repo/ssh-key': {
    expect: ORG(200),
    call: async (_r, f) => {
      const hostname = fresh('del-');
      const k = (await admin('POST', `/api/v1.1/project/${f.slug}/ssh-key`, { hostname, private_key: SSH_KEY })).body;
      return { path: `/api/v1.1/project/${f.slug}/ssh-key`, body: { fingerprint: k.fingerprint, hostname } };
    },
  },
  'GET /api/v2/project/:vcs/:org/:repo/pipeline': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/pipeline` }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/pipeline/mine': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/pipeline/mine` }),
  },
  'GET /api/v2/pipeline': { expect: USER(200), call: p('/api/v2/pipeline?org-slug=gh/acme') },
  'GET /api/v2/project/:vcs/:org/:repo/pipeline/:number': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/pipeline/1` }),
  },
  'GET /api/v2/pipeline/:id': { expect: ORG(200), call: (_r, f) => ({ path: `/api/v2/pipeline/${f.pipelineId}` }) },
  'GET /api/v2/pipeline/:id/config': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/pipeline/${f.pipelineId}/config` }),
  },
  'GET /api/v2/pipeline/:id/workflow': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/pipeline/${f.pipelineId}/workflow` }),
  },
  'GET /api/v2/workflow/:id': { expect: ORG(200), call: (_r, f) => ({ path: `/api/v2/workflow/${f.workflowId}` }) },
  'GET /api/v2/workflow/:id/job': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/workflow/${f.workflowId}/job` }),
  },
  'POST /api/v2/workflow/:id/approve/:request': {
    // The workflow has no approval job: members learn that; non-members learn nothing.
    expect: ORG(404),
    call: (_r, f) => ({ path: `/api/v2/workflow/${f.workflowId}/approve/${f.jobId}` }),
  },
  'POST /api/v2/workflow/:id/cancel': {
    expect: ORG(202),
    call: (_r, f) => ({ path: `/api/v2/workflow/${f.workflowId}/cancel` }),
  },
  'POST /api/v2/workflow/:id/rerun': {
    expect: ORG(400),
    call: (_r, f) => ({ path: `/api/v2/workflow/${f.workflowId}/rerun`, body: { jobs: ['not-in-this-workflow'] } }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/job/:number': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/job/${f.jobNumber}` }),
  },
  'POST /api/v2/project/:vcs/:org/:repo/job/:number/cancel': {
    expect: ORG(409),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/job/${f.jobNumber}/cancel` }),
  },
  'GET /api/v1.1/project/:vcs/:org/:repo/:num': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v1.1/project/github/acme/app/${f.jobNumber}` }),
  },
  'GET /api/v1.1/project/:vcs/:org/:repo/:num/output/:step/:index': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v1.1/project/github/acme/app/${f.jobNumber}/output/1/0` }),
  },
  'GET /api/admin/projects': { expect: ADMIN(200), call: p('/api/admin/projects') },
  'POST /api/admin/projects': {
    expect: ADMIN(409),
    call: (_r, f) => ({ path: '/api/admin/projects', body: { slug: f.slug, repo: '/nonexistent' } }),
  },
  'GET /api/admin/users': { expect: ADMIN(200), call: p('/api/admin/users') },
  'POST /api/admin/users': {
    expect: ADMIN(201),
    call: () => ({ path: '/api/admin/users', body: { login: fresh('approved-') } }),
  },
  'POST /api/admin/users/:login/:action': { expect: ADMIN(200), call: p('/api/admin/users/member/activate') },
  'DELETE /api/admin/users/:login': {
    expect: ADMIN(200),
    call: async () => {
      const login = fresh('doomed-');
      await admin('POST', '/api/admin/users', { login });
      return { path: `/api/admin/users/${login}` };
    },
  },
  'GET /api/admin/settings': { expect: ADMIN(200), call: p('/api/admin/settings') },
  'PUT /api/admin/settings': { expect: ADMIN(200), call: p('/api/admin/settings', {}) },
  'GET /api/admin/audit-log': { expect: ADMIN(200), call: p('/api/admin/audit-log') },
  // The executor protocol: only executor and job tokens open it; user tokens never do.
  'POST /api/internal/executor/claim': {
    expect: PUBLIC(401),
    call: p('/api/internal/executor/claim', { executor_id: 'x', wait_seconds: 0 }),
  },
  'POST /api/internal/executor/jobs/:id/events': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/events`, body: { events: [] } }),
  },
  'POST /api/internal/executor/jobs/:id/finish': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/finish`, body: { status: 'success' } }),
  },
  'PUT /api/internal/executor/jobs/:id/cache/:key': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/cache/k` }),
  },
  'POST /api/internal/executor/jobs/:id/cache/lookup': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/cache/lookup`, body: { keys: ['k'] } }),
  },
  'GET /api/internal/executor/jobs/:id/cache/:key': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/cache/k` }),
  },
  'PUT /api/internal/executor/jobs/:id/workspace': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/workspace` }),
  },
  'GET /api/internal/executor/jobs/:id/workspace': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/workspace` }),
  },
  'GET /api/internal/executor/jobs/:id/workspace/:wf/:layer': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/workspace/${f.workflowId}/0` }),
  },
  'PUT /api/internal/executor/jobs/:id/artifacts': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/artifacts` }),
  },
  'POST /api/internal/executor/jobs/:id/tests': {
    expect: PUBLIC(401),
    call: (_r, f) => ({ path: `/api/internal/executor/jobs/${f.jobId}/tests`, body: {} }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/:num/artifacts': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/${f.jobNumber}/artifacts` }),
  },
  'GET /api/v1.1/project/:vcs/:org/:repo/:num/artifacts': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v1.1/project/${f.slug}/${f.jobNumber}/artifacts` }),
  },
  'GET /api/v1.1/project/:vcs/:org/:repo/latest/artifacts': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v1.1/project/${f.slug}/latest/artifacts` }),
  },
  'GET /api/v1.1/project/:vcs/:org/:repo/:num/tests': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v1.1/project/${f.slug}/${f.jobNumber}/tests` }),
  },
  'GET /api/v2/project/:vcs/:org/:repo/:num/tests': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/v2/project/${f.slug}/${f.jobNumber}/tests` }),
  },
  'GET /artifacts/:job/:node/*': {
    expect: ORG(404),
    call: (_r, f) => ({ path: `/artifacts/${f.jobId}/0/missing.txt` }),
  },
  // The web UI's static pages: the data they show comes from the routes above.
  'GET /': { expect: PUBLIC(200), call: p('/') },
  'GET /projects/*': { expect: PUBLIC(200), call: p('/projects/gh/acme/app') },
  'GET /pipelines/*': { expect: PUBLIC(200), call: p('/pipelines/gh/acme/app/1') },
  'GET /admin': { expect: PUBLIC(200), call: p('/admin') },
  'GET /admin/*': { expect: PUBLIC(200), call: p('/admin/users') },
  'GET /account': { expect: PUBLIC(200), call: p('/account') },
  'GET /ui/:file': { expect: PUBLIC(200), call: p('/ui/app.js') },
  'GET /api/ui/info': { expect: USER(200), call: p('/api/ui/info') },
  'GET /api/ui/projects': { expect: USER(200), call: p('/api/ui/projects') },
  'GET /api/ui/project/:vcs/:org/:repo/job/:num': {
    expect: ORG(200),
    call: (_r, f) => ({ path: `/api/ui/project/${f.slug}/job/${f.jobNumber}` }),
  },
  'GET /api/ui/jobs/:id/stream': { expect: ORG(200), call: (_r, f) => ({ path: `/api/ui/jobs/${f.jobId}/stream` }) },
  'GET /api/ui/events': { expect: USER(200), call: p('/api/ui/events') },
  'GET /api/orbs': { expect: USER(200), call: p('/api/orbs') },
  'GET /api/orbs/:ns/:name': { expect: USER(404), call: p('/api/orbs/acme/none') },
  'GET /api/orbs/:ns/:name/:version': { expect: USER(404), call: p('/api/orbs/acme/none/1.0.0') },
  'POST /api/admin/orbs': { expect: ADMIN(400), call: p('/api/admin/orbs', { ref: 'not a ref', source: '' }) },
  'POST /api/v2/compile-config-with-defaults': {
    expect: USER(200),
    call: p('/api/v2/compile-config-with-defaults', {
      config_yaml: 'version: 2.1\njobs: {a: {docker: [{image: x}], steps: [checkout]}}\nworkflows: {w: {jobs: [a]}}\n',
    }),
  },
  'GET /healthz': { expect: PUBLIC(200), call: p('/healthz') },
};

test.serial('every route has a rule in the authorization matrix', (t) => {
  const missing = server.app.routeList.map((r) => `${r.method} ${r.url}`).filter((k) => !RULES[k]);
  t.deepEqual(missing, [], 'add a rule for each new route');
  const stale = Object.keys(RULES).filter((k) => !server.app.routeList.some((r) => `${r.method} ${r.url}` === k));
  t.deepEqual(stale, [], 'rules for routes that no longer exist');
});

for (const [key, rule] of Object.entries(RULES)) {
  test.serial(`authz: ${key}`, async (t) => {
    const [method] = key.split(' ');
    const got: Partial<Record<Role, number>> = {};
    for (const role of ROLES) {
      const { path, body } = await rule.call(role, fx);
      const abort = new AbortController();
      const res = await fetch(server.url + path, {
        method,
        redirect: 'manual',
        signal: abort.signal,
        headers: {
          ...(tokens[role] ? { 'circle-token': tokens[role]! } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      got[role] = res.status;
      // Live streams never end by themselves.
      if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) abort.abort();
      else await res.arrayBuffer();
    }
    t.deepEqual(got, rule.expect);
  });
}
