import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Background, JobDriver, JobEnvironment } from '../../runtime/src/executor/driver.js';
import { DEFAULT_PATH } from '../../runtime/src/executor/env.js';
import { JobShell, wrapperScript } from '../../runtime/src/executor/shell.js';
import type { ClaimedJob } from '../../runtime/src/protocol/executor.js';

/**
 * A test double of the driver interface (driver.ts): no sandbox, no containers — each node is a
 * temporary directory and a plain /bin/sh supervisor — and every lifecycle call is recorded, so
 * tests can check the order of set up, steps and tear down, or make set up fail on purpose.
 */
export class FakeDriver implements JobDriver {
  readonly name = 'docker';
  readonly calls: { call: string; job?: string; node?: number; at: number }[] = [];
  /** When set, setUp fails with this message. */
  failSetUp: string | undefined;
  readonly root = mkdtempSync(join(tmpdir(), 'rh-fake-driver-'));

  async setUp(job: ClaimedJob, node: number, say: (text: string) => void): Promise<JobEnvironment> {
    this.calls.push({ call: 'setUp', job: job.id, node, at: Date.now() });
    if (this.failSetUp) throw new Error(this.failSetUp);
    say('fake driver: no isolation (test double)\n');
    const dir = join(this.root, `${job.id}-${node}`);
    mkdirSync(join(dir, 'home'), { recursive: true });
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    return new FakeEnvironment(this, dir, job.id, node);
  }

  async close() {
    await rm(this.root, { recursive: true, force: true });
  }
}

class FakeEnvironment implements JobEnvironment {
  readonly driver = 'docker';
  readonly shell: JobShell;
  readonly baseEnv: Record<string, string>;
  #pid = 0;

  constructor(
    readonly fake: FakeDriver,
    readonly dir: string,
    readonly job: string,
    readonly node: number,
  ) {
    this.shell = JobShell.attach(join(dir, 'tmp'), () => {
      if (this.#pid)
        try {
          process.kill(-this.#pid, 'SIGKILL');
        } catch {
          // gone
        }
    });
    const fifo = (f: string, flags: string) => openSync(join(dir, 'tmp', f), flags === 'r' ? 'r+' : 'r+');
    const fds = [fifo('.rh-in', 'r'), fifo('.rh-out', 'w'), fifo('.rh-err', 'w'), fifo('.rh-ctl', 'r')];
    const child = spawn('setsid', this.shell.supervisorArgv(this.tmp), {
      stdio: fds,
      env: { PATH: DEFAULT_PATH },
      cwd: this.home,
    });
    for (const fd of fds) closeSync(fd);
    this.#pid = child.pid ?? 0;
    child.on('exit', () => this.shell.exited());
    this.baseEnv = { HOME: this.home, PATH: DEFAULT_PATH };
  }

  get home() {
    return join(this.dir, 'home');
  }
  get tmp() {
    return join(this.dir, 'tmp');
  }
  resolve(path: string, base?: string) {
    const p = path === '~' ? this.home : path.startsWith('~/') ? join(this.home, path.slice(2)) : path;
    return p.startsWith('/') ? p : join(base ?? this.home, p);
  }
  hostPath(path: string) {
    return path;
  }
  async pull(path: string) {
    return existsSync(path) ? path : undefined;
  }
  background(
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    onOutput: (stream: 'out' | 'err', data: string) => void,
  ): Background {
    const child = spawn('/bin/sh', ['-c', wrapperScript(cwd, env, argv.slice(0, -1), argv[argv.length - 1])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => onOutput('out', d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => onOutput('err', d));
    return { done: new Promise((r) => child.on('close', (c) => r(c))), kill: () => child.kill('SIGKILL') };
  }
  describe() {
    return ['fake driver (test double)'];
  }
  async tearDown() {
    this.fake.calls.push({ call: 'tearDown', job: this.job, node: this.node, at: Date.now() });
    this.shell.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
