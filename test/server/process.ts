import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../runtime/bin/roundhouse.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Runs `roundhouse server` as its own process, as an operator would, and waits until it answers. */
export async function spawnServer(env: Record<string, string>, port: number): Promise<ServerProcess> {
  let out = '';
  let err = '';
  const child = spawn(process.execPath, [BIN, 'server'], {
    env: { ...process.env, ROUNDHOUSE_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${err}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > end) throw new Error(`server did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, stdout: () => out, stderr: () => err, exited };
}
