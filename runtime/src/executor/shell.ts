import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_PATH } from './env.js';
import type { Launcher } from './launcher.js';
import type { Sandbox } from './sandbox.js';

/**
 * The job's step runner: one POSIX shell per job, started once inside the sandbox, that runs each
 * step when told to. Starting the sandbox once per job (not once per step) keeps per-step cost to a
 * fork inside the sandbox, and gives every step of the job the same namespaces.
 *
 * Protocol with the supervisor (all pipes):
 *   stdin   "<idx> <wrapper path>\n"   run a step: a subshell sources the wrapper, which sets cwd and
 *                                     environment and execs the step's shell in a new session
 *   fd 3    any line                   kill the running step's process group (no_output_timeout)
 *   stdout  the step's stdout, then    RS <nonce>:end:<idx>:<exit code> RS \n
 *   stderr  the step's stderr, then    RS <nonce>:end:<idx> RS \n
 * Each step runs in its own session (setsid), so a kill reaches everything the step started. The
 * subshell already has the supervisor's (minimal) environment; the wrapper exports the step's.
 */
const SUPERVISOR = `
n=$1; t=$2
( while IFS= read -r _ <&3; do p=$(cat "$t/.rh-pid" 2>/dev/null) && kill -KILL "-$p" 2>/dev/null; done ) &
while IFS= read -r line; do
  i=\${line%% *}; w=\${line#* }
  ( . "$w" ) </dev/null &
  p=$!
  echo "$p" > "$t/.rh-pid"
  echo "$p" >> "$t/.rh-pids"
  { wait "$p"; } 2>/dev/null; c=$?
  rm -f "$t/.rh-pid"
  printf '\\036%s:end:%s:%s\\036\\n' "$n" "$i" "$c"
  printf '\\036%s:end:%s\\036\\n' "$n" "$i" >&2
done
`;

const RS = '\x1e';

export interface StepRun {
  /** Exit code of the step's shell; null when the job shell died. */
  readonly code: number | null;
  readonly timedOut: boolean;
}

/** Splits one output stream into step output and end markers. */
class MarkerParser {
  #buf = '';
  constructor(
    readonly marker: string,
    readonly onData: (data: string) => void,
    readonly onMarker: (fields: string[]) => void,
  ) {}

