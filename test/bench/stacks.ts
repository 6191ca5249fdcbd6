/**
 * Mock-run time of the Pulumi program per cloud: `stacks/index.ts` with each example stack file under
 * `pulumi.runtime.setMocks` (no Pulumi CLI or cloud here), each in a fresh `node --import tsx` process
 * because a program module runs once per process. Wall time covers node, tsx, the Pulumi SDK and the
 * whole plan; the child also reports how long the program itself took. Target: under 5 s per cloud.
 *
 *   node --import tsx test/bench/stacks.ts            # prints the results
 *   node --import tsx test/bench/stacks.ts --child aws # one mock run (what the bench spawns)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
export const STACK_TARGET_MS = 5000;
const CLOUDS = ['aws', 'gcp'] as const;

interface ChildReport {
  readonly resources: number;
  readonly programMs: number;
}

/** One mock run in a fresh process; wall time from spawn to exit. */
async function timeCloud(cloud: string): Promise<{ ms: number; report: ChildReport }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', cloud], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`mock run of ${cloud} exited ${code}:\n${err}`);
  return { ms, report: JSON.parse(out.trim().split('\n').pop() ?? '{}') as ChildReport };
}

/** Wall time of one mock run per cloud, each in its own process. */
export async function benchStacks(): Promise<{ cloud: string; ms: number }[]> {
  const results: { cloud: string; ms: number }[] = [];
  for (const cloud of CLOUDS) results.push({ cloud, ms: (await timeCloud(cloud)).ms });
  return results;
}

async function child(cloud: string) {
  const t0 = performance.now();
  const { runProgram } = await import('../stacks/helpers.js');
  const run = await runProgram({ stackFile: `Pulumi.${cloud}-staging.yaml`, stack: `${cloud}-staging` });
  const report: ChildReport = { resources: run.resources.length, programMs: performance.now() - t0 };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

async function standalone() {
  for (const cloud of CLOUDS) {
    const { ms, report } = await timeCloud(cloud);
    const verdict = ms < STACK_TARGET_MS ? 'within' : 'OVER';
    process.stdout.write(
      `stacks mock run ${cloud}: ${ms.toFixed(0)} ms wall (program ${report.programMs.toFixed(0)} ms, ` +
        `${report.resources} resources), ${verdict} the ${STACK_TARGET_MS} ms target\n`,
    );
  }
}

if (process.argv[1] === SELF) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) await child(process.argv[at + 1]);
  else await standalone();
}
