/**
 * The executor protocol: the only way an executor (local pool or Nomad client) talks to the
 * platform. Plain HTTP + JSON under /api/internal/executor.
 *
 *   POST /claim                       Authorization: Bearer <executor token>
 *        {executor_id, wait_seconds} → 200 ClaimedJob | 204 (nothing to do within wait_seconds)
 *   POST /jobs/{id}/events            Authorization: Bearer <job token>
 *        {events: JobEvent[]}        → 200 {cancel: boolean}
 *   POST /jobs/{id}/finish            Authorization: Bearer <job token>
 *        {status, events?}           → 200 {cancel: boolean}   (the last events ride along)
 *
 * A job the platform no longer considers running (canceled, requeued) answers 409 {cancel: true}:
 * the executor stops its processes and drops the job. Events are idempotent (steps by index,
 * output by (step, seq)), so a retried request does no harm.
 */
import type { JobPlan } from '../config/types.js';

export const EXECUTOR_API = '/api/internal/executor';

/**
 * Blob downloads (caches, workspace layers) by an executor on the server's own machine: with the
 * request header `X-Roundhouse-Local-Copy: 1` over loopback, a folder object store answers with this
 * content type and `{path}`, and the executor copies the file instead of streaming it.
 */
export const LOCAL_COPY_TYPE = 'application/vnd.roundhouse.local-copy+json';

export interface ClaimedJob {
  readonly id: string;
  /** Bearer token for this job's events; valid while the job runs. */
  readonly token: string;
  readonly number: number;
  readonly name: string;
  readonly attempt: number;
  readonly web_url: string;
  readonly project: { slug: string; org: string; repo: string; repo_url: string };
  readonly pipeline: { id: string; number: number; branch?: string; tag?: string; revision: string; actor: string };
  readonly workflow: { id: string; name: string };
  readonly plan: JobPlan;
  /** Variables from project settings and contexts (lower precedence than the job's). */
  readonly environment: Record<string, string>;
  /** The project's checkout (deploy) key, private, for repositories reached over SSH (a secret). */
  readonly checkout_key?: string;
  /** The project's checkout token, for repositories reached over HTTPS (a secret). */
  readonly checkout_token?: string;
  /** The project's additional SSH keys, for `add_ssh_keys` (secrets: masked in output). */
  readonly ssh_keys?: { readonly fingerprint: string; readonly hostname: string; readonly private_key: string }[];
  /** Test timings from the job's last successful run, for `circleci tests split --split-by=timings`. */
  readonly timings?: {
    filename: Record<string, number>;
    classname: Record<string, number>;
    testname: Record<string, number>;
  };
  /** Heartbeat interval the executor must keep while the job runs. */
  readonly heartbeat_seconds: number;
}

export type StepStatus = 'running' | 'success' | 'failed' | 'canceled' | 'timedout';

/**
 * Step events name their parallel node (`node`, CIRCLE_NODE_INDEX; absent means 0): a job with
 * `parallelism: N` runs its steps N times, once per node, each in its own sandbox.
 */
export type JobEvent =
  | { kind: 'step.start'; node?: number; idx: number; name: string; type: string; bash_command?: string; ts: string }
  | { kind: 'output'; node?: number; idx: number; seq: number; stream: 'out' | 'err'; data: string; ts: string }
  | { kind: 'step.end'; node?: number; idx: number; status: StepStatus; exit_code: number | null; ts: string }
  | { kind: 'heartbeat'; ts: string };

export type JobOutcome = 'success' | 'failed' | 'infrastructure_fail' | 'timedout';
