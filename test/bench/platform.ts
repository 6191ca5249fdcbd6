import { rmSync } from 'node:fs';
import { configRepo } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { log, mean, median, ms, sleep } from './lib.js';

/**
 * Scenarios against the whole platform running in this process (startTestServer): the bench's
 * HTTP client shares the event loop with the server, as the local executors do.
 */

const ORG = 'bench';
const DOCKER = '    docker:\n      - image: cimg/base:stable\n';
const WAITING = ['running', 'failing', 'on_hold'];

export function stepsConfig(steps: number): string {
  const lines = Array.from({ length: steps }, () => '      - run: "true"');
  return `version: 2.1\njobs:\n  steps:\n${DOCKER}    steps:\n${lines.join('\n')}\nworkflows:\n  bench:\n    jobs:\n      - steps\n`;
}

export function fanoutConfig(jobs: number): string {
  const names = Array.from({ length: jobs }, (_, i) => `j${String(i + 1).padStart(2, '0')}`);
  const defs = names.map((n) => `  ${n}:\n${DOCKER}    steps:\n      - run: "true"\n`).join('');
  return `version: 2.1\njobs:\n${defs}workflows:\n  bench:\n    jobs:\n${names.map((n) => `      - ${n}`).join('\n')}\n`;
}

export const STAMP_CONFIG = `version: 2.1
jobs:
  stamp:
${DOCKER}    steps:
      - run:
          name: stamp
          command: echo "$EPOCHREALTIME"
workflows:
  bench:
    jobs:
      - stamp
`;

export interface Bench {
  readonly server: TestServer;
  readonly slots: number;
  close(): Promise<void>;
}

const repos: string[] = [];
let projects = 0;

export async function startBench(slots: number): Promise<Bench> {
  const server = await startTestServer({ ROUNDHOUSE_EXECUTOR_SLOTS: String(slots) });
  log(`in-process server at ${server.url} (sandbox: ${server.sandbox}, ${slots} executor slots)`);
  return {
    server,
    slots,
    async close() {
      await server.close();
      rmSync(server.dataDir, { recursive: true, force: true });
      for (const r of repos.splice(0)) rmSync(r, { recursive: true, force: true });
    },
  };
}

export async function addProject(b: Bench, name: string, config: string): Promise<string> {
  const repo = configRepo(config);
  repos.push(repo);
  const slug = `gh/${ORG}/${name}-${++projects}`;
  await b.server.addProject(slug, repo);
  return slug;
}

interface Triggered {
  readonly id: string;
  /** Epoch ms just before the POST went out. */
  readonly t0: number;
  /** ms until the POST was answered. */
  readonly answeredMs: number;
}

async function trigger(b: Bench, slug: string, t0 = Date.now()): Promise<Triggered> {
  const p0 = performance.now();
  const r = await b.server.api('POST', `/api/v2/project/${slug}/pipeline`, {});
  const answeredMs = performance.now() - p0;
  if (r.status !== 201) throw new Error(`trigger ${slug}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  if (r.body.state === 'errored') {
    const p = await b.server.api('GET', `/api/v2/pipeline/${r.body.id}`);
    throw new Error(`pipeline of ${slug} errored: ${JSON.stringify(p.body.errors)}`);
  }
  return { id: r.body.id, t0, answeredMs };
}

/**
 * Resolves when every workflow of the pipeline has stopped. Woken by the platform's bus and checked
 * against the store, so that waiting adds no HTTP polling load to what is measured.
 */
function waitDone(b: Bench, pipelineId: string, timeoutMs = 60000): Promise<void> {
  const { store, conductor } = b.server;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      conductor.bus.off('changed', onChange);
      clearInterval(poll);
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const check = async () => {
      try {
        const wfs = await store.workflowsOfPipeline(pipelineId);
        if (wfs.length > 0 && wfs.every((w) => !WAITING.includes(w.status))) finish();
      } catch (e) {
        finish(e as Error);
      }
    };
    const onChange = (e: { pipelineId: string }) => {
      if (e.pipelineId === pipelineId) void check();
    };
    conductor.bus.on('changed', onChange);
    const poll = setInterval(check, 500);
    const timer = setTimeout(
      () => finish(new Error(`pipeline ${pipelineId} did not finish in ${timeoutMs} ms`)),
      timeoutMs,
    );
    void check();
  });
}

interface WorkflowInfo {
  id: string;
  status: string;
  created_at: string;
  stopped_at: string | null;
  jobs: { id: string; name: string; status: string; job_number: number; started_at: string; stopped_at: string }[];
}

async function workflowsOf(b: Bench, slug: string, pipelineId: string): Promise<WorkflowInfo[]> {
  const wfs = (await b.server.api('GET', `/api/v2/pipeline/${pipelineId}/workflow`)).body.items;
  const out: WorkflowInfo[] = [];
  for (const w of wfs) out.push({ ...w, jobs: (await b.server.api('GET', `/api/v2/workflow/${w.id}/job`)).body.items });
  for (const w of out) {
    if (w.status === 'success') continue;
    const bad = w.jobs.find((j) => j.status !== 'success');
    throw new Error(
      `workflow ${w.id} of ${slug} ended ${w.status} (job ${bad?.name} #${bad?.job_number}: ${bad?.status})`,
    );
  }
  return out;
}

