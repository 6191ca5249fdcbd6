import { createHmac, timingSafeEqual } from 'node:crypto';
import { auditJob } from '../conductor/audit.js';
import type { StoredJobSpec } from '../conductor/conductor.js';
import type { AuditSink } from '../shared/audit.js';
import type { ClaimedJob } from '../protocol/executor.js';
import { isHttpUrl, isSshUrl } from '../shared/urls.js';
import type { Bus } from '../shared/bus.js';
import type { JobRow, Store } from '../store/store.js';

export const LEASE_SECONDS = 60;
/** Also how soon an executor running a silent step learns that its job was canceled. */
export const HEARTBEAT_SECONDS = 3;

/**
 * Places ready jobs on executors: executors long-poll `claim`, which hands out the oldest queued
 * job atomically (row-level locking in the store), or waits for the conductor to queue one.
 */
export class Dispatcher {
  readonly #waiters = new Set<() => void>();
  /** Where workflow.job.start events go (set by the composition root). */
  audit?: AuditSink;

  constructor(
    readonly store: Store,
    readonly bus: Bus,
    readonly secret: string,
    public publicUrl: string,
    /**
     * A job's secret variables (decrypted): the project's, then each of its contexts in order (later
     * ones win); none for a forked pull request unless the project allows it. Absent = none.
     */
    readonly projectEnv: (
      projectId: string,
      contexts: readonly string[],
      fromFork: boolean,
    ) => Promise<Record<string, string>> = async () => ({}),
  ) {
    bus.on('job.queued', () => {
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const w of waiters) w();
    });
  }

  /** The project's additional SSH keys (decrypted), for jobs with add_ssh_keys. */
  sshKeys: (projectId: string) => Promise<NonNullable<ClaimedJob['ssh_keys']>> = async () => [];
  /** The project's preferred checkout key (private, decrypted), given to jobs that check out over SSH. */
  checkoutKey: (projectId: string) => Promise<string | undefined> = async () => undefined;
  /** The project's checkout token (decrypted), given to jobs that check out over HTTPS. */
  checkoutToken: (projectId: string) => Promise<string | undefined> = async () => undefined;

  jobToken(jobId: string, attempt: number): string {
    return createHmac('sha256', this.secret).update(`job:${jobId}:${attempt}`).digest('hex');
  }

  verifyJobToken(job: JobRow, token: string): boolean {
    const want = Buffer.from(this.jobToken(job.id, job.attempt));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  async claim(executorId: string, waitMs: number, signal?: AbortSignal): Promise<ClaimedJob | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const row = await this.store.claimJob(executorId, new Date(Date.now() + LEASE_SECONDS * 1000).toISOString());
      if (row) {
        const claimed = await this.#describe(row);
        void auditJob(this.store, this.audit, 'workflow.job.start', row.id);
        return claimed;
      }
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.#waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.#waiters.add(done);
        signal?.addEventListener('abort', done);
      });
    }
  }

  async #describe(job: JobRow): Promise<ClaimedJob> {
    const [pipeline, project, workflow] = await Promise.all([
      this.store.pipeline(job.pipeline_id),
      this.store.projectById(job.project_id),
      this.store.workflow(job.workflow_id),
    ]);
    if (!pipeline || !project || !workflow) throw new Error(`job ${job.id} lost its pipeline`);
    const spec = JSON.parse(job.spec) as StoredJobSpec;
    return {
      id: job.id,
      token: this.jobToken(job.id, job.attempt),
      number: Number(job.number),
      name: job.name,
      attempt: job.attempt,
      web_url: `${this.publicUrl}/pipelines/${project.slug}/${pipeline.number}/workflows/${workflow.id}/jobs/${job.number}`,
      project: { slug: project.slug, org: project.org, repo: project.name, repo_url: project.repo_url },
      pipeline: {
        id: pipeline.id,
        number: pipeline.number,
        branch: pipeline.branch ?? undefined,
        tag: pipeline.tag ?? undefined,
        revision: pipeline.revision ?? '',
        actor: pipeline.actor_login,
      },
      workflow: { id: workflow.id, name: workflow.name },
      // Only build jobs are ever queued, and they always have a plan.
      plan: spec.plan!,
      environment: {
        ...(await this.projectEnv(project.id, spec.contexts ?? [], Number(pipeline.from_fork ?? 0) === 1)),
        ...(spec.continuation ? { CIRCLE_CONTINUATION_KEY: spec.continuation } : {}),
      },
      ...(spec.plan!.steps.some((s) => s.type === 'add_ssh_keys') ? { ssh_keys: await this.sshKeys(project.id) } : {}),
      ...(await this.#checkoutKeyFor(project.id, project.repo_url, spec)),
      heartbeat_seconds: HEARTBEAT_SECONDS,
    };
  }

  async #checkoutKeyFor(projectId: string, url: string, spec: StoredJobSpec) {
    if (!spec.plan!.steps.some((s) => s.type === 'checkout')) return {};
    if (isHttpUrl(url)) {
      const token = await this.checkoutToken(projectId);
      return token ? { checkout_token: token } : {};
    }
    if (!isSshUrl(url)) return {};
    const key = await this.checkoutKey(projectId);
    return key ? { checkout_key: key } : {};
  }

  /** Extends a running job's lease; false when the job is no longer running on this executor. */
  async heartbeat(job: JobRow): Promise<boolean> {
    return this.store.updateJob(job.id, { lease_until: new Date(Date.now() + LEASE_SECONDS * 1000).toISOString() }, [
      'running',
    ]);
  }
}
