/**
 * `npm run bench`: measures Roundhouse's own overhead on this machine and prints each figure beside
 * a baseline (the same work without Roundhouse) and the target from the performance issue. Nothing
 * is asserted: the exit code is 0 unless the bench itself fails.
 *
 *   1. per-step overhead      one job of 20 `run: "true"` steps vs bash running `true` 20 times
 *   2. per-job overhead       20 one-step jobs in one workflow on the executor slots → jobs/s
 *   3. trigger → first cmd    POST /pipeline → the first step's first command runs; idle and burst
 *   4. idle RSS               the real `roundhouse server` process (and children) after 2 s idle
 *   5. start → API ready      spawning the server → first successful GET /healthz
 *   6. compile throughput     every conformance config compiled, beside parsing the same YAML
 *   7. output throughput      a step printing 200k lines → stored, and → one live subscriber
 *   8. cache throughput       save_cache + restore_cache of a folder vs plain tar + gzip of it
 *   9. stacks mock run        the Pulumi program per cloud under mocks, each in a fresh process
 *
 * BENCH_ONLY=7,8 runs only the sections named. BENCH_COMPILED=1 also measures 4 and 5 for the runtime compiled by tsc (no tsx loader), for comparison.
 */
import { cpus, loadavg } from 'node:os';
import {
  bashSequence,
  bwrapBash,
  bwrapFirstCommand,
  bwrapTrue,
  hasBwrap,
  idleNodeRss,
  nodeStart,
  spawnBlock,
} from './baselines.js';
import { fmt, log, max, median, percentile, renderTable, type TableRow } from './lib.js';
import { compileCorpus } from './compile.js';
import { cacheThroughput, outputThroughput } from './output.js';
import { benchStacks } from './stacks.js';
import { fanout, latencyBurst, latencyIdle, perStep, startBench } from './platform.js';
import { compiledServer, type ServerStart, serverStart } from './process.js';

const SLOTS = 2;
const STEPS = 20;
const JOBS = 20;
const BURST = 20;
const IDLE_MS = 2000;
const OUTPUT_LINES = 200000;
const CACHE_MB = 40;

const MiB = (kb: number) => kb / 1024;
/** BENCH_ONLY=7,8 runs just those sections. */
const only = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
const want = (...sections: string[]) => !only.length || sections.some((s) => only.includes(s));
const rows: TableRow[] = [];
const section = (title: string) => process.stdout.write(`\n== ${title}\n`);
const say = (line: string) => process.stdout.write(`   ${line}\n`);

async function processBench() {
  section('4/5. server process: start → API ready, idle RSS');
  const starts: ServerStart[] = [];
  for (let i = 0; i < 3; i++) {
    log(`starting roundhouse server process (${i + 1}/3)`);
    const s = await serverStart(IDLE_MS);
    starts.push(s);
    say(
      `run ${i + 1}: ready ${fmt(s.readyMs)} ms (server says ${s.selfReportedMs ?? '?'} ms), RSS ${fmt(MiB(s.rssKb))} MiB: ${s.processes.map((p) => `${p.name}[${p.pid}] ${fmt(MiB(p.rssKb))}`).join(', ')}`,
    );
  }
  log('baselines: bare node start and RSS');
  const bareStart = median(await nodeStart(5));
  const tsxStart = median(await nodeStart(3, ['--import', 'tsx']));
  const bareRss = await idleNodeRss(IDLE_MS);
  const tsxRss = await idleNodeRss(IDLE_MS, ['--import', 'tsx']);
  const ready = median(starts.map((s) => s.readyMs));
  const rss = median(starts.map((s) => s.rssKb));
  const compiled: ServerStart[] = [];
  if (process.env.BENCH_COMPILED === '1') {
    log('compiling the runtime with tsc for the no-tsx comparison');
    const c = compiledServer();
    try {
      for (let i = 0; i < 3; i++) compiled.push(await serverStart(IDLE_MS, c.argv));
    } finally {
      c.cleanup();
    }
    for (const [i, s] of compiled.entries())
      say(
        `compiled run ${i + 1}: ready ${fmt(s.readyMs)} ms (server says ${s.selfReportedMs ?? '?'} ms), RSS ${fmt(MiB(s.rssKb))} MiB`,
      );
  }
  say(`bare node -e "": ${fmt(bareStart)} ms; node --import tsx -e "": ${fmt(tsxStart)} ms (loader alone)`);
  say(`bare node idle RSS: ${fmt(MiB(bareRss))} MiB; with --import tsx: ${fmt(MiB(tsxRss))} MiB`);
  const cr = median(compiled.map((s) => s.rssKb));
  const cs = median(compiled.map((s) => s.readyMs));
  rows.push({
    metric: '4. idle RSS, server + children (MiB)',
    value: fmt(MiB(rss)),
    baseline: `${fmt(MiB(bareRss))} (bare node)`,
    target: '<= 100',
    meets: MiB(rss) <= 100,
  });
  if (compiled.length)
    rows.push({
      metric: '   same, compiled runtime (MiB)',
      value: fmt(MiB(cr)),
      baseline: '',
      target: '<= 100',
      meets: MiB(cr) <= 100,
    });
  rows.push(
    { metric: '   idle RSS, node --import tsx (MiB)', value: '', baseline: fmt(MiB(tsxRss)), target: '' },
    {
      metric: '5. start → API ready, median of 3 (ms)',
      value: fmt(ready, 0),
      baseline: `${fmt(bareStart, 0)} (node -e "")`,
      target: '<= 1000',
      meets: ready <= 1000,
    },
  );
  if (compiled.length)
    rows.push({
      metric: '   same, compiled runtime (ms)',
      value: fmt(cs, 0),
      baseline: '',
      target: '<= 1000',
      meets: cs <= 1000,
    });
  rows.push({ metric: '   start, node --import tsx -e "" (ms)', value: '', baseline: fmt(tsxStart, 0), target: '' });
}

