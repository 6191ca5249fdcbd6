import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Small measuring helpers for the bench: statistics, process spawning, memory and ports. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
export const max = (xs: number[]) => (xs.length ? Math.max(...xs) : Number.NaN);
export const min = (xs: number[]) => (xs.length ? Math.min(...xs) : Number.NaN);

/** Milliseconds since the epoch of an ISO timestamp (or NaN). */
export const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : Number.NaN);

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Waits for a child to exit; resolves with its exit code (or null when killed by a signal). */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}

/** Runs a command to completion with piped stdio (as the executor does); returns wall ms. */
export async function timeRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout!.resume();
  child.stderr!.resume();
  const code = await exited(child);
  const t = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}`);
  return t;
}

/** Times an already spawned child from `t0` (performance.now()) to its exit. */
export async function timeChild(child: ChildProcess, t0: number): Promise<number> {
  child.stdout?.resume();
  child.stderr?.resume();
  const code = await exited(child);
  const t = performance.now() - t0;
  if (code !== 0) throw new Error(`child ${child.spawnargs.join(' ')} exited with ${code}`);
  return t;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Fields after the command (which may hold spaces) start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // The process went away while we looked.
    }
  }
  return out;
}

export interface ProcRss {
  readonly pid: number;
  readonly name: string;
  readonly rssKb: number;
}

/** VmRSS of a process and all its descendants (summed RSS counts shared pages once per process). */
export function treeRss(pid: number): { totalKb: number; processes: ProcRss[] } {
  const processes: ProcRss[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
      processes.push({ pid: p, name, rssKb: rss ? Number(rss[1]) : 0 });
    } catch {
      continue;
    }
    queue.push(...children(p));
  }
  return { totalKb: processes.reduce((a, p) => a + p.rssKb, 0), processes };
}

/** Polls `url` until it answers 2xx; resolves with performance.now() at that moment. */
export async function waitHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return performance.now();
    } catch {
      // not listening yet
    }
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${url} answered`);
    if (performance.now() > end) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** Stops a child we started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child).catch(() => null);
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(t);
}

export interface TableRow {
  readonly metric: string;
  readonly value: string;
  readonly baseline: string;
  readonly target: string;
  /** true/false when there is a target to meet; undefined for informational rows. */
  readonly meets?: boolean;
}

export function renderTable(rows: TableRow[]): string {
  const head = ['metric', 'Roundhouse', 'baseline', 'target', 'meets target'];
  const body = rows.map((r) => [
    r.metric,
    r.value,
    r.baseline,
    r.target,
    r.meets === undefined ? '-' : r.meets ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
