import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PATH } from '../../runtime/src/executor/env.js';
import { bwrapWorks, SANDBOX_HOME, Sandbox } from '../../runtime/src/executor/sandbox.js';
import { exited, sleep, timeChild, timeRun, treeRss } from './lib.js';

/** What the same work costs without Roundhouse: plain bash, plain bubblewrap, plain node. */

export const hasBwrap = bwrapWorks();

const BASH = ['-eo', 'pipefail', '-c', 'true'];
const ENV = { PATH: DEFAULT_PATH };

/** Wall ms of `bash -eo pipefail -c true` run `n` times in a row from node (one sample per repeat). */
export async function bashSequence(n: number, repeats: number): Promise<number[]> {
  const totals: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await timeRun('/bin/bash', BASH, ENV);
    totals.push(performance.now() - t0);
  }
  return totals;
}

/** A throwaway bubblewrap sandbox built exactly as the executor builds one (same arguments). */
function withSandbox<T>(fn: (sb: Sandbox) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'rh-bench-sb-'));
  mkdirSync(join(dir, 'home'));
  mkdirSync(join(dir, 'tmp'));
  return fn(new Sandbox('bwrap', dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** Wall ms per start-to-exit of `argv` in the executor's bubblewrap sandbox. */
export async function bwrapRuns(argv: string[], n: number): Promise<number[]> {
  if (!hasBwrap) return [];
  return withSandbox(async (sb) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      out.push(await timeChild(sb.spawn(argv, SANDBOX_HOME, ENV), t0));
    }
    return out;
  });
}

export const bwrapTrue = (n: number) => bwrapRuns(['true'], n);
export const bwrapBash = (n: number) => bwrapRuns(['/bin/bash', ...BASH], n);

/** ms from just before spawning bwrap+bash to the first command of the script running (its $EPOCHREALTIME). */
export async function bwrapFirstCommand(n: number): Promise<number[]> {
  if (!hasBwrap) return [];
  return withSandbox(async (sb) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = Date.now();
      const child = sb.spawn(['/bin/bash', '-eo', 'pipefail', '-c', 'echo "$EPOCHREALTIME"'], SANDBOX_HOME, ENV);
      let text = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
      await exited(child);
      out.push(Number(text.trim()) * 1000 - t0);
    }
    return out;
  });
}

/**
 * How long one `spawn()` call blocks this process's event loop (libuv forks in the calling thread
 * and waits for the exec): the cost every executor step and git call puts on the whole platform.
 */
export async function spawnBlock(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const child = spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
    out.push(performance.now() - t0);
    await timeChild(child, t0);
  }
  return out;
}

/** Wall ms of `node -e ""` start to exit. */
export async function nodeStart(n: number, extraArgs: string[] = []): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await timeRun(process.execPath, [...extraArgs, '-e', '']));
  return out;
}

/** RSS (kB) of an idle `node -e "setInterval(...)"` after `idleMs`. */
export async function idleNodeRss(idleMs: number, extraArgs: string[] = []): Promise<number> {
  const child = spawn(process.execPath, [...extraArgs, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(idleMs);
    return treeRss(child.pid!).totalKb;
  } finally {
    child.kill('SIGKILL');
    await exited(child).catch(() => null);
  }
}
