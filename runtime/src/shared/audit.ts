/**
 * The audit log's events, as the CircleCI server operations guide defines them: a fixed list of
 * actions, each event with exactly the fields below. `actor`, `target` and `scope` always carry
 * `id` and `type` (and usually `name`); `metadata` maps strings to strings; `request` carries the
 * id of the external request that caused the event, when there was one.
 */
export const AUDIT_ACTIONS = [
  'context.create',
  'context.delete',
  'context.env_var.delete',
  'context.env_var.store',
  'project.env_var.create',
  'project.env_var.delete',
  'project.settings.update',
  'user.create',
  'user.logged_in',
  'user.logged_out',
  'workflow.job.approve',
  'workflow.job.finish',
  'workflow.job.scheduled',
  'workflow.job.start',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The CSV's columns, in the guide's order. */
export const AUDIT_FIELDS = [
  'action',
  'actor',
  'target',
  'payload',
  'occurred_at',
  'metadata',
  'id',
  'version',
  'scope',
  'success',
  'request',
] as const;

export interface AuditEntity {
  readonly id: string;
  readonly type: string;
  readonly name?: string;
}

export interface AuditEvent {
  readonly action: AuditAction;
  readonly actor: AuditEntity;
  readonly target: AuditEntity;
  readonly payload: Record<string, unknown>;
  readonly occurred_at: string;
  readonly metadata: Record<string, string>;
  readonly id: string;
  readonly version: 1;
  readonly scope: AuditEntity;
  readonly success: boolean;
  readonly request: { readonly id: string } | null;
}

/** What the code paths that do audited actions write to. */
export interface AuditSink {
  record(
    e: Omit<AuditEvent, 'id' | 'version' | 'occurred_at' | 'metadata' | 'request'> & {
      metadata?: Record<string, string>;
      request?: { id: string } | null;
    },
  ): Promise<void>;
}

/** The actor of events the platform causes itself (schedules, webhooks from unknown senders). */
export const SYSTEM_ACTOR: AuditEntity = { id: 'system', type: 'system', name: 'Roundhouse' };
