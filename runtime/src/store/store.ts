import { join } from 'node:path';
import type { Db, Param } from './db.js';
import { openPostgres, openSqlite } from './db.js';
import { AuditStore } from './audit.js';
import { IdentityStore } from './identity.js';
import { migrate } from './migrations.js';
import { SecretStore } from './secrets.js';

export interface UserRow {
  id: string;
  login: string;
  name: string;
  is_admin: number;
  created_at: string;
  /** active, inactive (approved, never logged in) or suspended. */
  state?: string;
}
export interface ProjectRow {
  id: string;
  slug: string;
  vcs_type: string;
  org: string;
  name: string;
  repo_url: string;
  default_branch: string;
  created_at: string;
  /** JSON: project settings (e.g. forks_receive_secret_env_vars). */
  settings?: string;
}
export interface PipelineRow {
  id: string;
  project_id: string;
  number: number;
  state: string;
  trigger_type: string;
  actor_login: string;
  branch: string | null;
  tag: string | null;
  revision: string | null;
  commit_subject: string | null;
  commit_body: string | null;
  parameters: string;
  config_source: string;
  config_compiled: string;
  errors: string;
  created_at: string;
  updated_at: string;
  /** sha256 of the setup workflow's continuation key, until it is used. */
  continuation?: string | null;
  /** 1 when a pull request from a fork started it (no secrets unless the project allows them). */
  from_fork?: number;
}
export interface WorkflowRow {
  id: string;
  pipeline_id: string;
  project_id: string;
  name: string;
  status: string;
  started_by: string;
  canceled_by: string | null;
  errored_by: string | null;
  rerun_of: string | null;
  created_at: string;
  stopped_at: string | null;
  tag?: string | null;
}
export interface JobRow {
  id: string;
  workflow_id: string;
  pipeline_id: string;
  project_id: string;
  name: string;
  type: string;
  status: string;
  number: number | null;
  requires: string;
  spec: string;
  parallelism: number;
  created_at: string;
  queued_at: string | null;
  started_at: string | null;
  stopped_at: string | null;
  claimed_by: string | null;
  lease_until: string | null;
  attempt: number;
  cancel_requested: number;
  canceled_by: string | null;
  messages: string;
  copied_from: string | null;
}
export interface StepRow {
  job_id: string;
  /** Parallel node (CIRCLE_NODE_INDEX); 0 for jobs without parallelism. */
  node: number;
  idx: number;
  name: string;
  type: string;
  status: string;
  exit_code: number | null;
  bash_command: string | null;
  started_at: string | null;
  stopped_at: string | null;
  /** Set once the step's output has moved to object storage under this key. */
  output_key?: string | null;
}
export interface OutputChunkRow {
  job_id: string;
  node: number;
  step_idx: number;
  seq: number;
  stream: string;
  ts: string;
  data: string;
}

export interface OrbVersionRow {
  namespace: string;
  name: string;
  version: string;
  source: string;
  published_by: string;
  created_at: string;
}

export const now = () => new Date().toISOString();

function insert(table: string, row: Record<string, Param>): [string, Param[]] {
  const keys = Object.keys(row);
  return [`INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`, Object.values(row)];
}

function update(table: string, where: string, fields: Record<string, Param>, whereParams: Param[]): [string, Param[]] {
  const keys = Object.keys(fields);
  return [
    `UPDATE ${table} SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE ${where}`,
    [...Object.values(fields), ...whereParams],
  ];
}

/** Data access for every role. Methods take an optional Db so that callers can compose them in one transaction. */
export class Store {
  constructor(readonly db: Db) {}

  static async open(databaseUrl: string | undefined, dataDir: string): Promise<Store> {
    const db = databaseUrl ? await openPostgres(databaseUrl) : await openSqlite(join(dataDir, 'roundhouse.db'));
    await migrate(db);
    return new Store(db);
  }

  close() {
    return this.db.close();
  }

  /** Users, tokens, sessions, memberships, system settings, organizations. */
  get identity() {
    return new IdentityStore(this.db);
  }
  /** Contexts, checkout keys, webhook deliveries. */
  get secrets() {
    return new SecretStore(this.db);
  }
  get audit() {
    return new AuditStore(this.db);
  }

  tx<T>(fn: (s: Store) => Promise<T>): Promise<T> {
    return this.db.tx((db) => fn(new Store(db)));
  }

