import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openPostgres, openSqlite } from '../../runtime/src/store/db.js';
import { MIGRATIONS, migrate } from '../../runtime/src/store/migrations.js';
import { now, Store } from '../../runtime/src/store/store.js';
import { configRepo } from '../helpers/git.js';
import { type PgCluster, postgresUnavailable, startPostgres } from '../helpers/postgres.js';
import { startTestServer } from '../helpers/server.js';

const pgMissing = postgresUnavailable();
if (pgMissing) console.log(`SKIP PostgreSQL store tests: ${pgMissing}`);

let pg: PgCluster | undefined;
test.before(async () => {
  if (!pgMissing) pg = await startPostgres();
});
test.after.always(() => pg?.stop());

let dbCount = 0;
/** A fresh database of each kind: SQLite file, and a new PostgreSQL database in the private cluster. */
const kinds: [string, () => Promise<Store>][] = [
  ['sqlite', async () => new Store(await openSqlite(join(mkdtempSync(join(tmpdir(), 'rh-store-')), 'x.db')))],
  [
    'postgres',
    async () => {
      const admin = await openPostgres(pg!.url);
      const name = `rh_test_${process.pid}_${++dbCount}`;
      await admin.run(`CREATE DATABASE ${name}`);
      await admin.close();
      return new Store(await openPostgres(pg!.url.replace(/\/postgres$/, `/${name}`)));
    },
  ],
];

async function seed(s: Store) {
  await s.insert('projects', {
    id: 'p1',
    slug: 'gh/a/b',
    vcs_type: 'gh',
    org: 'a',
    name: 'b',
    repo_url: '/r',
    default_branch: 'main',
    pipeline_counter: 0,
    job_counter: 0,
    created_at: now(),
  });
  const ts = now();
  await s.insert('pipelines', {
    id: 'pl1',
    project_id: 'p1',
    number: 1,
    state: 'created',
    trigger_type: 'api',
    actor_login: 'x',
    branch: 'main',
    tag: null,
    revision: 'abc',
    commit_subject: 's',
    commit_body: '',
    parameters: '{}',
    config_source: '',
    config_compiled: '',
    errors: '[]',
    created_at: ts,
    updated_at: ts,
  });
  await s.insert('workflows', {
    id: 'w1',
    pipeline_id: 'pl1',
    project_id: 'p1',
    name: 'w',
    status: 'running',
    started_by: 'x',
    canceled_by: null,
    errored_by: null,
    rerun_of: null,
    created_at: ts,
    stopped_at: null,
  });
  for (let i = 0; i < 20; i++) {
    await s.insert('jobs', {
      id: `j${i}`,
      workflow_id: 'w1',
      pipeline_id: 'pl1',
      project_id: 'p1',
      name: `job${i}`,
      type: 'build',
      status: 'queued',
      number: i + 1,
      requires: '[]',
      spec: '{}',
      parallelism: 1,
      created_at: ts,
      queued_at: new Date(Date.now() + i).toISOString(),
      started_at: null,
      stopped_at: null,
      claimed_by: null,
      lease_until: null,
      attempt: 0,
      cancel_requested: 0,
      canceled_by: null,
      messages: '[]',
      copied_from: null,
    });
  }
}

for (const [kind, open] of kinds) {
  const maybe = kind === 'postgres' && pgMissing ? test.skip : test;

  maybe(`${kind}: migrations apply once and are idempotent`, async (t) => {
    const s = await open();
    t.is(await migrate(s.db), MIGRATIONS.length);
    t.is(await migrate(s.db), 0);
    await s.close();
  });

  maybe(`${kind}: counters are per project and atomic under concurrency`, async (t) => {
    const s = await open();
    await migrate(s.db);
    await seed(s);
    const numbers = await Promise.all(
      Array.from({ length: 30 }, () => s.tx((x) => x.nextCounter('p1', 'job_counter'))),
    );
    t.deepEqual(
      [...numbers].sort((a, b) => a - b),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    await s.close();
  });

  maybe(`${kind}: concurrent claims hand each queued job to exactly one executor, oldest first`, async (t) => {
    const s = await open();
    await migrate(s.db);
    await seed(s);
    const lease = new Date(Date.now() + 60000).toISOString();
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => s.claimJob(`e${i % 4}`, lease)));
    const got = claims.filter((c) => c !== undefined).map((c) => c!.id);
    t.is(got.length, 20);
    t.is(new Set(got).size, 20);
    const first = claims.find((c) => c?.id === 'j0');
    t.is(first?.status, 'running');
    t.is(first?.attempt, 1);
    t.is(await s.claimJob('late', lease), undefined);
    // A conditional update only applies in the expected state.
    t.false(await s.updateJob('j0', { status: 'success' }, ['queued']));
    t.true(await s.updateJob('j0', { status: 'success' }, ['running']));
    await s.close();
  });

  maybe(`${kind}: a failing transaction leaves nothing behind`, async (t) => {
    const s = await open();
    await migrate(s.db);
    await seed(s);
    await t.throwsAsync(
      s.tx(async (x) => {
        await x.nextCounter('p1', 'pipeline_counter');
        await x.updateJob('j1', { status: 'failed' });
        throw new Error('boom');
      }),
      { message: 'boom' },
    );
    t.is((await s.job('j1'))?.status, 'queued');
    t.is(await s.nextCounter('p1', 'pipeline_counter'), 1);
    await s.close();
  });
}

