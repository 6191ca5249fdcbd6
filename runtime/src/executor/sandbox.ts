import { type ChildProcess, type StdioOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Home directory of the job inside the sandbox, as on CircleCI's convenience images. */
export const SANDBOX_HOME = '/home/circleci';

export type SandboxKind = 'bwrap' | 'none';

/** Whether bubblewrap is installed and can create namespaces on this machine. */
export function bwrapWorks(): boolean {
  const r = spawnSync(
    'bwrap',
    [
      '--ro-bind',
      '/',
      '/',
      '--unshare-pid',
      '--unshare-user',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--die-with-parent',
      'true',
    ],
    { stdio: 'ignore', timeout: 5000 },
  );
  return r.status === 0;
}

export function chooseSandbox(setting: 'bwrap' | 'none' | 'auto'): SandboxKind {
  if (setting === 'none') return 'none';
  if (bwrapWorks()) return 'bwrap';
  if (setting === 'bwrap')
    throw new Error(
      'ROUNDHOUSE_SANDBOX=bwrap but bubblewrap is not installed or cannot create namespaces here (install the bubblewrap package, or set ROUNDHOUSE_SANDBOX=none)',
    );
  return 'none';
}

/**
 * One job's sandbox: a per-job directory on the host that holds the job's home, /tmp and any other
 * directories it writes. With bubblewrap every process of the job runs in fresh user, mount, pid,
 * ipc and uts namespaces where the system is read-only and only these directories are writable;
 * the directory is deleted when the job ends. Without bubblewrap, processes run unconfined with
 * HOME and TMPDIR inside the job directory.
 */
export class Sandbox {
  /** Extra writable directories (sandbox path → host path). */
  readonly #binds = new Map<string, string>();
  /** Host paths visible read-only at the same path (e.g. a project's local repository). */
  readonly #readOnly = new Set<string>();

  /** Whether the job needs mounts beyond home and /tmp (which a sandbox started in advance lacks). */
  get extraMounts(): boolean {
    return this.kind === 'bwrap' && this.#binds.size + this.#readOnly.size > 0;
  }

  /** Whether laying a job out (as `layout` does on this sandbox) needs mounts beyond home and /tmp. */
  extraMountsFor(layout: (probe: Sandbox) => void): boolean {
    layout(this);
    return this.extraMounts;
  }

  /** Makes a host path visible, read-only, at the same path inside the sandbox. */
  readOnly(path: string) {
    if (existsSync(path)) this.#readOnly.add(path);
  }

  constructor(
    readonly kind: SandboxKind,
    readonly dir: string,
  ) {}

  get home() {
    return this.kind === 'bwrap' ? SANDBOX_HOME : join(this.dir, 'home');
  }
  get tmp() {
    return this.kind === 'bwrap' ? '/tmp' : join(this.dir, 'tmp');
  }

  /** Expands `~` and makes a job path concrete: what the job's processes see. */
  resolve(path: string, base?: string): string {
    let p = path === '~' ? this.home : path.startsWith('~/') ? join(this.home, path.slice(2)) : path;
    if (!p.startsWith('/')) p = join(base ?? this.home, p);
    if (this.kind === 'none' && !p.startsWith(this.dir)) p = join(this.dir, 'fs', p);
    return p;
  }

  /** The host path behind a sandbox path, registering a writable bind when it lies outside home and /tmp. */
  hostPath(p: string): string {
    if (this.kind === 'none') return p;
    const under = (root: string) => p === root || p.startsWith(`${root}/`);
    if (under(SANDBOX_HOME)) return join(this.dir, 'home', p.slice(SANDBOX_HOME.length));
    if (under('/tmp')) return join(this.dir, 'tmp', p.slice(4));
    for (const [inside, host] of this.#binds) if (under(inside)) return join(host, p.slice(inside.length));
    if (['/usr', '/etc', '/proc', '/dev'].some(under)) throw new Error(`${p} is read-only in the sandbox`);
    const host = join(this.dir, 'fs', p);
    this.#binds.set(p, host);
    return host;
  }

  /**
   * Starts a process of the job in its own process group. `cwd` is a sandbox path whose host
   * directory exists; every directory outside home and /tmp the job will use must have been passed
   * through hostPath() before, as the sandbox's mounts are fixed when it starts.
   */
  spawn(
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    stdio: StdioOptions = ['ignore', 'pipe', 'pipe'],
  ): ChildProcess {
    const [cmd, ...args] = this.command(argv, cwd);
    return spawn(cmd, args, { env, stdio, detached: true, cwd: this.kind === 'none' ? cwd : undefined });
  }

  /** The command line that runs argv in this sandbox with `cwd` as working directory. */
  command(argv: string[], cwd: string): string[] {
    if (this.kind === 'none') return argv;
    const args = [
      'bwrap',
      '--die-with-parent',
      '--unshare-user',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
      '--hostname',
      'roundhouse',
    ];
    for (const d of SYSTEM_DIRS) {
      if (d.link !== undefined) args.push('--symlink', d.link, d.path);
      else args.push('--ro-bind', d.path, d.path);
    }
    args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/run', '--tmpfs', '/var');
    args.push('--bind', join(this.dir, 'home'), SANDBOX_HOME, '--bind', join(this.dir, 'tmp'), '/tmp');
    // The job's user has a name (ssh, whoami and friends look it up).
    for (const f of ['passwd', 'group'])
      if (existsSync(join(this.dir, `.rh-${f}`))) args.push('--ro-bind', join(this.dir, `.rh-${f}`), `/etc/${f}`);
    for (const [inside, host] of this.#binds) args.push('--bind', host, inside);
    for (const p of this.#readOnly) args.push('--ro-bind', p, p);
    args.push('--chdir', cwd, '--', ...argv);
    return args;
  }
}

/**
 * Writes the sandbox's /etc/passwd and /etc/group: the host's, with uid/gid 1000 as `circleci`
 * (home /home/circleci), the user every sandboxed job runs as.
 */
export function writeIdentityFiles(dir: string) {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const passwd = read('/etc/passwd').filter((l) => l.split(':')[2] !== '1000' && !l.startsWith('circleci:'));
  const group = read('/etc/group').filter((l) => l.split(':')[2] !== '1000' && !l.startsWith('circleci:'));
  writeFileSync(
    join(dir, '.rh-passwd'),
    [...passwd, `circleci:x:1000:1000:circleci:${SANDBOX_HOME}:/bin/bash`, ''].join('\n'),
  );
  writeFileSync(join(dir, '.rh-group'), [...group, 'circleci:x:1000:', ''].join('\n'));
}

/** The host's system directories, shown read-only in every sandbox (looked up once). */
const SYSTEM_DIRS = ['/usr', '/etc', '/opt', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']
  .filter((d) => existsSync(d))
  .map((path) => (lstatSync(path).isSymbolicLink() ? { path, link: readlinkSync(path) } : { path, link: undefined }));

/** Kills a process started by Sandbox.spawn and everything it started. */
export function killTree(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL') {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