  feed(chunk: string) {
    this.#buf += chunk;
    for (;;) {
      const at = this.#buf.indexOf(this.marker);
      if (at < 0) break;
      const end = this.#buf.indexOf(`${RS}\n`, at + this.marker.length);
      if (end < 0) break;
      if (at > 0) this.onData(this.#buf.slice(0, at));
      this.onMarker(this.#buf.slice(at + this.marker.length, end).split(':'));
      this.#buf = this.#buf.slice(end + 2);
    }
    // Hold back only what could be the start of a marker; pass the rest on now.
    let keep = this.#buf.indexOf(this.marker);
    if (keep < 0) {
      const rs = this.#buf.lastIndexOf(RS);
      keep = rs >= 0 && this.marker.startsWith(this.#buf.slice(rs)) ? rs : this.#buf.length;
    }
    if (keep > 0) {
      this.onData(this.#buf.slice(0, keep));
      this.#buf = this.#buf.slice(keep);
    }
  }
}

export class JobShell {
  readonly #nonce = randomBytes(8).toString('hex');
  #current:
    | {
        idx: number;
        onOutput: (stream: 'out' | 'err', data: string) => void;
        code?: number;
        outDone: boolean;
        errDone: boolean;
        timedOut: boolean;
        timer?: NodeJS.Timeout;
        resolve: (r: StepRun) => void;
      }
    | undefined;
  #dead = false;
  #pid = 0;
  #fds: number[] = [];
  #streams: Socket[] = [];
  #timeoutMs = 0;

  /** `fifoDir` holds the FIFOs .rh-in/.rh-out/.rh-err/.rh-ctl; `killer` ends the supervisor and all it started. */
  private constructor(
    readonly fifoDir: string,
    readonly killer: (pid: number) => void,
  ) {}

  /** The supervisor's command line: it reads steps on stdin and keeps its bookkeeping in `tmp` (a job path). */
  supervisorArgv(tmp: string): string[] {
    return ['/bin/sh', '-c', SUPERVISOR, 'roundhouse-job', this.#nonce, tmp];
  }

  /** Starts the job's supervisor in the sandbox through the slot's launcher. */
  static async start(sandbox: Sandbox, launcher: Launcher): Promise<JobShell> {
    const shell = new JobShell(sandbox.dir, (pid) => {
      if (sandbox.kind === 'none') {
        // Without a pid namespace, each step's session is killed by hand.
        try {
          for (const p of readFileSync(join(sandbox.tmp, '.rh-pids'), 'utf8').split('\n').filter(Boolean)) {
            try {
              process.kill(-Number(p), 'SIGKILL');
            } catch {
              // already gone
            }
          }
        } catch {
          // no step ran
        }
      }
      if (pid) {
        try {
          // bwrap takes its pid namespace with it; without a sandbox the supervisor leads its own group.
          process.kill(sandbox.kind === 'none' ? -pid : pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    const argv = shell.supervisorArgv(sandbox.tmp);
    const cmd = sandbox.kind === 'none' ? ['setsid', ...argv] : sandbox.command(argv, sandbox.home);
    const cd = sandbox.kind === 'none' ? `cd ${shellQuote(sandbox.home)} || exit 1\n` : '';
    writeFileSync(
      join(sandbox.dir, '.rh-launch'),
      `${cd}exec env -i PATH=${DEFAULT_PATH} ${cmd.map(shellQuote).join(' ')}\n`,
    );
    shell.#pid = await launcher.launch(
      sandbox.dir,
      () => shell.#open(),
      () => shell.#died(),
    );
    return shell;
  }

  /**
   * A job shell whose supervisor another party starts (a container's main process): makes the
   * FIFOs in `fifoDir` (readable and writable by any user, as the container's user may be anyone)
   * and opens this side. The caller starts the supervisor with the FIFOs as its stdio and fd 3,
   * calls `exited()` when it ends, and `killer` ends it.
   */
  static attach(fifoDir: string, killer: () => void): JobShell {
    const shell = new JobShell(fifoDir, killer);
    const names = ['.rh-in', '.rh-out', '.rh-err', '.rh-ctl'].map((f) => join(fifoDir, f));
    const r = spawnSync('mkfifo', ['-m', '666', ...names], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`could not create the job's pipes: ${String(r.stderr).trim()}`);
    shell.#open();
    return shell;
  }

  /** The supervisor ended (for attached shells). */
  exited() {
    this.#died();
  }

  #open() {
    const dir = this.fifoDir;
    // Read-write opens of a FIFO never block, and keep it open whatever the other side does.
    const [inp, out, err, ctl] = ['.rh-in', '.rh-out', '.rh-err', '.rh-ctl'].map((f) =>
      openSync(join(dir, f), constants.O_RDWR | constants.O_NONBLOCK),
    );
    this.#fds = [inp, ctl];
    const marker = `${RS}${this.#nonce}:end:`;
    const parse = [
      new MarkerParser(
        marker,
        (d) => this.#data('out', d),
        ([, code]) => this.#end('out', Number(code)),
      ),
      new MarkerParser(
        marker,
        (d) => this.#data('err', d),
        () => this.#end('err'),
      ),
    ];
    this.#streams = [out, err].map((fd, i) => {
      const sock = new Socket({ fd, readable: true, writable: false });
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => parse[i].feed(d));
      sock.on('error', () => undefined);
      return sock;
    });
  }

  #died() {
    this.#dead = true;
    // Output still in the pipes belongs to the last step: give the readers a moment to drain.
    setImmediate(() => {
      const c = this.#current;
      if (c) {
        clearTimeout(c.timer);
        this.#current = undefined;
        c.resolve({ code: null, timedOut: c.timedOut });
      }
      this.#close();
    });
  }

  #close() {
    for (const s of this.#streams) s.destroy();
    this.#streams = [];
    for (const fd of this.#fds) closeSync(fd);
    this.#fds = [];
  }

  #data(stream: 'out' | 'err', data: string) {
    const c = this.#current;
    if (!c) return;
    c.onOutput(stream, data);
    this.#arm();
  }

  #end(stream: 'out' | 'err', code?: number) {
    const c = this.#current;
    if (!c) return;
    if (stream === 'out') {
      c.outDone = true;
      c.code = code;
    } else c.errDone = true;
    if (c.outDone && c.errDone) {
      clearTimeout(c.timer);
      this.#current = undefined;
      c.resolve({ code: c.code ?? null, timedOut: c.timedOut });
    }
  }

  #arm() {
    const c = this.#current;
    if (!c || !this.#timeoutMs) return;
    clearTimeout(c.timer);
    c.timer = setTimeout(() => {
      c.timedOut = true;
      if (this.#fds[1] !== undefined) writeSync(this.#fds[1], 'kill\n');
    }, this.#timeoutMs);
  }

  /** Runs one step (a wrapper script, sandbox path) and resolves when it has ended and all its output arrived. */
  run(
    idx: number,
    wrapper: string,
    noOutputTimeoutSeconds: number,
    onOutput: (stream: 'out' | 'err', data: string) => void,
  ): Promise<StepRun> {
    if (this.#current) throw new Error('a step is already running in this job shell');
    if (this.#dead) return Promise.resolve({ code: null, timedOut: false });
    return new Promise((resolve) => {
      this.#current = { idx, onOutput, outDone: false, errDone: false, timedOut: false, resolve };
      this.#timeoutMs = noOutputTimeoutSeconds * 1000;
      this.#arm();
      writeSync(this.#fds[0], `${idx} ${wrapper}\n`);
    });
  }

  /** Ends the job shell and everything the job started. */
  kill() {
    // Called also once the supervisor is gone: what its steps left behind may still run.
    this.killer(this.#dead ? 0 : this.#pid);
    this.#dead = true;
    this.#close();
  }
}

/** Quotes a string for a POSIX shell. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The wrapper a step runs as (sourced by the supervisor's subshell): working directory, the step's
 * environment, then the step's shell and script in a new session. Names that are not shell
 * identifiers cannot be exported and are left out, as CircleCI does not allow them either.
 */
export function wrapperScript(cwd: string, env: Record<string, string>, shell: string[], script: string): string {
  const vars = Object.entries(env)
    .filter(([k]) => NAME.test(k))
    .map(([k, v]) => `export ${shellQuote(`${k}=${v}`)}`);
  // A missing working directory is made, as CircleCI does.
  return `[ -d ${shellQuote(cwd)} ] || mkdir -p ${shellQuote(cwd)} 2>/dev/null\ncd ${shellQuote(cwd)} || exit 1\n${vars.join('\n')}\nexec setsid ${[...shell, script].map(shellQuote).join(' ')}\n`;
}
