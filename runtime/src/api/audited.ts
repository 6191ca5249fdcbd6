import type { FastifyRequest } from 'fastify';
import type { AuditAction, AuditEntity } from '../shared/audit.js';
import { SYSTEM_ACTOR } from '../shared/audit.js';
import type { ApiDeps } from './context.js';

export const actorOf = (req: FastifyRequest): AuditEntity =>
  req.user ? { id: req.user.id, type: 'user', name: req.user.login } : SYSTEM_ACTOR;

/**
 * Runs an audited action and records its event: success=true when it completes, success=false
 * (with the error's message, never a secret) when it throws. The request id links events of one request.
 */
export async function audited<T>(
  deps: ApiDeps,
  req: FastifyRequest,
  ev: {
    action: AuditAction;
    target: AuditEntity;
    scope: AuditEntity;
    payload?: Record<string, unknown>;
  },
  fn: () => Promise<T>,
): Promise<T> {
  const base = { action: ev.action, actor: actorOf(req), target: ev.target, scope: ev.scope, request: { id: req.id } };
  try {
    const out = await fn();
    await deps.audit?.record({ ...base, payload: ev.payload ?? {}, success: true });
    return out;
  } catch (e) {
    await deps.audit?.record({ ...base, payload: { ...ev.payload, error: (e as Error).message }, success: false });
    throw e;
  }
}

export const orgScope = (org: { id: string; name: string }): AuditEntity => ({
  id: org.id,
  type: 'organization',
  name: org.name,
});
