import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClaimedJob } from '../protocol/executor.js';
import type { Background, JobDriver, JobEnvironment } from './driver.js';
import { DEFAULT_PATH } from './env.js';
import { Launcher } from './launcher.js';
import { podmanAvailable, RemoteDocker } from './remote-docker.js';
import { killTree, Sandbox, type SandboxKind, writeIdentityFiles } from './sandbox.js';
import { JobShell } from './shell.js';

/**
 * The `local` driver: each node runs in a bubblewrap sandbox on this machine, with the host's tools
 * (or as plain processes where bubblewrap is unavailable). A small launcher shell per executor slot
 * starts sandboxes, and a sandbox is started ahead for the next job.
 */
export class LocalDriver implements JobDriver {
  readonly name = 'local';
  readonly #launcher = new Launcher();
  #closed = false;
  #warm: Promise<{ sandbox: Sandbox; shell: JobShell } | undefined> | undefined;

  constructor(
    readonly sandbox: SandboxKind,
    readonly workDir: string,
  ) {}

  idle() {
    if (this.#closed || this.#warm) return;
    const sandbox = new Sandbox(this.sandbox, join(this.workDir, `slot-${randomBytes(6).toString('hex')}`));
    this.#warm = (async () => {
      mkdirSync(join(sandbox.dir, 'home'), { recursive: true });
      mkdirSync(join(sandbox.dir, 'tmp'), { recursive: true });
      if (sandbox.kind === 'bwrap') writeIdentityFiles(sandbox.dir);
      return { sandbox, shell: await JobShell.start(sandbox, this.#launcher) };
    })().catch(() => {
      void rm(sandbox.dir, { recursive: true, force: true });
      return undefined;
    });
  }

  async close() {
    this.#closed = true;
    const warm = await this.#warm;
    this.#warm = undefined;
    if (warm) {
      warm.shell.kill();
      await rm(warm.sandbox.dir, { recursive: true, force: true });
    }
    this.#launcher.close();
  }

  /** Registers every directory the job uses with the sandbox; returns the job's working directory. */
  #layout(sandbox: Sandbox, job: ClaimedJob, create: boolean): string {
    const dirs: string[] = [];
    const workdir = sandbox.resolve(job.plan.working_directory);
    dirs.push(sandbox.hostPath(workdir));
    for (const step of job.plan.steps) {
      const d = step.type === 'checkout' ? step.path : step.type === 'run' ? step.working_directory : undefined;
      if (d) dirs.push(sandbox.hostPath(sandbox.resolve(d, workdir)));
    }
    // A project whose repository is a path on this machine is cloned from that path, read-only.
    if (job.plan.steps.some((s) => s.type === 'checkout')) {
      const url = job.project.repo_url;
      const local = url.startsWith('file://') ? new URL(url).pathname : url;
      if (local.startsWith('/')) sandbox.readOnly(local);
    }
    if (create) {
      for (const d of [join(sandbox.dir, 'home'), join(sandbox.dir, 'tmp'), ...dirs]) mkdirSync(d, { recursive: true });
      if (sandbox.kind === 'bwrap') writeIdentityFiles(sandbox.dir);
    }
    return workdir;
  }

  async setUp(job: ClaimedJob, node: number): Promise<JobEnvironment> {
    // The sandbox started ahead serves one job's first node, unless the job needs more mounts.
    let warm = node === 0 ? await this.#warm : undefined;
    if (node === 0) this.#warm = undefined;
    if (
      warm &&
      new Sandbox(warm.sandbox.kind, warm.sandbox.dir).extraMountsFor((probe) => this.#layout(probe, job, false))
    ) {
      this.#warm = Promise.resolve(warm);
      warm = undefined;
    }
    const sandbox = warm?.sandbox ?? new Sandbox(this.sandbox, join(this.workDir, `${job.id}-${job.attempt}-${node}`));
    try {
      this.#layout(sandbox, job, true);
      const shell = warm?.shell ?? (await JobShell.start(sandbox, this.#launcher));
      return new LocalEnvironment(sandbox, shell);
    } catch (e) {
      await rm(sandbox.dir, { recursive: true, force: true });
      throw e;
    }
  }
}

class LocalEnvironment implements JobEnvironment {
  readonly driver = 'local';
  readonly #background = new Set<ReturnType<Sandbox['spawn']>>();

  constructor(
    readonly sandbox: Sandbox,
    readonly shell: JobShell,
  ) {}

  get home() {
    return this.sandbox.home;
  }
  get tmp() {
    return this.sandbox.tmp;
  }
  get baseEnv() {
    return { HOME: this.home, TMPDIR: this.tmp, USER: 'circleci', SHELL: '/bin/bash', PATH: DEFAULT_PATH };
  }
  resolve(path: string, base?: string) {
    return this.sandbox.resolve(path, base);
  }
  hostPath(path: string) {
    return this.sandbox.hostPath(path);
  }
  async pull(path: string) {
    const host = this.sandbox.hostPath(path);
    return existsSync(host) ? host : undefined;
  }

  background(
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    onOutput: (stream: 'out' | 'err', data: string) => void,
  ): Background {
    // It runs beside the job shell, in its own sandbox process over the same files and network.
    const child = this.sandbox.spawn(argv, cwd, env);
    this.#background.add(child);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => onOutput('out', d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => onOutput('err', d));
    const done = new Promise<number | null>((resolve) => {
      child.on('error', (e) => {
        onOutput('err', `cannot start ${argv[0]}: ${e.message}\n`);
      });
      child.on('close', (code) => {
        this.#background.delete(child);
        resolve(code);
      });
    });
    return { done, kill: () => killTree(child) };
  }

  describe() {
    return this.sandbox.kind === 'none'
      ? [
          "WARNING: NOT SANDBOXED. bubblewrap is not available (or ROUNDHOUSE_SANDBOX=none): this job runs as a plain process with the server user's rights, in a per-job directory.",
        ]
      : [
          'Sandbox: bubblewrap, fresh user/mount/pid/ipc namespaces per job; the system is read-only, only the job directory is writable, and it is deleted after the job.',
        ];
  }

  #docker: RemoteDocker | undefined;
  async remoteDocker(): Promise<string> {
    if (!podmanAvailable()) throw new Error('Podman is not installed on this executor');
    const socket = `${this.tmp}/.rh-docker.sock`;
    this.#docker ??= new RemoteDocker(`${this.sandbox.dir}-docker`, this.hostPath(socket));
    await this.#docker.start();
    return socket;
  }

  async tearDown() {
    this.shell.kill();
    await this.#docker?.stop();
    for (const c of this.#background) killTree(c);
    await rm(this.sandbox.dir, { recursive: true, force: true });
  }
}
