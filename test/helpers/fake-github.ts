import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * A FAKE of the few GitHub (Enterprise) endpoints Roundhouse uses — GitHub cannot be reached from
 * here. It serves the OAuth code exchange (`POST /login/oauth/access_token`) and, under `/api/v3`
 * as GitHub Enterprise does, `GET /user`, `GET /user/memberships/orgs` and `GET /user/teams`.
 * Anything else is answered 404 and recorded in `unexpected`, so a test can fail on it.
 */
export interface FakeGitHubUser {
  id: number;
  login: string;
  name?: string;
  orgs: { org: string; role?: 'admin' | 'member' }[];
  teams?: { org: string; slug: string }[];
}

export interface FakeGitHub {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly unexpected: string[];
  /** Registers a user; returns a one-time OAuth code for them (as GitHub would send to the callback). */
  codeFor(user: FakeGitHubUser): string;
  /** The next browser visit to the authorize page logs in as this user (GitHub's consent screen, skipped). */
  authorizeAs(user: FakeGitHubUser): void;
  /** Changes a user's memberships (as if an org admin changed teams on GitHub). */
  update(login: string, patch: Partial<FakeGitHubUser>): void;
  close(): Promise<void>;
}

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c) => {
      s += c;
    });
    req.on('end', () => resolve(s));
  });

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const users = new Map<string, FakeGitHubUser>();
  const codes = new Map<string, string>();
  const tokens = new Map<string, string>();
  const unexpected: string[] = [];
  const clientId = 'fake-client-id';
  const clientSecret = 'fake-client-secret-0123456789';
  let n = 0;
  let nextUser: FakeGitHubUser | undefined;
  const server: Server = createServer(async (req, res) => {
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize' && nextUser) {
      if (url.searchParams.get('client_id') !== clientId) return send(400, { message: 'unknown client_id' });
      users.set(nextUser.login, nextUser);
      const code = `code-${++n}`;
      codes.set(code, nextUser.login);
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const text = await body(req);
      const p = (req.headers['content-type'] ?? '').includes('json')
        ? JSON.parse(text)
        : Object.fromEntries(new URLSearchParams(text));
      const login = codes.get(p.code);
      if (p.client_id !== clientId || p.client_secret !== clientSecret || !login)
        return send(200, {
          error: 'bad_verification_code',
          error_description: 'The code passed is incorrect or expired.',
          error_uri: 'https://docs.github.com',
        });
      codes.delete(p.code);
      const token = `gho_fake_${++n}_${login}`;
      tokens.set(token, login);
      return send(200, { access_token: token, token_type: 'bearer', scope: 'read:org,user:email' });
    }
    const auth = req.headers.authorization ?? '';
    const user = users.get(tokens.get(auth.replace(/^(token|bearer) /i, '')) ?? '');
    if (req.method === 'GET' && url.pathname.startsWith('/api/v3/user')) {
      if (!user) return send(401, { message: 'Bad credentials' });
      if (url.pathname === '/api/v3/user')
        return send(200, { id: user.id, login: user.login, name: user.name ?? null, type: 'User' });
      if (url.pathname === '/api/v3/user/memberships/orgs')
        return send(
          200,
          user.orgs.map((o) => ({ state: 'active', role: o.role ?? 'member', organization: { login: o.org } })),
        );
      if (url.pathname === '/api/v3/user/teams')
        return send(
          200,
          (user.teams ?? []).map((t, i) => ({ id: i + 1, slug: t.slug, name: t.slug, organization: { login: t.org } })),
        );
    }
    unexpected.push(`${req.method} ${url.pathname}`);
    send(404, { message: 'Not Found (fake GitHub)' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    clientId,
    clientSecret,
    unexpected,
    codeFor(user) {
      users.set(user.login, user);
      const code = `code-${++n}`;
      codes.set(code, user.login);
      return code;
    },
    authorizeAs(user) {
      nextUser = user;
    },
    update(login, patch) {
      const u = users.get(login);
      if (u) users.set(login, { ...u, ...patch });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The settings that point a test server's GitHub login at the fake. */
export const githubEnv = (gh: FakeGitHub) => ({
  ROUNDHOUSE_GITHUB_URL: gh.url,
  ROUNDHOUSE_GITHUB_CLIENT_ID: gh.clientId,
  ROUNDHOUSE_GITHUB_CLIENT_SECRET: gh.clientSecret,
});

/** A browser-like login through the OAuth web flow; returns the session cookie and CSRF token. */
export async function oauthLogin(
  serverUrl: string,
  code: string,
): Promise<{ status: number; cookie?: string; csrf?: string; body: string; location: string }> {
  const start = await fetch(`${serverUrl}/auth/github`, { redirect: 'manual' });
  const authorize = start.headers.get('location') ?? '';
  const state = new URL(authorize).searchParams.get('state') ?? '';
  const stateCookie = (start.headers.get('set-cookie') ?? '').split(';')[0];
  const cb = await fetch(`${serverUrl}/auth/github/callback?code=${code}&state=${state}`, {
    redirect: 'manual',
    headers: { cookie: stateCookie },
  });
  const set = cb.headers.getSetCookie().find((c) => c.startsWith('rh_session='));
  const cookie = set?.split(';')[0];
  let csrf: string | undefined;
  if (cookie) {
    const acct = await fetch(`${serverUrl}/api/account`, { headers: { cookie } });
    csrf = ((await acct.json()) as { csrf: string }).csrf;
  }
  const location = decodeURIComponent(cb.headers.get('location') ?? '');
  return { status: cb.status, cookie, csrf, body: await cb.text(), location };
}

/** Logs a GitHub user in and gives them a personal API token. */
export async function userToken(serverUrl: string, gh: FakeGitHub, user: FakeGitHubUser): Promise<string> {
  const s = await oauthLogin(serverUrl, gh.codeFor(user));
  if (!s.cookie) throw new Error(`login of ${user.login} failed: ${s.status} ${s.body}`);
  const r = await fetch(`${serverUrl}/api/v1.1/user/token`, {
    method: 'POST',
    headers: { cookie: s.cookie, 'x-csrf-token': s.csrf!, 'content-type': 'application/json' },
    body: JSON.stringify({ label: 'tests' }),
  });
  const j = (await r.json()) as { token: string };
  if (r.status !== 201) throw new Error(`token for ${user.login}: ${r.status} ${JSON.stringify(j)}`);
  return j.token;
}