(pgMissing ? test.skip : test)(
  'postgres: the whole platform runs a pipeline on PostgreSQL (DATABASE_URL)',
  async (t) => {
    const admin = await openPostgres(pg!.url);
    await admin.run('CREATE DATABASE rh_e2e');
    await admin.close();
    const server = await startTestServer({ DATABASE_URL: pg!.url.replace(/\/postgres$/, '/rh_e2e') });
    t.teardown(() => server.close());
    await server.addProject(
      'gh/pg/app',
      configRepo(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: echo from-postgres}]}
  b: {docker: [{image: x}], steps: [{run: exit 1}]}
  c: {docker: [{image: x}], steps: [{run: echo c}]}
workflows:
  w: {jobs: [a, b, {c: {requires: [a, b]}}]}
`),
    );
    const p = await server.trigger('gh/pg/app');
    const [wf] = await server.waitForPipeline(p.id);
    t.is(wf.status, 'failed');
    t.deepEqual(Object.fromEntries(wf.jobs.map((j) => [j.name, j.status])), {
      a: 'success',
      b: 'failed',
      c: 'not_run',
    });
    const a = wf.jobs.find((j) => j.name === 'a')!;
    const steps = await server.stepOutput('gh/pg/app', a.job_number!);
    t.regex(steps[2].output, /from-postgres/);
  },
);

(pgMissing ? test.skip : test)(
  'postgres: jobs that finish at the same moment still advance their workflow (transitions are serialised per workflow)',
  async (t) => {
    const admin = await openPostgres(pg!.url);
    await admin.run('CREATE DATABASE rh_race');
    await admin.close();
    // No executors: the test plays the executors itself, finishing two jobs in the same instant.
    const server = await startTestServer({
      DATABASE_URL: pg!.url.replace(/\/postgres$/, '/rh_race'),
      ROUNDHOUSE_EXECUTOR_SLOTS: '0',
    });
    t.teardown(() => server.close());
    await server.addProject(
      'gh/pg/race',
      configRepo(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: "true"}]}
  b: {docker: [{image: x}], steps: [{run: "true"}]}
  c: {docker: [{image: x}], steps: [{run: "true"}]}
workflows:
  w: {jobs: [a, b, {c: {requires: [a, b]}}]}
`),
    );
    const project = (await server.store.projectBySlug('gh/pg/race'))!;
    for (let round = 0; round < 10; round++) {
      const p = await server.conductor.triggerPipeline(project, { actor: 'admin', triggerType: 'api' });
      const lease = new Date(Date.now() + 60000).toISOString();
      const claimed = [await server.store.claimJob('e1', lease), await server.store.claimJob('e2', lease)];
      t.deepEqual(claimed.map((j) => j?.name).sort(), ['a', 'b']);
      await Promise.all([
        server.conductor.finishJob(claimed[0]!.id, 'success', 'e1'),
        server.conductor.finishJob(claimed[1]!.id, 'success', 'e2'),
      ]);
      const wf = (await server.store.workflowsOfPipeline(p.id))[0];
      const c = (await server.store.jobsOfWorkflow(wf.id)).find((j) => j.name === 'c')!;
      t.is(c.status, 'queued', `round ${round}`);
      // Clear the queue for the next round.
      const third = await server.store.claimJob('e1', lease);
      await server.conductor.finishJob(third!.id, 'success', 'e1');
    }
  },
);
