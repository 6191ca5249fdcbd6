import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RoundhouseError } from '../shared/errors.js';
import type { Store, UserRow } from '../store/store.js';

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

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
  }
}

export function authenticator(store: Store) {
  return async function requireUser(req: FastifyRequest, _reply: FastifyReply) {
    const token = tokenOf(req);
    const user = token ? await store.userByTokenHash(hashToken(token)) : undefined;
    if (!user) throw new RoundhouseError('RH_UNAUTHORIZED');
    req.user = user;
  };
}

export function requireAdmin(req: FastifyRequest) {
  if (!req.user?.is_admin) throw new RoundhouseError('RH_FORBIDDEN');
}
