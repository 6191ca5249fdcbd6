import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { compileConfig } from '../config/compile.js';
import { cronMatches, parseCron } from '../config/cron.js';
import { filterAllows, isRegexFilter } from '../config/filters.js';
import type { JobPlan, OrbSource, Plan } from '../config/types.js';
import { formatConfigError } from '../config/types.js';
import type { AuditSink } from '../shared/audit.js';
import type { Bus } from '../shared/bus.js';
import { badRequest, RoundhouseError } from '../shared/errors.js';
import { type JobRow, now, type PipelineRow, type ProjectRow, type Store } from '../store/store.js';
import { Repository } from '../vcs/git.js';
import { auditJob } from './audit.js';
import { blockedJobNext, JOB_ACTIVE, JOB_TERMINAL, workflowStatus } from './status.js';

export const CONFIG_PATH = '.circleci/config.yml';

export interface TriggerRequest {
  readonly branch?: string;
  readonly tag?: string;
  readonly parameters?: Record<string, unknown>;
  readonly actor: string;
  readonly triggerType: 'api' | 'webhook' | 'explicit';
  /** Set for pipelines started by a workflow's schedule: only these workflows run. */
  readonly scheduledWorkflows?: string[];
  /** A pull request from a fork: its jobs get no project or context secrets unless the project allows it. */
  readonly fromFork?: boolean;
}

/**
 * Decides, as a job is about to be queued, whether its contexts may be used by `actor` (the user
 * who started the workflow, or who approved the approval job upstream of it). Returns why not:
 * status `unauthorized` (restricted context) or `failed` (unknown context).
 */
export type ContextGate = (
  s: Store,
  job: JobRow,
  contexts: string[],
  actor: string,
) => Promise<{ status: 'unauthorized' | 'failed'; message: string } | undefined>;

/** Job spec kept on the job row: what the executor needs beyond the pipeline's facts. */
export interface StoredJobSpec {
  /** Absent for approval jobs, which run nothing. */
  readonly plan?: JobPlan;
  /** Name of the job definition (CIRCLE_JOB is the workflow name of the job). */
  readonly definition: string;
  readonly contexts: string[];
  /** Flexible requires: the statuses each required job (by id) may end in; default success. */
  readonly requireStatuses?: Record<string, string[]>;
  /** In a setup workflow: the key its jobs continue the pipeline with (CIRCLE_CONTINUATION_KEY). */
  readonly continuation?: string;
}

/**
 * The pipelines and workflows state machine: compiles config, creates workflows and jobs, and
 * advances each workflow's DAG as jobs finish. Every transition runs in one store transaction.
 */
export class Conductor {
  readonly #repos = new Map<string, Repository>();
  /** Where workflow.job.* audit events go (set by the composition root). */
  audit?: AuditSink;
  /** Checks restricted contexts before a job is queued; none = contexts are not checked. */
  contextGate?: ContextGate;
  constructor(
    readonly store: Store,
    readonly bus: Bus,
    readonly dataDir: string,
    /** Where `orbs:` references resolve (the orb registry); none = configs with registry orbs fail to compile. */
    readonly orbs?: OrbSource,
  ) {}

  /** The project's preferred checkout key (private, decrypted), for SSH repository URLs. */
  checkoutKey: (projectId: string) => Promise<string | undefined> = async () => undefined;
  /** The project's checkout token (decrypted), for HTTPS repository URLs. */
  checkoutToken: (projectId: string) => Promise<string | undefined> = async () => undefined;

  repository(project: ProjectRow): Repository {
    let r = this.#repos.get(project.id);
    if (!r || r.url !== project.repo_url) {
      r = new Repository(
        project.repo_url,
        join(this.dataDir, 'repos', `${project.id}.git`),
        () => this.checkoutKey(project.id),
        () => this.checkoutToken(project.id),
      );
      this.#repos.set(project.id, r);
    }
    return r;
  }