async function platformBench() {
  log('baselines: bash and bubblewrap spawns');
  const bash20 = median(await bashSequence(STEPS, 5));
  const bashOne = bash20 / STEPS;
  const bwTrue = median(await bwrapTrue(20));
  const bwBash = median(await bwrapBash(20));
  const bwFirst = median(await bwrapFirstCommand(10));
  const block = median(await spawnBlock(20));
  section('baselines (spawned from node)');
  say(`one spawn() call blocks the event loop for ${fmt(block, 2)} ms (this process forks in the calling thread)`);
  say(`bash -eo pipefail -c true: ${fmt(bashOne, 2)} ms each (${STEPS} in a row: ${fmt(bash20)} ms)`);
  if (hasBwrap) {
    say(`bwrap (executor's arguments) true: ${fmt(bwTrue, 2)} ms; bwrap + bash -c true: ${fmt(bwBash, 2)} ms`);
    say(`spawn bwrap+bash → first command runs: ${fmt(bwFirst, 2)} ms`);
  } else say('bubblewrap is not available here: jobs run unsandboxed, bwrap baselines are n/a');

  const b = await startBench(SLOTS);
  try {
    // 1. per-step overhead
    log(`1. one job of ${STEPS} trivial steps`);
    const st = await perStep(b, STEPS, 5);
    const job = median(st.jobMs);
    const overhead = (job - bash20) / STEPS;
    section(`1. per-step overhead: one job of ${STEPS} × run: "true"`);
    say(
      `job duration (started_at → stopped_at), 5 runs: ${st.jobMs.map((x) => fmt(x, 0)).join(', ')} ms; median ${fmt(job, 0)}`,
    );
    say(`trigger → workflow stopped: median ${fmt(median(st.endToEndMs), 0)} ms`);
    say(
      `phases (medians): queued → claimed ${fmt(st.claimMs)} ms, claimed → first run step ${fmt(st.setupMs)} ms, ` +
        `step start → end ${fmt(st.stepMs)} ms, step end → next start ${fmt(st.gapMs)} ms, last step → job stopped ${fmt(st.teardownMs)} ms`,
    );
    say(
      `marginal cost of one more step: ${fmt(st.stepMs + st.gapMs)} ms (bash alone ${fmt(bashOne)} ms, bwrap + bash ${fmt(bwBash)} ms)`,
    );
    rows.push(
      {
        metric: '1. time per step (ms)',
        value: fmt(job / STEPS, 2),
        baseline: `${fmt(bashOne, 2)} (bash)`,
        target: '',
      },
      {
        metric: '1. per-step overhead (ms)',
        value: fmt(overhead, 2),
        baseline: hasBwrap ? `${fmt(bwBash - bashOne, 2)} (bwrap part)` : 'n/a',
        target: '<= 10',
        meets: overhead <= 10,
      },
    );

    // 2. per-job overhead and throughput
    log(`2. ${JOBS} one-step jobs in one workflow`);
    const fo = await fanout(b, JOBS, 3);
    const wall = median(fo.wallMs);
    const jobsPerSec = JOBS / (wall / 1000);
    const perJob = (SLOTS * wall) / JOBS - bashOne;
    const ideal = hasBwrap ? (SLOTS * 1000) / bwBash : (SLOTS * 1000) / bashOne;
    section(`2. per-job overhead and throughput: ${JOBS} one-step jobs, ${SLOTS} slots`);
    say(`trigger → workflow stopped, 3 runs: ${fo.wallMs.map((x) => fmt(x, 0)).join(', ')} ms; median ${fmt(wall, 0)}`);
    say(
      `first job started → last job stopped: median ${fmt(median(fo.execMs), 0)} ms; trigger → first job started ${fmt(fo.firstStartMs)} ms`,
    );
    say(`job duration (started_at → stopped_at): median ${fmt(fo.jobMs)} ms`);
    say(`per-job overhead = ${SLOTS} slots × wall / ${JOBS} − bash: ${fmt(perJob)} ms`);
    rows.push(
      {
        metric: '2. throughput (jobs/s)',
        value: fmt(jobsPerSec),
        baseline: `${fmt(ideal, 0)} (${SLOTS} × 1/${hasBwrap ? 'bwrap+bash' : 'bash'})`,
        target: '>= 40',
        meets: jobsPerSec >= 40,
      },
      {
        metric: '2. per-job overhead (ms)',
        value: fmt(perJob),
        baseline: hasBwrap ? `${fmt(bwTrue, 2)} (bwrap true)` : 'n/a',
        target: '<= 15',
        meets: perJob <= 15,
      },
    );

    // 3. trigger → first command
    log('3. trigger → first command, idle');
    const idle = await latencyIdle(b, 10);
    log(`3. trigger → first command, burst of ${BURST}`);
    const burst = await latencyBurst(b, BURST);
    const lat = idle.map((s) => s.latencyMs);
    const bl = burst.samples.map((s) => s.latencyMs);
    const phase = (k: keyof (typeof idle)[number]) => fmt(median(idle.map((s) => s[k])));
    section('3. trigger → first command');
    say(`idle, 10 runs: ${lat.map((x) => fmt(x, 0)).join(', ')} ms; median ${fmt(median(lat))}`);
    say(
      `idle phases from the POST (medians): POST answered ${phase('answeredMs')} ms, pipeline created_at ${phase('createdMs')}, ` +
        `job queued_at ${phase('queuedMs')}, claimed (started_at) ${phase('claimedMs')}, step start ${phase('stepStartMs')}, command ${phase('latencyMs')}`,
    );
    say(
      `burst of ${BURST}: all POSTs answered after ${fmt(burst.allAnsweredMs, 0)} ms; latency median ${fmt(median(bl))}, p95 ${fmt(percentile(bl, 95))}, max ${fmt(max(bl))} ms`,
    );
    const bySlot = [...burst.samples].sort((x, y) => x.commandAt - y.commandAt);
    const claimToCmd = burst.samples.map((s) => s.commandAt - s.claimedAt);
    say(
      `burst: first ${SLOTS} commands (free slots, no queueing) after ${bySlot
        .slice(0, SLOTS)
        .map((s) => fmt(s.latencyMs, 0))
        .join(', ')} ms; claimed → command median ${fmt(median(claimToCmd))} ms (queue-free part)`,
    );
    say(
      `burst, sorted: ${[...bl]
        .sort((x, y) => x - y)
        .map((x) => fmt(x, 0))
        .join(', ')}`,
    );
    const base3 = hasBwrap ? `${fmt(bwFirst, 1)} (spawn bwrap+bash)` : 'n/a';
    rows.push(
      {
        metric: '3. trigger → first command, idle median (ms)',
        value: fmt(median(lat)),
        baseline: base3,
        target: '<= 20',
        meets: median(lat) <= 20,
      },
      {
        metric: `3. same, burst of ${BURST}: median (ms)`,
        value: fmt(median(bl)),
        baseline: base3,
        target: '<= 20',
        meets: median(bl) <= 20,
      },
      {
        metric: `3. same, burst of ${BURST}: p95 / max (ms)`,
        value: `${fmt(percentile(bl, 95), 0)} / ${fmt(max(bl), 0)}`,
        baseline: '',
        target: '',
      },
      {
        metric: `3. burst: first ${SLOTS} (free slots) (ms)`,
        value: bySlot
          .slice(0, SLOTS)
          .map((s) => fmt(s.latencyMs, 0))
          .join(' / '),
        baseline: base3,
        target: '',
      },
    );
  } finally {
    await b.close();
  }
}

