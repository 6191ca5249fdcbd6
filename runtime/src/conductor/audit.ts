import { randomUUID } from 'node:crypto';
import type { AuditAction, AuditEntity, AuditSink } from '../shared/audit.js';
import type { Store } from '../store/store.js';

/** The audit entity of a login: a known user, the scheduler, or a name we only know from GitHub. */
export async function actorEntity(store: Store, login: string): Promise<AuditEntity> {
  if (login === 'scheduler') return { id: 'scheduler', type: 'system', name: 'scheduler' };
  const u = await store.identity.userByLogin(login);
  return u ? { id: u.id, type: 'user', name: u.login } : { id: login, type: 'user', name: login };
}

/** Records a `workflow.job.*` event for a job (after the transition committed). */
export async function auditJob(
  store: Store,
  sink: AuditSink | undefined,
  action: Extract<AuditAction, `workflow.job.${string}`>,
  jobId: string,
  opts: { actor?: string; success?: boolean; payload?: Record<string, unknown> } = {},
): Promise<void> {
  if (!sink) return;
  // Auditing never breaks the transition it records (the store may be closing, for one).
  try {
    await recordJob(store, sink, action, jobId, opts);
  } catch {
    /* the audit log's own writer reports its errors */
  }
}

async function recordJob(
  store: Store,
  sink: AuditSink,
  action: AuditAction,
  jobId: string,
  opts: { actor?: string; success?: boolean; payload?: Record<string, unknown> },
): Promise<void> {
  const job = await store.job(jobId);
  if (!job) return;
  const [wf, pipeline, project] = await Promise.all([
    store.workflow(job.workflow_id),
    store.pipeline(job.pipeline_id),
    store.projectById(job.project_id),
  ]);
  if (!wf || !pipeline || !project) return;
  const org = await store.identity.ensureOrg(project.vcs_type, project.org, randomUUID());
  await sink.record({
    action,
    actor: await actorEntity(store, opts.actor ?? pipeline.actor_login),
    target: { id: job.id, type: 'job', name: job.name },
    scope: { id: org.id, type: 'organization', name: org.name },
    payload: {
      job_name: job.name,
      job_number: job.number === null ? null : Number(job.number),
      job_status: job.status,
      workflow: { id: wf.id, name: wf.name },
      pipeline: { id: pipeline.id, number: Number(pipeline.number) },
      project: { id: project.id, slug: project.slug },
      ...opts.payload,
    },
    success: opts.success ?? true,
  });
}