  async triggerPipeline(project: ProjectRow, req: TriggerRequest): Promise<PipelineRow> {
    if (req.branch !== undefined && req.tag !== undefined) throw badRequest('Give either `branch` or `tag`, not both.');
    const branch = req.tag === undefined ? (req.branch ?? project.default_branch) : undefined;
    const repo = this.repository(project);
    const rev = await repo.resolve({ branch, tag: req.tag });
    const source = (await repo.readFile(rev.revision, CONFIG_PATH)) ?? '';
    const errors: { type: 'config' | 'plan'; message: string }[] = [];
    let plan: Plan | undefined;
    let compiled = '';
    if (!source) {
      errors.push({
        type: 'config',
        message: `No configuration was found in ${CONFIG_PATH} at ${rev.revision.slice(0, 7)}.`,
      });
    } else {
      const result = await this.#compile(source, project, {
        branch,
        tag: req.tag,
        revision: rev.revision,
        triggerSource: req.scheduledWorkflows ? 'scheduled_pipeline' : req.triggerType,
        parameters: req.parameters,
        scheduledWorkflows: req.scheduledWorkflows,
      });
      if (result.ok) {
        plan = result.plan;
        compiled = result.compiled;
      } else for (const e of result.errors) errors.push({ type: 'config', message: formatConfigError(e) });
    }
    // A setup config runs its setup workflow, which continues the pipeline with the real config.
    const continuation = plan?.setup ? randomBytes(24).toString('hex') : undefined;
    const queued: string[] = [];
    const pipeline = await this.store.tx(async (s) => {
      const number = await s.nextCounter(project.id, 'pipeline_counter');
      const ts = now();
      const row: PipelineRow = {
        id: randomUUID(),
        project_id: project.id,
        number,
        state: errors.length ? 'errored' : 'created',
        trigger_type: req.triggerType,
        actor_login: req.actor,
        branch: branch ?? null,
        tag: req.tag ?? null,
        revision: rev.revision,
        commit_subject: rev.subject,
        commit_body: rev.body,
        parameters: JSON.stringify(req.parameters ?? {}),
        config_source: source,
        config_compiled: compiled,
        errors: JSON.stringify(errors),
        created_at: ts,
        updated_at: ts,
        continuation: continuation ? createHash('sha256').update(continuation).digest('hex') : null,
        from_fork: req.fromFork ? 1 : 0,
      };
      await s.insert('pipelines', { ...row });
      if (plan) await this.#createWorkflows(s, row, plan, req.actor, ts, queued, continuation);
      return row;
    });
    this.#announce(queued, pipeline.id);
    return pipeline;
  }

  #compile(
    source: string,
    project: ProjectRow,
    p: {
      branch?: string;
      tag?: string;
      revision: string;
      triggerSource: string;
      parameters?: Record<string, unknown>;
      scheduledWorkflows?: string[];
    },
    file = CONFIG_PATH,
  ) {
    return compileConfig(
      source,
      {
        branch: p.branch,
        tag: p.tag,
        orbs: this.orbs,
        scheduledWorkflows: p.scheduledWorkflows,
        pipeline: {
          revision: p.revision,
          gitUrl: project.repo_url,
          projectType: project.vcs_type === 'bb' ? 'bitbucket' : 'github',
          triggerSource: p.triggerSource,
          parameters: p.parameters,
        },
      },
      file,
    );
  }

  /** Creates a plan's workflows and jobs in a pipeline and queues what can run. */
  async #createWorkflows(
    s: Store,
    pipeline: PipelineRow,
    plan: Plan,
    actor: string,
    ts: string,
    queued: string[],
    continuation?: string,
  ) {
    for (const wf of plan.workflows) {
      const workflowId = randomUUID();
      await s.insert('workflows', {
        ...newWorkflowRow(workflowId, pipeline.id, pipeline.project_id, wf.name, actor, null, ts),
        tag: plan.setup ? 'setup' : null,
      });
      const ids = new Map(wf.jobs.map((j) => [j.name, randomUUID()]));
      for (const j of wf.jobs) {
        const spec: StoredJobSpec = {
          plan: plan.jobs[j.job],
          definition: j.job,
          contexts: j.context,
          ...(continuation ? { continuation } : {}),
          ...(j.requireStatuses
            ? {
                requireStatuses: Object.fromEntries(
                  Object.entries(j.requireStatuses).map(([n, st]) => [ids.get(n)!, st]),
                ),
              }
            : {}),
        };
        await s.insert(
          'jobs',
          newJobRow({
            id: ids.get(j.name)!,
            workflow_id: workflowId,
            pipeline_id: pipeline.id,
            project_id: pipeline.project_id,
            name: j.name,
            type: j.type,
            requires: JSON.stringify(j.requires.map((r) => ids.get(r))),
            spec: JSON.stringify(spec),
            parallelism: spec.plan?.parallelism ?? 1,
            created_at: ts,
          }),
        );
      }
      await this.#advance(s, workflowId, queued);
    }
  }

  /**
   * `POST /api/v2/pipeline/continue`: the setup workflow hands over the real configuration (once).
   * The continuation key is the credential; the new workflows join the same pipeline.
   */
  async continuePipeline(
    key: string,
    configuration: string,
    parameters: Record<string, unknown> | undefined,
  ): Promise<PipelineRow> {
    const hash = createHash('sha256').update(key).digest('hex');
    const pipeline = await this.store.pipelineByContinuation(hash);
    if (!pipeline) throw new RoundhouseError('RH_NOT_FOUND', 'Continuation key');
    const project = await this.store.projectById(pipeline.project_id);
    if (!project) throw new RoundhouseError('RH_NOT_FOUND', 'Project');
    const result = await this.#compile(
      configuration,
      project,
      {
        branch: pipeline.branch ?? undefined,
        tag: pipeline.tag ?? undefined,
        revision: pipeline.revision ?? '',
        triggerSource: 'api',
        parameters,
      },
      'continued config',
    );
    if (result.ok && result.plan.setup)
      throw badRequest('A continued configuration cannot itself be a setup configuration.');
    const queued: string[] = [];
    const updated = await this.store.tx(async (s) => {
      // The key works once: taking it is the lock.
      const took = await s.takeContinuation(pipeline.id, hash);
      if (!took) throw new RoundhouseError('RH_CONFLICT', 'This pipeline has already been continued.');
      const ts = now();
      if (!result.ok) {
        const errors = [
          ...JSON.parse(pipeline.errors),
          ...result.errors.map((e) => ({ type: 'config', message: formatConfigError(e) })),
        ];
        await s.updatePipeline(pipeline.id, { state: 'errored', errors: JSON.stringify(errors), updated_at: ts });
        return { ...pipeline, state: 'errored' };
      }
      await s.updatePipeline(pipeline.id, {
        config_source: configuration,
        config_compiled: result.compiled,
        updated_at: ts,
      });
      await this.#createWorkflows(s, pipeline, result.plan, pipeline.actor_login, ts, queued);
      return pipeline;
    });
    this.#announce(queued, pipeline.id);
    if (!result.ok)
      throw badRequest(`The continued configuration is invalid: ${result.errors.map(formatConfigError).join('; ')}`);
    return updated;
  }

  /**
   * Starts the pipelines whose workflow schedules fire at `at` (minute precision, UTC): for each
   * project, the schedules of the config on its default branch; each fires on the branches its
   * filter names (plain names), else on the default branch. Returns the pipelines started.
   */
  async runSchedules(at: Date): Promise<PipelineRow[]> {
    const minute = Math.floor(at.getTime() / 60000);
    const started: PipelineRow[] = [];
    for (const project of await this.store.listProjects()) {
      try {
        const repo = this.repository(project);
        const rev = await repo.resolve({ branch: project.default_branch });
        const source = await repo.readFile(rev.revision, CONFIG_PATH);
        if (!source) continue;
        const r = await this.#compile(source, project, {
          branch: project.default_branch,
          revision: rev.revision,
          triggerSource: 'scheduled_pipeline',
        });
        if (!r.ok) continue;
        const due = new Map<string, string[]>();
        for (const sch of r.plan.schedules ?? []) {
          const cron = parseCron(sch.cron);
          if (typeof cron === 'string' || !cronMatches(cron, at)) continue;
          const branches = sch.branches?.only?.filter((b) => !isRegexFilter(b)) ?? [project.default_branch];
          for (const b of branches)
            if (filterAllows(sch.branches, b)) due.set(b, [...(due.get(b) ?? []), sch.workflow]);
        }
        for (const [branch, workflows] of due) {
          const key = `${project.id}:${branch}:${workflows.join(',')}`;
          if (this.#fired.get(key) === minute) continue;
          this.#fired.set(key, minute);
          started.push(
            await this.triggerPipeline(project, {
              branch,
              actor: 'scheduler',
              triggerType: 'api',
              scheduledWorkflows: workflows,
            }),
          );
        }
      } catch {
        // A project whose repository cannot be read now is tried again at the next minute.
      }
    }
    return started;
  }
  readonly #fired = new Map<string, number>();

  /** Moves blocked jobs on, assigns numbers to newly queued ones, and recomputes the workflow status. */
  async #advance(s: Store, workflowId: string, queued: string[]): Promise<void> {
    const wf = await s.workflow(workflowId);
    if (!wf) return;
    const jobs = await s.jobsOfWorkflow(workflowId);
    const byId = new Map(jobs.map((j) => [j.id, j]));
    let changed = true;
    while (changed) {
      changed = false;
      for (const j of byId.values()) {
        if (j.status !== 'blocked') continue;
        const next = wf.canceled_by
          ? 'not_run'
          : blockedJobNext(
              JSON.parse(j.requires).map((id: string) => ({
                status: byId.get(id)?.status ?? 'not_run',
                allowed: (JSON.parse(j.spec) as StoredJobSpec).requireStatuses?.[id],
              })),
            );
        if (next === 'blocked') continue;
        const contexts = (JSON.parse(j.spec) as StoredJobSpec).contexts ?? [];
        const refused =
          next === 'queued' && j.type !== 'approval' && contexts.length && this.contextGate
            ? await this.contextGate(s, j, contexts, actorOf(j, byId, wf.started_by))
            : undefined;
        const fields: Partial<JobRow> = refused
          ? {
              status: refused.status,
              stopped_at: now(),
              messages: JSON.stringify([
                ...JSON.parse(j.messages),
                { type: 'error', message: refused.message, reason: refused.status },
              ]),
            }
          : next !== 'queued'
            ? { status: 'not_run', stopped_at: null }
            : j.type === 'approval'
              ? { status: 'on_hold', started_at: now() }
              : { status: 'queued', number: await s.nextCounter(wf.project_id, 'job_counter'), queued_at: now() };
        await s.updateJob(j.id, fields);
        byId.set(j.id, { ...j, ...fields });
        if (next === 'queued' && j.type !== 'approval' && !refused) queued.push(j.id);
        changed = true;
      }
    }
    const { status, done } = workflowStatus(
      [...byId.values()].map((j) => j.status),
      !!wf.canceled_by,
    );
    if (status !== wf.status || (done && !wf.stopped_at)) {
      await s.updateWorkflow(workflowId, { status, stopped_at: done ? (wf.stopped_at ?? now()) : null });
    }
  }

  /** Tells the other roles, after the transaction committed, what changed and which jobs became claimable. */
  #announce(queued: string[], pipelineId: string, workflowId?: string, jobId?: string) {
    for (const id of queued) this.bus.emit('job.queued', { jobId: id });
    for (const id of queued) void auditJob(this.store, this.audit, 'workflow.job.scheduled', id);
    this.bus.emit('changed', { pipelineId, workflowId, jobId });
  }

  /** Records a job's end (from its executor) and advances its workflow. */
  async finishJob(
    jobId: string,
    status: 'success' | 'failed' | 'infrastructure_fail' | 'timedout',
    executorId: string,
  ): Promise<boolean> {
    const queued: string[] = [];
    const job = await this.store.tx(async (s) => {
      const j = await s.job(jobId);
      if (!j || j.claimed_by !== executorId) return undefined;
      await s.lockWorkflow(j.workflow_id);
      const ok = await s.updateJob(jobId, { status, stopped_at: now(), lease_until: null }, ['running']);
      if (!ok) return undefined;
      await this.#advance(s, j.workflow_id, queued);
      return j;
    });
    if (job) {
      this.#announce(queued, job.pipeline_id, job.workflow_id, job.id);
      await auditJob(this.store, this.audit, 'workflow.job.finish', job.id, {
        success: status === 'success',
        payload: { job_status: status },
      });
    }
    return !!job;
  }

  async cancelJob(job: JobRow, actor: string): Promise<void> {
    if (!(JOB_ACTIVE as readonly string[]).includes(job.status)) {
      throw new RoundhouseError(
        'RH_CONFLICT',
        `Job ${job.number ?? job.id} is ${job.status}; only queued or running jobs can be canceled.`,
      );
    }
    const queued: string[] = [];
    await this.store.tx(async (s) => {
      await s.lockWorkflow(job.workflow_id);
      await s.updateJob(
        job.id,
        { status: 'canceled', canceled_by: actor, cancel_requested: 1, stopped_at: now(), lease_until: null },
        [...JOB_ACTIVE],
      );
      await this.#advance(s, job.workflow_id, queued);
    });
    this.#announce(queued, job.pipeline_id, job.workflow_id, job.id);
    // A job that had started finishes here: canceled.
    if (job.status === 'running')
      await auditJob(this.store, this.audit, 'workflow.job.finish', job.id, {
        success: false,
        payload: { job_status: 'canceled' },
      });
  }

  /** Cancels a workflow that is still going; a finished workflow keeps its status. */
  async cancelWorkflow(workflowId: string, actor: string): Promise<void> {
    const wf = await this.store.workflow(workflowId);
    if (!wf || wf.stopped_at) return;
    const queued: string[] = [];
    const started: string[] = [];
    await this.store.tx(async (s) => {
      await s.lockWorkflow(workflowId);
      await s.updateWorkflow(workflowId, { canceled_by: actor });
      for (const j of await s.jobsOfWorkflow(workflowId)) {
        if (j.status === 'running') started.push(j.id);
        if (j.status === 'running' || j.status === 'queued' || j.status === 'on_hold') {
          await s.updateJob(
            j.id,
            { status: 'canceled', canceled_by: actor, cancel_requested: 1, stopped_at: now(), lease_until: null },
            ['running', 'queued', 'on_hold'],
          );
        }
      }
      await this.#advance(s, workflowId, queued);
    });
    this.#announce(queued, wf.pipeline_id, workflowId);
    for (const id of started)
      await auditJob(this.store, this.audit, 'workflow.job.finish', id, {
        success: false,
        payload: { job_status: 'canceled' },
      });
  }

  /** Approves a job on hold (an approval job): it succeeds, and what required it moves on. */
  async approve(workflowId: string, jobId: string, actor: string): Promise<void> {
    const job = await this.store.job(jobId);
    if (!job || job.workflow_id !== workflowId || job.type !== 'approval')
      throw new RoundhouseError('RH_NOT_FOUND', 'Approval request');
    if (job.status !== 'on_hold') {
      await auditJob(this.store, this.audit, 'workflow.job.approve', job.id, {
        actor,
        success: false,
        payload: { error: `not on hold (${job.status})` },
      });
      throw new RoundhouseError('RH_CONFLICT', `Job ${job.name} is ${job.status}, not on hold.`);
    }
    const queued: string[] = [];
    await this.store.tx(async (s) => {
      await s.lockWorkflow(workflowId);
      const messages = [
        ...JSON.parse(job.messages),
        { type: 'info', message: `Approved by ${actor}.`, reason: 'approved' },
      ];
      await s.updateJob(
        jobId,
        {
          status: 'success',
          stopped_at: now(),
          canceled_by: null,
          messages: JSON.stringify(messages),
          claimed_by: `approved:${actor}`,
        },
        ['on_hold'],
      );
      await this.#advance(s, workflowId, queued);
    });
    await auditJob(this.store, this.audit, 'workflow.job.approve', jobId, { actor });
    this.#announce(queued, job.pipeline_id, workflowId, jobId);
  }

  /**
   * Reruns a workflow as a new workflow of the same pipeline. With from_failed (or a list of jobs),
   * jobs that succeeded and are not downstream of a rerun job are carried over as they were.
   */
  async rerunWorkflow(
    workflowId: string,
    opts: { fromFailed?: boolean; jobs?: string[] },
    actor: string,
  ): Promise<string> {
    const wf = await this.store.workflow(workflowId);
    if (!wf) throw new RoundhouseError('RH_NOT_FOUND', 'Workflow');
    const old = await this.store.jobsOfWorkflow(workflowId);
    if (old.some((j) => (JOB_ACTIVE as readonly string[]).includes(j.status))) {
      throw new RoundhouseError(
        'RH_CONFLICT',
        'Workflow is still running; cancel it or wait for it to finish before rerunning.',
      );
    }
    if (opts.fromFailed && opts.jobs?.length) throw badRequest('Give either `from_failed` or `jobs`, not both.');
    const partial = !!opts.fromFailed || !!opts.jobs?.length;
    const rerun = new Set<string>();
    if (!partial) for (const j of old) rerun.add(j.id);
    else {
      for (const j of old) {
        if (opts.fromFailed ? j.status !== 'success' : opts.jobs!.includes(j.id)) rerun.add(j.id);
      }
      if (opts.jobs?.length && rerun.size !== new Set(opts.jobs).size)
        throw badRequest('`jobs` names a job that is not in this workflow.');
      // Everything downstream of a rerun job runs again.
      let grew = true;
      while (grew) {
        grew = false;
        for (const j of old) {
          if (!rerun.has(j.id) && JSON.parse(j.requires).some((r: string) => rerun.has(r))) {
            rerun.add(j.id);
            grew = true;
          }
        }
      }
      if (opts.fromFailed && rerun.size === 0) throw badRequest('Workflow has no failed jobs to rerun.');
    }
    const newId = randomUUID();
    const queued: string[] = [];
    await this.store.tx(async (s) => {
      const ts = now();
      await s.insert('workflows', newWorkflowRow(newId, wf.pipeline_id, wf.project_id, wf.name, actor, wf.id, ts));
      const ids = new Map(old.map((j) => [j.id, randomUUID()]));
      for (const j of old) {
        const carried = !rerun.has(j.id);
        await s.insert('jobs', {
          ...newJobRow({
            id: ids.get(j.id)!,
            workflow_id: newId,
            pipeline_id: j.pipeline_id,
            project_id: j.project_id,
            name: j.name,
            type: j.type,
            requires: JSON.stringify(JSON.parse(j.requires).map((r: string) => ids.get(r))),
            spec: j.spec,
            parallelism: j.parallelism,
            created_at: ts,
          }),
          ...(carried
            ? {
                status: j.status,
                started_at: j.started_at,
                stopped_at: j.stopped_at,
                queued_at: j.queued_at,
                copied_from: j.copied_from ?? j.id,
              }
            : {}),
        });
      }
      await this.#advance(s, newId, queued);
    });
    this.#announce(queued, wf.pipeline_id, newId);
    return newId;
  }

  /**
   * Puts a job that was running back in the queue (its executor went away or the server is
   * stopping). Output of the interrupted attempt is dropped; a message on the job says why.
   */
  async requeueJob(jobId: string, reason: string): Promise<void> {
    const queued: string[] = [];
    const job = await this.store.tx(async (s) => {
      const j = await s.job(jobId);
      if (j?.status !== 'running') return undefined;
      await s.lockWorkflow(j.workflow_id);
      const messages = [
        ...JSON.parse(j.messages),
        { type: 'info', message: `Job requeued: ${reason} (attempt ${j.attempt}).`, reason: 'requeued' },
      ];
      await s.clearJobRun(jobId);
      await s.updateJob(
        jobId,
        {
          status: 'queued',
          claimed_by: null,
          lease_until: null,
          started_at: null,
          queued_at: now(),
          messages: JSON.stringify(messages),
        },
        ['running'],
      );
      queued.push(jobId);
      return j;
    });
    if (job) this.#announce(queued, job.pipeline_id, job.workflow_id, job.id);
  }

  /** Re-announces queued work and requeues jobs whose executor is gone; run at start and periodically. */
  async recover(isGone: (job: JobRow) => boolean): Promise<number> {
    let n = 0;
    for (const j of await this.store.jobsWithStatus(['running'])) {
      if (isGone(j)) {
        await this.requeueJob(j.id, 'its executor stopped before the job finished');
        n++;
      }
    }
    for (const j of await this.store.jobsWithStatus(['queued'])) this.bus.emit('job.queued', { jobId: j.id });
    return n;
  }
}