  async insert(table: string, row: Record<string, Param>) {
    await this.db.run(...insert(table, row));
  }

  // users and tokens
  userByLogin(login: string) {
    return this.db.get<UserRow>('SELECT * FROM users WHERE login = ?', [login]);
  }
  userByTokenHash(hash: string) {
    return this.db.get<UserRow>(
      'SELECT u.* FROM users u JOIN api_tokens t ON t.user_id = u.id WHERE t.token_hash = ?',
      [hash],
    );
  }
  async putToken(userId: string, hash: string, label: string) {
    await this.db.run('DELETE FROM api_tokens WHERE user_id = ? AND label = ?', [userId, label]);
    await this.insert('api_tokens', {
      id: hash.slice(0, 16),
      token_hash: hash,
      user_id: userId,
      label,
      created_at: now(),
    });
  }

  // projects
  projectBySlug(slug: string) {
    return this.db.get<ProjectRow>('SELECT * FROM projects WHERE slug = ?', [slug]);
  }
  projectById(id: string) {
    return this.db.get<ProjectRow>('SELECT * FROM projects WHERE id = ?', [id]);
  }
  listProjects() {
    return this.db.all<ProjectRow>('SELECT * FROM projects ORDER BY slug');
  }
  async updateProjectSettings(id: string, settings: string) {
    await this.db.run('UPDATE projects SET settings = ? WHERE id = ?', [settings, id]);
  }
  async nextCounter(projectId: string, counter: 'pipeline_counter' | 'job_counter'): Promise<number> {
    const row = await this.db.get<Record<string, number>>(
      `UPDATE projects SET ${counter} = ${counter} + 1 WHERE id = ? RETURNING ${counter}`,
      [projectId],
    );
    if (!row) throw new Error(`project ${projectId} vanished`);
    return Number(row[counter]);
  }

  // pipelines
  pipeline(id: string) {
    return this.db.get<PipelineRow>('SELECT * FROM pipelines WHERE id = ?', [id]);
  }
  pipelineByNumber(projectId: string, n: number) {
    return this.db.get<PipelineRow>('SELECT * FROM pipelines WHERE project_id = ? AND number = ?', [projectId, n]);
  }
  listPipelines(projectId: string, opts: { branch?: string; limit: number; offset: number; actor?: string }) {
    const where = ['project_id = ?'];
    const params: Param[] = [projectId];
    if (opts.branch !== undefined) {
      where.push('branch = ?');
      params.push(opts.branch);
    }
    if (opts.actor !== undefined) {
      where.push('actor_login = ?');
      params.push(opts.actor);
    }
    return this.db.all<PipelineRow>(
      `SELECT * FROM pipelines WHERE ${where.join(' AND ')} ORDER BY number DESC LIMIT ? OFFSET ?`,
      [...params, opts.limit, opts.offset],
    );
  }

  pipelineByContinuation(hash: string) {
    return this.db.get<PipelineRow>('SELECT * FROM pipelines WHERE continuation = ?', [hash]);
  }
  /** Uses up a pipeline's continuation key; false when it was already used. */
  async takeContinuation(pipelineId: string, hash: string): Promise<boolean> {
    return (
      (await this.db.run('UPDATE pipelines SET continuation = NULL WHERE id = ? AND continuation = ?', [
        pipelineId,
        hash,
      ])) > 0
    );
  }
  async updatePipeline(id: string, fields: Partial<PipelineRow>) {
    await this.db.run(...update('pipelines', 'id = ?', fields as Record<string, Param>, [id]));
  }

  // workflows
  workflow(id: string) {
    return this.db.get<WorkflowRow>('SELECT * FROM workflows WHERE id = ?', [id]);
  }
  workflowsOfPipeline(pipelineId: string) {
    return this.db.all<WorkflowRow>('SELECT * FROM workflows WHERE pipeline_id = ? ORDER BY created_at, name', [
      pipelineId,
    ]);
  }
  async updateWorkflow(id: string, fields: Partial<WorkflowRow>) {
    await this.db.run(...update('workflows', 'id = ?', fields as Record<string, Param>, [id]));
  }

  /**
   * Serialises transitions of one workflow: every transaction that changes a workflow's jobs takes
   * this lock first, so the DAG is always advanced on the committed state of all its jobs. (SQLite
   * runs one transaction at a time anyway.)
   */
  async lockWorkflow(id: string): Promise<void> {
    if (this.db.dialect === 'postgres') await this.db.get('SELECT id FROM workflows WHERE id = ? FOR UPDATE', [id]);
  }