interface V11Step {
  name: string;
  start: number;
  end: number;
}

async function stepsOf(b: Bench, slug: string, jobNumber: number): Promise<V11Step[]> {
  const [, org, repo] = slug.split('/');
  const build = (await b.server.api('GET', `/api/v1.1/project/github/${org}/${repo}/${jobNumber}`)).body;
  return build.steps.map((s: any) => ({
    name: s.name,
    start: ms(s.actions[0].start_time),
    end: ms(s.actions[0].end_time),
  }));
}

/** Output of a job's step (by name) through its v1.1 output_url, fetched from this server whatever host the URL names. */
async function stepText(b: Bench, slug: string, jobNumber: number, name: string): Promise<string> {
  const [, org, repo] = slug.split('/');
  const build = (await b.server.api('GET', `/api/v1.1/project/github/${org}/${repo}/${jobNumber}`)).body;
  const step = build.steps.find((s: any) => s.name === name);
  if (!step) throw new Error(`job ${jobNumber} of ${slug} has no step ${name}`);
  const u = new URL(step.actions[0].output_url);
  const res = await fetch(b.server.url + u.pathname + u.search);
  const msgs = (await res.json()) as { message: string }[];
  return msgs.map((m) => m.message).join('');
}

// ---------------------------------------------------------------------------------------------
// 1. per-step overhead

export interface StepResult {
  /** Job duration (started_at → stopped_at) of each measured run, ms. */
  readonly jobMs: number[];
  /** Trigger → workflow stopped, ms. */
  readonly endToEndMs: number[];
  /** Medians over runs of the phases of one job. */
  readonly claimMs: number;
  readonly setupMs: number;
  readonly stepMs: number;
  readonly gapMs: number;
  readonly teardownMs: number;
}

export async function perStep(b: Bench, steps: number, runs: number): Promise<StepResult> {
  const slug = await addProject(b, 'steps', stepsConfig(steps));
  const jobMs: number[] = [];
  const endToEndMs: number[] = [];
  const phases = {
    claim: [] as number[],
    setup: [] as number[],
    step: [] as number[],
    gap: [] as number[],
    teardown: [] as number[],
  };
  for (let r = -1; r < runs; r++) {
    const t = await trigger(b, slug);
    await waitDone(b, t.id);
    const [wf] = await workflowsOf(b, slug, t.id);
    if (r < 0) continue; // warm-up
    const job = wf.jobs[0];
    const detail = (await b.server.api('GET', `/api/v2/project/${slug}/job/${job.job_number}`)).body;
    const all = await stepsOf(b, slug, job.job_number);
    const run = all.slice(all.length - steps);
    if (run.length !== steps) throw new Error(`expected ${steps} run steps, got ${all.length} steps`);
    jobMs.push(ms(job.stopped_at) - ms(job.started_at));
    endToEndMs.push(ms(wf.stopped_at) - t.t0);
    phases.claim.push(ms(job.started_at) - ms(detail.queued_at));
    phases.setup.push(run[0].start - ms(job.started_at));
    phases.step.push(mean(run.map((s) => s.end - s.start)));
    phases.gap.push(mean(run.slice(1).map((s, i) => s.start - run[i].end)));
    phases.teardown.push(ms(job.stopped_at) - run[run.length - 1].end);
  }
  return {
    jobMs,
    endToEndMs,
    claimMs: median(phases.claim),
    setupMs: median(phases.setup),
    stepMs: median(phases.step),
    gapMs: median(phases.gap),
    teardownMs: median(phases.teardown),
  };
}

// ---------------------------------------------------------------------------------------------
// 2. per-job overhead and throughput

