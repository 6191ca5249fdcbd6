import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { freePort, spawnServer } from './process.js';

const TOKEN = 'restart-test-token-0123456789';
const CONFIG = `version: 2.1
jobs:
  slow:
    docker: [{image: x}]
    steps:
      - run: echo start
      - run: sleep 2 && echo slow-done
  quick:
    docker: [{image: x}]
    steps: [{run: echo quick}]
  after:
    docker: [{image: x}]
    steps: [{run: echo after}]
workflows:
  w:
    jobs: [slow, quick, {after: {requires: [slow, quick]}}]
`;

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { 'circle-token': TOKEN, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

type Job = { name: string; status: string; job_number?: number };
async function jobsOf(url: string, pipelineId: string): Promise<{ wf: any; jobs: Job[] }> {
  const wf = (await api(url, 'GET', `/api/v2/pipeline/${pipelineId}/workflow`)).body.items[0];
  if (!wf) return { wf: undefined, jobs: [] };
  return {
    wf,
    jobs: (await api(url, 'GET', `/api/v2/workflow/${wf.id}/job`)).body.items as {
      name: string;
      status: string;
      job_number?: number;
    }[],
  };
}

async function until<T>(fn: () => Promise<T | undefined | false>, what: string, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the pipeline's workflow has stopped, on a restarted server. */
const finished = (url: string, pipelineId: string) =>
  until(async () => {
    const r = await jobsOf(url, pipelineId);
    return r.wf && !['running', 'failing'].includes(r.wf.status) ? r : undefined;
  }, 'pipeline to finish after restart');

const envFor = (dataDir: string) => ({
  ROUNDHOUSE_DATA_DIR: dataDir,
  ROUNDHOUSE_ADMIN_TOKEN: TOKEN,
  ROUNDHOUSE_DEMO: '0',
  ROUNDHOUSE_DRAIN_SECONDS: '0',
});

test('a server killed (SIGKILL) mid-pipeline resumes after restart: every job reaches a terminal state', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rh-restart-'));
  const port = await freePort();
  const first = await spawnServer(envFor(dataDir), port);
  t.teardown(() => first.child.kill('SIGKILL'));
  t.is(
    (await api(first.url, 'POST', '/api/admin/projects', { slug: 'gh/acme/restart', repo: configRepo(CONFIG) })).status,
    201,
  );
  const p = (await api(first.url, 'POST', '/api/v2/project/gh/acme/restart/pipeline', {})).body;
  await until(
    async () => (await jobsOf(first.url, p.id)).jobs.find((j) => j.name === 'slow' && j.status === 'running'),
    'slow job running',
  );
  first.child.kill('SIGKILL');
  await first.exited;

  const second = await spawnServer(envFor(dataDir), port);
  t.teardown(() => second.child.kill('SIGKILL'));
  const { wf, jobs } = await finished(second.url, p.id);
  t.is(wf.status, 'success');
  t.deepEqual(jobs.map((j) => [j.name, j.status]).sort(), [
    ['after', 'success'],
    ['quick', 'success'],
    ['slow', 'success'],
  ]);
  const slow = jobs.find((j) => j.name === 'slow')!;
  const detail = (await api(second.url, 'GET', `/api/v2/project/gh/acme/restart/job/${slow.job_number}`)).body;
  t.true(
    detail.messages.some((m: { message: string }) => /requeued/.test(m.message)),
    JSON.stringify(detail.messages),
  );
  t.regex(second.stderr(), /requeued [12] job\(s\) interrupted by the previous stop/);
  second.child.kill('SIGTERM');
  t.is(await second.exited, 0);
});

test('SIGTERM requeues running jobs after the drain period and exits cleanly; the next start finishes them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rh-drain-'));
  const port = await freePort();
  const first = await spawnServer({ ...envFor(dataDir), ROUNDHOUSE_DRAIN_SECONDS: '1' }, port);
  t.teardown(() => first.child.kill('SIGKILL'));
  await api(first.url, 'POST', '/api/admin/projects', { slug: 'gh/acme/drain', repo: configRepo(CONFIG) });
  const p = (await api(first.url, 'POST', '/api/v2/project/gh/acme/drain/pipeline', {})).body;
  await until(
    async () => (await jobsOf(first.url, p.id)).jobs.find((j) => j.name === 'slow' && j.status === 'running'),
    'slow job running',
  );
  const stopAt = Date.now();
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);
  t.true(Date.now() - stopAt < 8000, 'stop does not wait past the drain period');
  t.regex(first.stderr(), /SIGTERM: draining running jobs/);

  const second = await spawnServer(envFor(dataDir), port);
  t.teardown(() => second.child.kill('SIGKILL'));
  const { wf, jobs } = await finished(second.url, p.id);
  t.is(wf.status, 'success');
  t.true(jobs.every((j) => j.status === 'success'));
  const slow = jobs.find((j) => j.name === 'slow')!;
  const build = (await api(second.url, 'GET', `/api/v1.1/project/github/acme/drain/${slow.job_number}`)).body;
  // The interrupted attempt's steps were dropped: one clean run is reported.
  t.deepEqual(
    build.steps.map((s: { name: string }) => s.name),
    ['Spin up environment', 'Preparing environment variables', 'echo start', 'sleep 2 && echo slow-done'],
  );
  second.child.kill('SIGTERM');
  await second.exited;
});
