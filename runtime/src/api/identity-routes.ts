import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hashSecret, type Identity, userEntity } from '../identity/service.js';
import { badRequest, notFound, RoundhouseError } from '../shared/errors.js';
import { authenticator, hashToken, SESSION_COOKIE, userOf } from './auth.js';
import type { ApiDeps } from './context.js';

const STATE_COOKIE = 'rh_oauth_state';

/**
 * Logging in and out (GitHub / GitHub Enterprise OAuth; in embedded mode also an API token, e.g.
 * the bootstrap admin's), the account's permissions, and personal API tokens.
 */
export async function identityRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  const identity = () => {
    if (!deps.identity) throw new RoundhouseError('RH_INTERNAL');
    return deps.identity;
  };
  const secure = () => deps.publicUrl.startsWith('https:');
  const cookieOpts = (maxAge: number) => ({
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: secure(),
    maxAge,
  });
  const startSession = async (
    req: FastifyRequest,
    reply: FastifyReply,
    user: { id: string; login: string },
    provider: string,
  ) => {
    const s = await identity().createSession(user.id);
    reply.setCookie(SESSION_COOKIE, s.id, cookieOpts(12 * 3600));
    await deps.audit?.record({
      action: 'user.logged_in',
      actor: userEntity(user),
      target: userEntity(user),
      scope: userEntity(user),
      payload: { login: user.login, provider },
      success: true,
      request: { id: req.id },
    });
    return s;
  };

  // What the login page offers.
  app.get('/auth/providers', async () => ({ github: !!deps.identity?.github, token: true }));

  app.get('/auth/github', async (_req, reply) => {
    if (!identity().github) throw notFound('GitHub login (not configured on this server)');
    const state = randomBytes(16).toString('hex');
    reply.setCookie(STATE_COOKIE, state, cookieOpts(600));
    return reply.redirect(identity().github!.authorizeUrl(state, `${deps.publicUrl}/auth/github/callback`));
  });

  app.get<{ Querystring: { code?: string; state?: string } }>('/auth/github/callback', async (req, reply) => {
    const { code, state } = req.query;
    if (!code || !state) throw badRequest('The callback needs `code` and `state` (start at /auth/github).');
    if (req.cookies[STATE_COOKIE] !== state)
      throw badRequest('Login state does not match: start again at /auth/github.');
    reply.clearCookie(STATE_COOKIE, { path: '/' });
    let user: Awaited<ReturnType<Identity['loginWithGitHub']>>;
    try {
      user = await identity().loginWithGitHub(code, `${deps.publicUrl}/auth/github/callback`, { id: req.id });
    } catch (e) {
      // A refused login goes back to the login page, which says why.
      if (e instanceof RoundhouseError && e.statusCode < 500)
        return reply.code(302).redirect(`/?login_error=${encodeURIComponent(e.message)}`);
      throw e;
    }
    await startSession(req, reply, user, 'github');
    return reply.redirect('/');
  });

  // Embedded mode (and scripts): log in with an API token; the browser then uses a session cookie.
  app.post<{ Body: { token: string } }>(
    '/auth/token-login',
    {
      schema: {
        body: {
          type: 'object',
          properties: { token: { type: 'string', minLength: 1, maxLength: 200 } },
          required: ['token'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const user = await store.identity.userByTokenHash(hashToken(req.body.token));
      if (!user) throw new RoundhouseError('RH_UNAUTHORIZED');
      if (user.state === 'suspended') throw new RoundhouseError('RH_SUSPENDED');
      if (user.state === 'inactive') await store.identity.updateUser(user.id, { state: 'active' });
      await store.identity.updateUser(user.id, { last_login_at: new Date().toISOString() });
      const s = await startSession(req, reply, user, 'token');
      return { login: user.login, csrf: s.csrf };
    },
  );

  app.post('/auth/logout', async (req, reply) => {
    const user = await userOf(store, req);
    if (!user) throw new RoundhouseError('RH_UNAUTHORIZED');
    if (req.session) await store.identity.deleteSession(req.session.idHash);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    await deps.audit?.record({
      action: 'user.logged_out',
      actor: userEntity(user),
      target: userEntity(user),
      scope: userEntity(user),
      payload: { login: user.login },
      success: true,
      request: { id: req.id },
    });
    return { message: 'Logged out.' };
  });

  await app.register(
    async (a) => {
      a.addHook('preHandler', authenticator(store));
      a.get('/account', async (req) => {
        const u = (await store.identity.user(req.user!.id))!;
        return {
          id: u.id,
          login: u.login,
          name: u.name,
          admin: !!Number(u.is_admin),
          state: u.state,
          organizations: await store.identity.orgsOf(u.id),
          teams: await store.identity.teamsOf(u.id),
          permissions_refreshed_at: u.permissions_at,
          csrf: req.session?.csrf ?? null,
        };
      });
      a.post('/account/refresh-permissions', async (req) => {
        const m = await identity().refreshPermissions(req.user!.id);
        return { organizations: m.orgs, teams: m.teams };
      });
    },
    { prefix: '/api' },
  );

  // Personal API tokens (CircleCI's v1.1 routes): shown once at creation, stored as hashes.
  await app.register(
    async (a) => {
      a.addHook('preHandler', authenticator(store));
      a.get('/user/token', async (req) =>
        (await store.identity.tokensOf(req.user!.id)).map((t) => ({
          id: t.id ?? hashSecret(t.token_hash).slice(0, 16),
          label: t.label,
          time: t.created_at,
        })),
      );
      a.post<{ Body: { label: string } }>(
        '/user/token',
        {
          schema: {
            body: {
              type: 'object',
              properties: { label: { type: 'string', minLength: 1, maxLength: 200 } },
              required: ['label'],
              additionalProperties: false,
            },
          },
        },
        async (req, reply) => {
          const t = await identity().createToken(req.user!.id, req.body.label);
          reply.code(201);
          return { id: t.id, label: t.label, token: t.token, time: t.created_at };
        },
      );
      a.delete<{ Params: { id: string } }>('/user/token/:id', async (req) => {
        if (!(await store.identity.deleteToken(req.user!.id, req.params.id))) throw notFound('Token');
        return { message: 'Token revoked.' };
      });
    },
    { prefix: '/api/v1.1' },
  );
}
