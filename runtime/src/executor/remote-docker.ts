import { type ChildProcess, type StdioOptions, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether this machine can start a private Docker-compatible engine (Podman) for setup_remote_docker. */
let available: boolean | undefined;
export function podmanAvailable(): boolean {
  available ??= spawnSync('podman', ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  return available;
}

/**
 * A Docker engine of one job's own: a Podman API service with its own storage (vfs, no mounts left
 * behind) under `dir`, listening on `socket` (a path inside the job's shared directory). Its
 * containers share nothing with the executor's engine; stop() removes them, the service and its
 * storage.
 */
export class RemoteDocker {
  #child: ChildProcess | undefined;
  /** Podman wants its run root under 50 characters: a short directory of its own in /tmp. */
  #runroot = '';
  constructor(
    readonly dir: string,
    readonly socket: string,
  ) {}

  /** podman on this engine's own storage and configuration. */
  #podman(args: string[], stdio: StdioOptions): ChildProcess {
    return spawn(
      'podman',
      ['--root', join(this.dir, 'root'), '--runroot', this.#runroot, '--storage-driver', 'vfs', ...args],
      { env: { ...process.env, CONTAINERS_CONF: join(this.dir, 'containers.conf') }, stdio, detached: true },
    );
  }

  async start(timeoutMs = 20000): Promise<void> {
    mkdirSync(join(this.dir, 'root'), { recursive: true });
    this.#runroot ||= mkdtempSync('/tmp/rhd-');
    // runc and cgroupfs: what works on hosts with a hybrid cgroup layout (crun does not).
    writeFileSync(
      join(this.dir, 'containers.conf'),
      '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
    );
    this.#child = this.#podman(
      ['system', 'service', '--time=0', `unix://${this.socket}`],
      ['ignore', 'ignore', 'pipe'],
    );
    let stderr = '';
    this.#child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    const end = Date.now() + timeoutMs;
    while (!existsSync(this.socket)) {
      if (this.#child.exitCode !== null)
        throw new Error(
          `the Docker engine (podman system service) exited at start: ${stderr.trim().split('\n').pop() ?? ''}`,
        );
      if (Date.now() > end) throw new Error('the Docker engine did not start in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    // The job's user may be anyone: the socket is the job's alone (it lives in the job's directory).
    chmodSync(this.socket, 0o666);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child && child.exitCode === null) {
      // Containers first (their helper processes outlive the service otherwise), then the service.
      // Waited for without blocking: in embedded mode this process also serves the API.
      const rm = this.#podman(['rm', '-af', '-t', '0'], 'ignore');
      const timer = setTimeout(() => rm.kill('SIGKILL'), 30000);
      await new Promise((resolve) => rm.on('close', resolve).on('error', resolve));
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(this.dir, { recursive: true, force: true });
    if (this.#runroot) await rm(this.#runroot, { recursive: true, force: true });
  }
}