  // jobs
  job(id: string) {
    return this.db.get<JobRow>('SELECT * FROM jobs WHERE id = ?', [id]);
  }
  jobByNumber(projectId: string, n: number) {
    return this.db.get<JobRow>('SELECT * FROM jobs WHERE project_id = ? AND number = ?', [projectId, n]);
  }
  jobsOfWorkflow(workflowId: string) {
    return this.db.all<JobRow>('SELECT * FROM jobs WHERE workflow_id = ? ORDER BY created_at, name', [workflowId]);
  }
  /** The latest successful run of a job of this name in the project (for test timings). */
  lastSuccessfulJob(projectId: string, name: string) {
    return this.db.get<JobRow>(
      "SELECT * FROM jobs WHERE project_id = ? AND name = ? AND status = 'success' AND number IS NOT NULL ORDER BY stopped_at DESC LIMIT 1",
      [projectId, name],
    );
  }
  /** The project's newest numbered build job, optionally on a branch and in given statuses (API v1.1 `latest`). */
  latestJob(projectId: string, opts: { branch?: string; statuses?: string[] } = {}) {
    const where = ['j.project_id = ?', 'j.number IS NOT NULL', "j.type = 'build'"];
    const params: Param[] = [projectId];
    if (opts.branch !== undefined) {
      where.push('p.branch = ?');
      params.push(opts.branch);
    }
    if (opts.statuses?.length) {
      where.push(`j.status IN (${opts.statuses.map(() => '?').join(', ')})`);
      params.push(...opts.statuses);
    }
    return this.db.get<JobRow>(
      `SELECT j.* FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id WHERE ${where.join(' AND ')} ORDER BY j.number DESC LIMIT 1`,
      params,
    );
  }
  jobsWithStatus(statuses: string[]) {
    return this.db.all<JobRow>(`SELECT * FROM jobs WHERE status IN (${statuses.map(() => '?').join(', ')})`, statuses);
  }
  async updateJob(id: string, fields: Partial<JobRow>, onlyIfStatus?: string[]): Promise<boolean> {
    const where = onlyIfStatus ? `id = ? AND status IN (${onlyIfStatus.map(() => '?').join(', ')})` : 'id = ?';
    const n = await this.db.run(
      ...update('jobs', where, fields as Record<string, Param>, [id, ...(onlyIfStatus ?? [])]),
    );
    return n > 0;
  }
  /** Atomically hands the oldest queued job to an executor. */
  claimJob(executorId: string, leaseUntil: string): Promise<JobRow | undefined> {
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    return this.db.get<JobRow>(
      `UPDATE jobs SET status = 'running', claimed_by = ?, lease_until = ?, started_at = ?, attempt = attempt + 1
       WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY queued_at, number LIMIT 1${lock}) AND status = 'queued'
       RETURNING *`,
      [executorId, leaseUntil, now()],
    );
  }