async function blobBench() {
  const b = await startBench(SLOTS);
  try {
    section('7. output throughput: step → stored output and one live subscriber');
    const o = await outputThroughput(b, OUTPUT_LINES);
    const storedRate = o.lines / (o.storedMs / 1000);
    const liveRate = o.lines / (o.liveMs / 1000);
    say(
      `${o.lines} lines: stored after ${fmt(o.storedMs, 0)} ms, live subscriber had ${o.seenLive} after ${fmt(o.liveMs, 0)} ms; seq alone ${fmt(o.seqMs, 0)} ms`,
    );
    rows.push(
      {
        metric: '7. output → stored (lines/s)',
        value: fmt(storedRate, 0),
        baseline: `${fmt(o.lines / (o.seqMs / 1000), 0)} (seq > /dev/null)`,
        target: '>= 100000',
        meets: storedRate >= 100000,
      },
      {
        metric: '7. output → live subscriber (lines/s)',
        value: fmt(liveRate, 0),
        baseline: '',
        target: '>= 100000',
        meets: liveRate >= 100000,
      },
    );
    section('8. cache save/restore vs tar + gzip of the same folder');
    const c = await cacheThroughput(b, CACHE_MB);
    say(
      `${fmt(c.sizeKb / 1024)} MiB: save_cache ${fmt(c.saveMs, 0)} ms (tar -czf ${fmt(c.tarMs, 0)} ms), restore_cache ${fmt(c.restoreMs, 0)} ms (tar -xzf ${fmt(c.untarMs, 0)} ms)`,
    );
    rows.push(
      {
        metric: '8. save_cache / tar -czf (ratio)',
        value: fmt(c.saveMs / c.tarMs, 2),
        baseline: `${fmt(c.tarMs, 0)} ms`,
        target: '<= 1.5',
        meets: c.saveMs / c.tarMs <= 1.5,
      },
      {
        metric: '8. restore_cache / tar -xzf (ratio)',
        value: fmt(c.restoreMs / c.untarMs, 2),
        baseline: `${fmt(c.untarMs, 0)} ms`,
        target: '<= 1.5',
        meets: c.restoreMs / c.untarMs <= 1.5,
      },
    );
  } finally {
    await b.close();
  }
}

