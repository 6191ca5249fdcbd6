import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { orgRole } from '../identity/service.js';
import { notFound, RoundhouseError } from '../shared/errors.js';
import type { ProjectRow, Store, UserRow } from '../store/store.js';

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export const SESSION_COOKIE = 'rh_session';

/**
 * The API token of a request, the ways CircleCI clients send it: `Circle-Token` header, HTTP basic
 * auth with the token as user name, `Authorization: Bearer`, or the `circle-token` query parameter.
 */
export function tokenOf(req: FastifyRequest): string | undefined {
  const h = req.headers['circle-token'];
  if (typeof h === 'string' && h) return h;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded;
    if (user) return user;
  }
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  const q = (req.query as Record<string, unknown> | undefined)?.['circle-token'];
  return typeof q === 'string' && q ? q : undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserRow;
    /** Set when the request was authenticated by a browser session (not a token). */
    session?: { idHash: string; csrf: string };
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The user of a request, by token or session cookie; undefined when there is none. Suspended users are refused. */
export async function userOf(store: Store, req: FastifyRequest): Promise<UserRow | undefined> {
  const token = tokenOf(req);
  let user: UserRow | undefined;
  if (token) user = await store.identity.userByTokenHash(hashToken(token));
  else {
    const sid = req.cookies?.[SESSION_COOKIE];
    if (sid) {
      const idHash = hashToken(sid);
      const s = await store.identity.session(idHash);
      if (s && s.expires_at > new Date().toISOString()) {
        user = await store.identity.user(s.user_id);
        // Cookies ride along with cross-site requests: changes need the CSRF token the page got.
        if (user && !SAFE.has(req.method) && req.headers['x-csrf-token'] !== s.csrf)
          throw new RoundhouseError('RH_CSRF');
        req.session = { idHash, csrf: s.csrf };
      }
    }
  }
  if (user?.state === 'suspended') throw new RoundhouseError('RH_SUSPENDED');
  return user;
}

/**
 * Requires a user. On routes under a project (`…/:vcs/:org/:repo…`) it also requires membership
 * of the project's organization: to anyone else the project does not exist (404).
 */
export function authenticator(store: Store) {
  return async function requireUser(req: FastifyRequest, _reply: FastifyReply) {
    const user = await userOf(store, req);
    if (!user) throw new RoundhouseError('RH_UNAUTHORIZED');
    req.user = user;
    const org = (req.params as { org?: unknown } | undefined)?.org;
    if (typeof org === 'string') await requireOrgMember(store, req, org);
  };
}

export function requireAdmin(req: FastifyRequest) {
  if (!req.user?.is_admin) throw new RoundhouseError('RH_FORBIDDEN');
}

/** Projects are visible to admins and to members of the project's GitHub organization; to others they do not exist. */
export async function requireOrgMember(store: Store, req: FastifyRequest, org: string) {
  if (!req.user || !(await orgRole(store, req.user, org))) throw notFound('Project');
}

export async function requireProjectAccess(store: Store, req: FastifyRequest, project: ProjectRow) {
  await requireOrgMember(store, req, project.org);
}
