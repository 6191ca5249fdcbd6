import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

export const TEST_IMAGE = 'localhost/rh-busybox:1';

export interface Podman {
  /** The Docker-compatible API socket. */
  readonly socket: string;
  readonly docker: Docker;
  close(): Promise<void>;
}

/**
 * Starts a real Podman API service (runc, cgroupfs, as RECIPES.md says works on these machines) on a
 * private socket and makes sure the test image exists. Returns a reason string when Podman cannot
 * run here, so callers can skip with it.
 */
export async function startPodman(): Promise<Podman | string> {
  if (spawnSync('podman', ['--version'], { stdio: 'ignore' }).status !== 0)
    return 'podman is not installed (apt-get install podman runc busybox-static)';
  if (spawnSync('busybox', ['true'], { stdio: 'ignore' }).status !== 0 && !existsSync('/bin/busybox'))
    return 'busybox is not installed (apt-get install busybox-static)';
  const dir = mkdtempSync(join(tmpdir(), 'rh-podman-'));
  const conf = join(dir, 'containers.conf');
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
  );
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const built = spawnSync('sh', [join(import.meta.dirname, '..', 'fixtures', 'podman-image.sh')], {
    env,
    encoding: 'utf8',
  });
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `could not build the test image: ${built.stderr.trim().split('\n').pop()}`;
  }
  const socket = join(dir, 'podman.sock');
  const child: ChildProcess = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], {
    env,
    stdio: 'ignore',
    detached: true,
  });
  const docker = new Docker({ socketPath: socket });
  const end = Date.now() + 20000;
  for (;;) {
    try {
      if (existsSync(socket)) {
        await docker.ping();
        break;
      }
    } catch {
      // not yet
    }
    if (child.exitCode !== null || Date.now() > end) {
      rmSync(dir, { recursive: true, force: true });
      return 'podman system service did not start';
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    docker,
    async close() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
