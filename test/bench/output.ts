import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN } from '../helpers/server.js';
import type { Bench } from './platform.js';
import { log } from './lib.js';
import { addProject } from './platform.js';

/**
 * 7. Output throughput: one step prints N lines (`seq`); measured from the step's start until the
 *    last line is stored (the job is reported finished after its output) and until one live
 *    subscriber (the UI's server-sent event stream) has received every line.
 * 8. Cache throughput: save_cache and restore_cache of one folder, beside plain `tar -czf` and
 *    `tar -xzf` of the same folder on this machine.
 */
export async function outputThroughput(b: Bench, lines: number) {
  const slug = await addProject(
    b,
    'output',
    `version: 2.1\njobs:\n  out:\n    docker: [{image: x}]\n    steps:\n      - run: {name: lines, command: seq 1 ${lines}}\nworkflows:\n  w: {jobs: [out]}\n`,
  );
  const { server } = b;
  const p = (await server.api('POST', `/api/v2/project/${slug}/pipeline`, {})).body;
  const job = await server.waitFor(async () => {
    const w = (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0];
    const j = w ? (await server.api('GET', `/api/v2/workflow/${w.id}/job`)).body.items[0] : undefined;
    return j?.id ? j : undefined;
  }, 'the output job to exist');
  // One live subscriber, as a browser on the job page.
  const res = await fetch(`${server.url}/api/ui/jobs/${job.id}/stream?circle-token=${ADMIN_TOKEN}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let seen = 0;
  let buf = '';
  let liveDone = 0;
  const counting = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let at = buf.indexOf('\n\n');
      while (at >= 0) {
        const event = buf.slice(0, at);
        buf = buf.slice(at + 2);
        at = buf.indexOf('\n\n');
        const kind = /^event: (.*)$/m.exec(event)?.[1];
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (!data) continue;
        const d = JSON.parse(data);
        const texts: string[] =
          kind === 'snapshot'
            ? d.output.filter((o: { stepIdx: number }) => o.stepIdx === 2).map((o: { data: string }) => o.data)
            : kind === 'output' && d.stepIdx === 2
              ? [d.data]
              : [];
        for (const t of texts) for (const ch of t) if (ch === '\n') seen++;
        if (seen >= lines && !liveDone) {
          liveDone = Date.now();
          await reader.cancel();
          return;
        }
      }
    }
  })();
  await server.waitFor(
    async () => ['success', 'failed'].includes((await server.store.job(job.id))?.status ?? '') || undefined,
    'the output job to finish',
    300000,
  );
  await Promise.race([counting, new Promise((r) => setTimeout(r, 30000))]);
  const steps = await server.store.stepsOfJob(job.id);
  const step = steps.find((s) => s.idx === 2)!;
  const row = (await server.store.job(job.id))!;
  const started = Date.parse(step.started_at!);
  const storedMs = Date.parse(row.stopped_at!) - started;
  const liveMs = liveDone ? liveDone - started : Number.NaN;
  // Baseline: the same lines written to a file by the same shell, no platform.
  const t0 = performance.now();
  spawnSync('/bin/sh', ['-c', `seq 1 ${lines} > /dev/null`]);
  const seqMs = performance.now() - t0;
  return { lines, storedMs, liveMs, seenLive: seen, seqMs };
}

export async function cacheThroughput(b: Bench, megabytes: number) {
  // Half compressible text, half random bytes, in 200 files.
  const gen = `mkdir -p data && i=0; while [ $i -lt 200 ]; do seq 1 $((${megabytes} * 2600)) > data/t$i.txt; head -c $((${megabytes} * 2600)) /dev/urandom > data/r$i.bin; i=$((i+1)); done; du -sk data`;
  const slug = await addProject(
    b,
    'cache',
    `version: 2.1
jobs:
  save:
    docker: [{image: x}]
    steps:
      - run: {name: make data, command: '${gen}'}
      - save_cache: {key: 'bench-{{ epoch }}', paths: [data]}
  restore:
    docker: [{image: x}]
    steps:
      - restore_cache: {keys: [bench-]}
workflows:
  w: {jobs: [save, {restore: {requires: [save]}}]}
`,
  );
  const { server } = b;
  const p = (await server.api('POST', `/api/v2/project/${slug}/pipeline`, {})).body;
  const [wf] = await server.waitForPipeline(p.id, 300000);
  const stepMs = async (name: string, type: string) => {
    const j = wf.jobs.find((x) => x.name === name)!;
    const s = (await server.store.stepsOfJob(j.id)).find((x) => x.type === type)!;
    return Date.parse(s.stopped_at!) - Date.parse(s.started_at!);
  };
  const saveMs = await stepMs('save', 'save_cache');
  const restoreMs = await stepMs('restore', 'restore_cache');
  // Baseline: the same folder made and archived with plain tar + gzip, then unpacked.
  const dir = mkdtempSync(join(tmpdir(), 'rh-bench-cache-'));
  try {
    spawnSync('/bin/sh', ['-c', gen], { cwd: dir });
    const t0 = performance.now();
    spawnSync('tar', ['-czf', join(dir, 'a.tgz'), 'data'], { cwd: dir });
    const tarMs = performance.now() - t0;
    rmSync(join(dir, 'data'), { recursive: true });
    const t1 = performance.now();
    spawnSync('tar', ['-xzf', join(dir, 'a.tgz')], { cwd: dir });
    const untarMs = performance.now() - t1;
    const size = spawnSync('du', ['-sk', join(dir, 'data')], { encoding: 'utf8' }).stdout.split('\t')[0];
    log(`cache bench folder: ${size} KiB`);
    return { saveMs, restoreMs, tarMs, untarMs, sizeKb: Number(size) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