async function main() {
  const started = performance.now();
  process.stdout.write(
    `Roundhouse bench: node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), bubblewrap ${hasBwrap ? 'yes' : 'no'}\n`,
  );
  process.stdout.write(
    `Load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on the machine skews every figure)\n`,
  );
  process.stdout.write('Figures are informational: printed beside their baseline, never asserted.\n');
  if (want('1', '2', '3')) await platformBench();
  if (want('4', '5')) await processBench();
  if (want('6')) section('6. compile throughput (conformance corpus)');
  const c = want('6') ? await compileCorpus() : undefined;
  if (!c) {
    if (want('6')) say('skipped: ../shared/conformance is not here');
  } else {
    say(`${c.files} configs: compile ${fmt(c.compileMs)} ms, YAML parse alone ${fmt(c.parseMs)} ms (best of 5)`);
    rows.push({
      metric: '6. compile the corpus (ms)',
      value: fmt(c.compileMs),
      baseline: `${fmt(c.parseMs)} (YAML parse)`,
      target: '< 1000',
      meets: c.compileMs < 1000,
    });
  }
  if (want('7', '8')) await blobBench();
  if (want('9')) section('9. stacks: Pulumi program under mocks, per cloud (fresh process each)');
  for (const r of want('9') ? await benchStacks() : []) {
    say(`${r.cloud}: ${fmt(r.ms, 0)} ms`);
    rows.push({
      metric: `9. stacks mock run, ${r.cloud} (ms)`,
      value: fmt(r.ms, 0),
      baseline: '',
      target: '< 5000',
      meets: r.ms < 5000,
    });
  }
  section('summary');
  process.stdout.write(`${renderTable(rows)}\n`);
  process.stdout.write(
    `\nbench took ${fmt((performance.now() - started) / 1000)} s; load average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