  // steps and output
  /** Every step of a job, all nodes, ordered by node then index. */
  stepsOfJob(jobId: string) {
    return this.db.all<StepRow>('SELECT * FROM steps WHERE job_id = ? ORDER BY node, idx', [jobId]);
  }
  step(jobId: string, node: number, idx: number) {
    return this.db.get<StepRow>('SELECT * FROM steps WHERE job_id = ? AND node = ? AND idx = ?', [jobId, node, idx]);
  }
  async upsertStep(row: StepRow) {
    await this.db.run('DELETE FROM steps WHERE job_id = ? AND node = ? AND idx = ?', [row.job_id, row.node, row.idx]);
    await this.insert('steps', row as unknown as Record<string, Param>);
  }
  async updateStep(jobId: string, node: number, idx: number, fields: Partial<StepRow>) {
    await this.db.run(
      ...update('steps', 'job_id = ? AND node = ? AND idx = ?', fields as Record<string, Param>, [jobId, node, idx]),
    );
  }
  async appendOutput(row: OutputChunkRow) {
    await this.insert('output_chunks', row as unknown as Record<string, Param>);
  }
  /** Output chunks still in the database (a finished step's output moves to object storage). */
  output(jobId: string, node?: number, stepIdx?: number) {
    if (node === undefined)
      return this.db.all<OutputChunkRow>('SELECT * FROM output_chunks WHERE job_id = ? ORDER BY node, step_idx, seq', [
        jobId,
      ]);
    return stepIdx === undefined
      ? this.db.all<OutputChunkRow>(
          'SELECT * FROM output_chunks WHERE job_id = ? AND node = ? ORDER BY step_idx, seq',
          [jobId, node],
        )
      : this.db.all<OutputChunkRow>(
          'SELECT * FROM output_chunks WHERE job_id = ? AND node = ? AND step_idx = ? ORDER BY seq',
          [jobId, node, stepIdx],
        );
  }
  async dropOutput(jobId: string, node: number, stepIdx: number) {
    await this.db.run('DELETE FROM output_chunks WHERE job_id = ? AND node = ? AND step_idx = ?', [
      jobId,
      node,
      stepIdx,
    ]);
  }
  // project environment variables (values are envelope-encrypted by the caller)
  projectEnvVars(projectId: string) {
    return this.db.all<{ name: string; value_enc: string; created_at: string }>(
      'SELECT name, value_enc, created_at FROM project_env_vars WHERE project_id = ? ORDER BY name',
      [projectId],
    );
  }
  async putProjectEnvVar(projectId: string, name: string, valueEnc: string) {
    await this.db.run('DELETE FROM project_env_vars WHERE project_id = ? AND name = ?', [projectId, name]);
    await this.insert('project_env_vars', { project_id: projectId, name, value_enc: valueEnc, created_at: now() });
  }
  async deleteProjectEnvVar(projectId: string, name: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM project_env_vars WHERE project_id = ? AND name = ?', [projectId, name])) > 0;
  }

  // additional SSH keys (private keys are envelope-encrypted by the caller)
  projectSshKeys(projectId: string) {
    return this.db.all<{
      fingerprint: string;
      hostname: string;
      public_key: string;
      private_key_enc: string;
      created_at: string;
    }>(
      'SELECT fingerprint, hostname, public_key, private_key_enc, created_at FROM project_ssh_keys WHERE project_id = ? ORDER BY created_at, fingerprint',
      [projectId],
    );
  }
  async putProjectSshKey(
    projectId: string,
    row: { fingerprint: string; hostname: string; public_key: string; private_key_enc: string },
  ) {
    await this.db.run('DELETE FROM project_ssh_keys WHERE project_id = ? AND fingerprint = ? AND hostname = ?', [
      projectId,
      row.fingerprint,
      row.hostname,
    ]);
    await this.insert('project_ssh_keys', { project_id: projectId, ...row, created_at: now() });
  }
  /** Deletes a key (for one hostname, or for all when hostname is undefined); how many went. */
  async deleteProjectSshKey(projectId: string, fingerprint: string, hostname?: string): Promise<number> {
    return hostname === undefined
      ? this.db.run('DELETE FROM project_ssh_keys WHERE project_id = ? AND fingerprint = ?', [projectId, fingerprint])
      : this.db.run('DELETE FROM project_ssh_keys WHERE project_id = ? AND fingerprint = ? AND hostname = ?', [
          projectId,
          fingerprint,
          hostname,
        ]);
  }

  // orb registry
  orbVersions(namespace?: string, name?: string) {
    if (namespace !== undefined && name !== undefined) {
      return this.db.all<Omit<OrbVersionRow, 'source'>>(
        'SELECT namespace, name, version, published_by, created_at FROM orb_versions WHERE namespace = ? AND name = ?',
        [namespace, name],
      );
    }
    return this.db.all<Omit<OrbVersionRow, 'source'>>(
      'SELECT namespace, name, version, published_by, created_at FROM orb_versions ORDER BY namespace, name',
    );
  }
  orbVersion(namespace: string, name: string, version: string) {
    return this.db.get<OrbVersionRow>('SELECT * FROM orb_versions WHERE namespace = ? AND name = ? AND version = ?', [
      namespace,
      name,
      version,
    ]);
  }
  /** Publishes a version; false when it already exists (published versions never change). */
  async publishOrb(row: OrbVersionRow): Promise<boolean> {
    const n = await this.db.run(
      'INSERT INTO orb_versions (namespace, name, version, source, published_by, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [row.namespace, row.name, row.version, row.source, row.published_by, row.created_at],
    );
    return n > 0;
  }

  async clearJobRun(jobId: string) {
    await this.db.run('DELETE FROM output_chunks WHERE job_id = ?', [jobId]);
    await this.db.run('DELETE FROM steps WHERE job_id = ?', [jobId]);
  }
}