/**
 * Whose rights a job's contexts are checked against: the user who approved the latest approval job
 * upstream of it (CircleCI's approval gate for restricted contexts), else who started the workflow.
 */
function actorOf(job: JobRow, byId: Map<string, JobRow>, startedBy: string): string {
  let best: { at: string; who: string } | undefined;
  const seen = new Set<string>();
  const walk = (j: JobRow) => {
    for (const id of JSON.parse(j.requires) as string[]) {
      const up = byId.get(id);
      if (!up || seen.has(id)) continue;
      seen.add(id);
      if (up.type === 'approval' && up.claimed_by?.startsWith('approved:')) {
        const at = up.stopped_at ?? '';
        if (!best || at > best.at) best = { at, who: up.claimed_by.slice('approved:'.length) };
      }
      walk(up);
    }
  };
  walk(job);
  return best?.who ?? startedBy;
}

function newWorkflowRow(
  id: string,
  pipelineId: string,
  projectId: string,
  name: string,
  actor: string,
  rerunOf: string | null,
  ts: string,
) {
  return {
    id,
    pipeline_id: pipelineId,
    project_id: projectId,
    name,
    status: 'running',
    started_by: actor,
    canceled_by: null,
    errored_by: null,
    rerun_of: rerunOf,
    created_at: ts,
    stopped_at: null,
  };
}

function newJobRow(
  r: Pick<
    JobRow,
    | 'id'
    | 'workflow_id'
    | 'pipeline_id'
    | 'project_id'
    | 'name'
    | 'type'
    | 'requires'
    | 'spec'
    | 'parallelism'
    | 'created_at'
  >,
) {
  return {
    ...r,
    status: 'blocked',
    number: null,
    queued_at: null,
    started_at: null,
    stopped_at: null,
    claimed_by: null,
    lease_until: null,
    attempt: 0,
    cancel_requested: 0,
    canceled_by: null,
    messages: '[]',
    copied_from: null,
  };
}

export const isTerminal = (status: string) => (JOB_TERMINAL as readonly string[]).includes(status);
