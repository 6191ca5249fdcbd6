/** Job and workflow statuses exactly as the CircleCI API v2 spells them. */
export const JOB_ACTIVE = ['blocked', 'queued', 'running', 'on_hold'] as const;
export const JOB_FAILED = ['failed', 'infrastructure_fail', 'timedout'] as const;
export const JOB_TERMINAL = [
  'success',
  'failed',
  'infrastructure_fail',
  'timedout',
  'canceled',
  'not_run',
  'unauthorized',
] as const;

export type WorkflowStatus =
  | 'success'
  | 'running'
  | 'not_run'
  | 'failed'
  | 'error'
  | 'failing'
  | 'on_hold'
  | 'canceled'
  | 'unauthorized';

const has = (list: readonly string[], s: string) => list.includes(s);

/** A workflow's status from its jobs' statuses. */
export function workflowStatus(jobStatuses: string[], canceled: boolean): { status: WorkflowStatus; done: boolean } {
  const active = jobStatuses.some((s) => has(JOB_ACTIVE, s));
  const failed = jobStatuses.some((s) => has(JOB_FAILED, s));
  if (canceled) return { status: 'canceled', done: !jobStatuses.some((s) => s === 'running') };
  if (active) {
    if (failed) return { status: 'failing', done: false };
    // Waiting only on approvals (and what comes after them): on hold.
    const moving = jobStatuses.some((s) => s === 'queued' || s === 'running');
    return { status: !moving && jobStatuses.includes('on_hold') ? 'on_hold' : 'running', done: false };
  }
  if (failed) return { status: 'failed', done: true };
  if (jobStatuses.some((s) => s === 'unauthorized')) return { status: 'unauthorized', done: true };
  if (jobStatuses.some((s) => s === 'canceled')) return { status: 'canceled', done: true };
  if (jobStatuses.length > 0 && jobStatuses.every((s) => s === 'not_run')) return { status: 'not_run', done: true };
  return { status: 'success', done: true };
}

/**
 * What a blocked job becomes given its requirements: queued when each ended in a status it allows
 * (by default only success), not_run when one ended otherwise, blocked while one is still going.
 */
export function blockedJobNext(required: { status: string; allowed?: string[] }[]): 'queued' | 'not_run' | 'blocked' {
  const ended = (s: string) => has(JOB_TERMINAL, s);
  const ok = (r: { status: string; allowed?: string[] }) => (r.allowed ?? ['success']).includes(normalise(r.status));
  if (required.some((r) => ended(r.status) && !ok(r))) return 'not_run';
  if (required.every((r) => ended(r.status) && ok(r))) return 'queued';
  return 'blocked';
}

/** Statuses as `requires` names them: every kind of failure counts as failed. */
const normalise = (s: string) => (has(JOB_FAILED, s) ? 'failed' : s);