export interface FanoutResult {
  /** Trigger → workflow stopped, ms, per measured run. */
  readonly wallMs: number[];
  /** First job started → last job stopped, ms, per measured run. */
  readonly execMs: number[];
  /** Median job duration (started_at → stopped_at) over all jobs of all runs. */
  readonly jobMs: number;
  /** Median trigger → first job started. */
  readonly firstStartMs: number;
}

export async function fanout(b: Bench, jobs: number, runs: number): Promise<FanoutResult> {
  const slug = await addProject(b, 'fanout', fanoutConfig(jobs));
  const wallMs: number[] = [];
  const execMs: number[] = [];
  const jobDur: number[] = [];
  const firstStart: number[] = [];
  for (let r = -1; r < runs; r++) {
    await sleep(100);
    const t = await trigger(b, slug);
    await waitDone(b, t.id);
    const [wf] = await workflowsOf(b, slug, t.id);
    if (r < 0) continue;
    if (wf.jobs.length !== jobs) throw new Error(`expected ${jobs} jobs, got ${wf.jobs.length}`);
    const starts = wf.jobs.map((j) => ms(j.started_at));
    const stops = wf.jobs.map((j) => ms(j.stopped_at));
    wallMs.push(ms(wf.stopped_at) - t.t0);
    execMs.push(Math.max(...stops) - Math.min(...starts));
    firstStart.push(Math.min(...starts) - t.t0);
    for (const j of wf.jobs) jobDur.push(ms(j.stopped_at) - ms(j.started_at));
  }
  return { wallMs, execMs, jobMs: median(jobDur), firstStartMs: median(firstStart) };
}

// ---------------------------------------------------------------------------------------------
// 3. trigger → first command

export interface LatencySample {
  /** Trigger POST → first command of the first step ran. */
  readonly latencyMs: number;
  readonly answeredMs: number;
  readonly createdMs: number;
  readonly queuedMs: number;
  readonly claimedMs: number;
  readonly stepStartMs: number;
  /** Epoch ms of the job's claim (started_at) and of its first command. */
  readonly claimedAt: number;
  readonly commandAt: number;
}

async function latencySample(b: Bench, slug: string, t: Triggered): Promise<LatencySample> {
  const [wf] = await workflowsOf(b, slug, t.id);
  const job = wf.jobs[0];
  const text = await stepText(b, slug, job.job_number, 'stamp');
  const at = Number(text.trim()) * 1000;
  if (!Number.isFinite(at) || at === 0) throw new Error(`no timestamp in the stamp step: ${JSON.stringify(text)}`);
  const detail = (await b.server.api('GET', `/api/v2/project/${slug}/job/${job.job_number}`)).body;
  const pipeline = (await b.server.api('GET', `/api/v2/pipeline/${t.id}`)).body;
  const steps = await stepsOf(b, slug, job.job_number);
  const step = steps.find((s) => s.name === 'stamp');
  return {
    latencyMs: at - t.t0,
    answeredMs: t.answeredMs,
    createdMs: ms(pipeline.created_at) - t.t0,
    queuedMs: ms(detail.queued_at) - t.t0,
    claimedMs: ms(detail.started_at) - t.t0,
    stepStartMs: (step?.start ?? Number.NaN) - t.t0,
    claimedAt: ms(detail.started_at),
    commandAt: at,
  };
}

export async function latencyIdle(b: Bench, runs: number): Promise<LatencySample[]> {
  const slug = await addProject(b, 'latency', STAMP_CONFIG);
  const out: LatencySample[] = [];
  for (let r = -1; r < runs; r++) {
    await sleep(150);
    const t = await trigger(b, slug);
    await waitDone(b, t.id);
    const s = await latencySample(b, slug, t);
    if (r >= 0) out.push(s);
  }
  return out;
}

export async function latencyBurst(b: Bench, n: number): Promise<{ samples: LatencySample[]; allAnsweredMs: number }> {
  const slug = await addProject(b, 'burst', STAMP_CONFIG);
  // Warm this project's path once, then let the platform go idle.
  const w = await trigger(b, slug);
  await waitDone(b, w.id);
  await sleep(300);
  const t0 = Date.now();
  const p0 = performance.now();
  const triggered = await Promise.all(Array.from({ length: n }, () => trigger(b, slug, t0)));
  const allAnsweredMs = performance.now() - p0;
  await Promise.all(triggered.map((t) => waitDone(b, t.id)));
  const samples: LatencySample[] = [];
  for (const t of triggered) samples.push(await latencySample(b, slug, t));
  return { samples, allAnsweredMs };
}
