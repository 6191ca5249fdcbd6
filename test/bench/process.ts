import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type ProcRss, sleep, stopChild, treeRss, waitHttp } from './lib.js';

/** The real `roundhouse server` as a child process: start → API ready, and idle memory. */

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(ROOT, 'runtime', 'bin', 'roundhouse.js');

export interface ServerStart {
  /** Spawn → first successful GET /healthz, ms. */
  readonly readyMs: number;
  /** What the server itself printed as its start time ("ready in N ms"), if it did. */
  readonly selfReportedMs: number | undefined;
  /** Summed VmRSS (kB) of the server and its descendants after `idleMs` idle. */
  readonly rssKb: number;
  readonly processes: ProcRss[];
}

/** Starts the server (`argv` after node; default: the roundhouse bin), waits for /healthz, idles, reads RSS, stops it. */
/** The server as `npm start` and the `roundhouse` command run it (same node flags). */
export async function serverStart(
  idleMs: number,
  argv: string[] = ['--max-semi-space-size=2', BIN, 'server'],
): Promise<ServerStart> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rh-bench-srv-'));
  const port = await freePort();
  let output = '';
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: {
      ...process.env,
      ROUNDHOUSE_DATA_DIR: dataDir,
      ROUNDHOUSE_PORT: String(port),
      ROUNDHOUSE_DEMO: '0',
      ROUNDHOUSE_ADMIN_TOKEN: 'bench-admin-token-0123456789',
      ROUNDHOUSE_EXECUTOR_SLOTS: '2',
      ROUNDHOUSE_DRAIN_SECONDS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  try {
    const ready = await waitHttp(`http://127.0.0.1:${port}/healthz`, 30000, child).catch((e) => {
      throw new Error(`${(e as Error).message}\n${output}`);
    });
    const readyMs = ready - t0;
    await sleep(idleMs);
    const { totalKb, processes } = treeRss(child.pid!);
    const self = /ready in (\d+) ms/.exec(output);
    return { readyMs, selfReportedMs: self ? Number(self[1]) : undefined, rssKb: totalKb, processes };
  } finally {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * For comparison only (BENCH_COMPILED=1): the runtime compiled by tsc into a temporary directory,
 * started without the tsx loader. Returns the node arguments that start its server, and a cleanup.
 */
export function compiledServer(): { argv: string[]; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rh-bench-dist-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const outDir = join(dir, 'runtime', 'dist');
    execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    cpSync(join(ROOT, 'runtime', 'ui'), join(dir, 'runtime', 'ui'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    const main = join(outDir, 'cli', 'main.js');
    return {
      argv: ['--input-type=module', '-e', `const m = await import(${JSON.stringify(main)}); await m.run(['server']);`],
      cleanup,
    };
  } catch (e) {
    cleanup();
    const err = e as { stdout?: Buffer; message: string };
    throw new Error(`compiling the runtime failed: ${err.stdout?.toString() || err.message}`);
  }
}
