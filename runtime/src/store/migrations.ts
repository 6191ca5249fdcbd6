import type { Db } from './db.js';

/**
 * One list of migrations for both stores, written in the SQL both accept: TEXT ids and ISO-8601
 * timestamps (which sort as text), INTEGER/BIGINT numbers, JSON kept as TEXT, 0/1 for booleans.
 * Append only: a released migration is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    label TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    vcs_type TEXT NOT NULL,
    org TEXT NOT NULL,
    name TEXT NOT NULL,
    repo_url TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    pipeline_counter BIGINT NOT NULL DEFAULT 0,
    job_counter BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE TABLE pipelines (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    number BIGINT NOT NULL,
    state TEXT NOT NULL,
    trigger_type TEXT NOT NULL,
    actor_login TEXT NOT NULL,
    branch TEXT,
    tag TEXT,
    revision TEXT,
    commit_subject TEXT,
    commit_body TEXT,
    parameters TEXT NOT NULL,
    config_source TEXT NOT NULL,
    config_compiled TEXT NOT NULL,
    errors TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (project_id, number)
  );
  CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_by TEXT NOT NULL,
    canceled_by TEXT,
    errored_by TEXT,
    rerun_of TEXT,
    created_at TEXT NOT NULL,
    stopped_at TEXT
  );
  CREATE INDEX workflows_pipeline ON workflows (pipeline_id);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows(id),
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    number BIGINT,
    requires TEXT NOT NULL,
    spec TEXT NOT NULL,
    parallelism INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    queued_at TEXT,
    started_at TEXT,
    stopped_at TEXT,
    claimed_by TEXT,
    lease_until TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    canceled_by TEXT,
    messages TEXT NOT NULL DEFAULT '[]',
    copied_from TEXT
  );
  CREATE INDEX jobs_workflow ON jobs (workflow_id);
  CREATE INDEX jobs_status ON jobs (status, queued_at);
  CREATE UNIQUE INDEX jobs_number ON jobs (project_id, number);
  CREATE TABLE steps (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    bash_command TEXT,
    started_at TEXT,
    stopped_at TEXT,
    PRIMARY KEY (job_id, idx)
  );
  CREATE TABLE output_chunks (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    step_idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    stream TEXT NOT NULL,
    ts TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, step_idx, seq)
  );`,
  // 2: the private orb registry. Published versions are immutable.
  `CREATE TABLE orb_versions (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    source TEXT NOT NULL,
    published_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name, version)
  );`,
  // 3: setup workflows: the pipeline's continuation key (hashed; null once used) and the workflow tag.
  `ALTER TABLE pipelines ADD COLUMN continuation TEXT;
  ALTER TABLE workflows ADD COLUMN tag TEXT`,
  // 4: project environment variables, envelope-encrypted (never stored in the clear).
  `CREATE TABLE project_env_vars (
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    value_enc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
  )`,
  // 5: parallel jobs: steps and output per node (CIRCLE_NODE_INDEX); a finished step's output may live
  // in object storage (output_key) instead of output_chunks.
  `CREATE TABLE steps_v5 (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    node INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    bash_command TEXT,
    started_at TEXT,
    stopped_at TEXT,
    output_key TEXT,
    PRIMARY KEY (job_id, node, idx)
  );
  INSERT INTO steps_v5 (job_id, node, idx, name, type, status, exit_code, bash_command, started_at, stopped_at)
    SELECT job_id, 0, idx, name, type, status, exit_code, bash_command, started_at, stopped_at FROM steps;
  DROP TABLE steps;
  ALTER TABLE steps_v5 RENAME TO steps;
  CREATE TABLE output_chunks_v5 (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    node INTEGER NOT NULL DEFAULT 0,
    step_idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    stream TEXT NOT NULL,
    ts TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, node, step_idx, seq)
  );
  INSERT INTO output_chunks_v5 (job_id, node, step_idx, seq, stream, ts, data)
    SELECT job_id, 0, step_idx, seq, stream, ts, data FROM output_chunks;
  DROP TABLE output_chunks;
  ALTER TABLE output_chunks_v5 RENAME TO output_chunks`,
  // 6: a project's additional SSH keys (add_ssh_keys), the private key envelope-encrypted.
  `CREATE TABLE project_ssh_keys (
    project_id TEXT NOT NULL REFERENCES projects(id),
    fingerprint TEXT NOT NULL,
    hostname TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, fingerprint, hostname)
  )`,
  // 7: identity, contexts, checkout keys, webhooks and the audit log. Users are active, inactive
  // (approved, never logged in) or suspended; memberships are GitHub's, cached. Secret values are
  // envelope-encrypted (value_enc, private_enc, github_token_enc). Context names are unique across
  // the installation, as on CircleCI server; a context without groups is open to all org members.
  `ALTER TABLE users ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
  ALTER TABLE users ADD COLUMN github_id TEXT;
  ALTER TABLE users ADD COLUMN last_login_at TEXT;
  ALTER TABLE users ADD COLUMN github_token_enc TEXT;
  ALTER TABLE users ADD COLUMN permissions_at TEXT;
  ALTER TABLE api_tokens ADD COLUMN id TEXT;
  ALTER TABLE projects ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE pipelines ADD COLUMN from_fork INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE user_orgs (
    user_id TEXT NOT NULL REFERENCES users(id),
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, org)
  );
  CREATE TABLE user_teams (
    user_id TEXT NOT NULL REFERENCES users(id),
    org TEXT NOT NULL,
    team TEXT NOT NULL,
    PRIMARY KEY (user_id, org, team)
  );
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
  );
  CREATE TABLE system_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    vcs_type TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (vcs_type, name)
  );
  CREATE TABLE contexts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );
  CREATE TABLE context_env_vars (
    context_id TEXT NOT NULL REFERENCES contexts(id),
    name TEXT NOT NULL,
    value_enc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (context_id, name)
  );
  CREATE TABLE context_groups (
    id TEXT PRIMARY KEY,
    context_id TEXT NOT NULL REFERENCES contexts(id),
    team TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (context_id, team)
  );
  CREATE TABLE checkout_keys (
    project_id TEXT NOT NULL REFERENCES projects(id),
    fingerprint TEXT NOT NULL,
    type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_enc TEXT NOT NULL,
    preferred INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, fingerprint)
  );
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL
  );
  CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    metadata TEXT NOT NULL,
    version INTEGER NOT NULL,
    scope TEXT NOT NULL,
    success INTEGER NOT NULL,
    request TEXT NOT NULL
  );
  CREATE INDEX audit_events_time ON audit_events (occurred_at)`,
];

export async function migrate(db: Db): Promise<number> {
  await db.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const done = new Set(
    (await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
  );
  let applied = 0;
  for (const [i, sql] of MIGRATIONS.entries()) {
    const version = i + 1;
    if (done.has(version)) continue;
    await db.tx(async (t) => {
      for (const statement of sql
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean))
        await t.run(statement);
      await t.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [
        version,
        new Date().toISOString(),
      ]);
    });
    applied++;
  }
  return applied;
}
