import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Starts job sandboxes without forking the executor process. Forking a large Node process blocks
 * its event loop for milliseconds per child (page tables are copied), and in embedded mode that
 * loop also serves the API. So each executor slot keeps one small POSIX shell that does the forking:
 *
 *   node → launcher   "<dir>"        make FIFOs .rh-in/.rh-out/.rh-err/.rh-ctl in <dir>
 *   launcher → node   "fifo <dir>"   node opens them (read-write: opening never blocks)
 *   node → launcher   "go"           run <dir>/.rh-launch with the FIFOs as fds 0, 1, 2, 3
 *   launcher → node   "pid <dir> N"  …and later "exit <dir> CODE" when that process ends
 */
const LAUNCHER = `
dirs=
while IFS= read -r d; do
  dirs="$dirs $d"
  if ! mkfifo "$d/.rh-in" "$d/.rh-out" "$d/.rh-err" "$d/.rh-ctl"; then echo "error $d"; continue; fi
  echo "fifo $d"
  IFS= read -r go
  ( sh "$d/.rh-launch" 0<>"$d/.rh-in" 1>>"$d/.rh-out" 2>>"$d/.rh-err" 3<>"$d/.rh-ctl" &
    echo "$!" > "$d/.rh-launched"; echo "pid $d $!"; { wait $!; } 2>/dev/null; echo "exit $d $?" ) &
done
# The executor is gone (its end of stdin closed): nothing it started may outlive it.
for d in $dirs; do
  p=$(cat "$d/.rh-launched" 2>/dev/null) && kill -KILL "-$p" "$p" 2>/dev/null
  for s in $(cat "$d/tmp/.rh-pids" 2>/dev/null); do kill -KILL "-$s" 2>/dev/null; done
done
kill -KILL 0
`;

type Waiter = { kind: string; resolve: (fields: string[]) => void };

export class Launcher {
  #child: ChildProcess | undefined;
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #exits = new Map<string, (code: number) => void>();
  #queue: Promise<unknown> = Promise.resolve();

  #ensure(): ChildProcess {
    if (this.#child && this.#child.exitCode === null && !this.#child.killed) return this.#child;
    const child = spawn('/bin/sh', ['-c', LAUNCHER], {
      // Its own process group: its last act is to kill that group.
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [kind, dir, ...rest] = line.split(' ');
      if (kind === 'exit') {
        this.#exits.get(dir)?.(Number(rest[0]));
        this.#exits.delete(dir);
        return;
      }
      const list = this.#waiters.get(dir);
      const i = list?.findIndex((w) => w.kind === kind || kind === 'error') ?? -1;
      if (list && i >= 0) list.splice(i, 1)[0].resolve([kind, ...rest]);
    });
    child.on('exit', () => {
      for (const list of this.#waiters.values()) for (const w of list) w.resolve(['error']);
      this.#waiters.clear();
      for (const onExit of this.#exits.values()) onExit(-1);
      this.#exits.clear();
    });
    this.#child = child;
    return child;
  }

  #expect(dir: string, kind: string): Promise<string[]> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(dir) ?? [];
      list.push({ kind, resolve });
      this.#waiters.set(dir, list);
    });
  }

  /**
   * Runs `<dir>/.rh-launch` (written by the caller) with FIFOs as its stdio. `open` is called once
   * the FIFOs exist and must open them before returning. Resolves with the process id.
   */
  launch(dir: string, open: () => void, onExit: (code: number) => void): Promise<number> {
    const run = async () => {
      const child = this.#ensure();
      const made = this.#expect(dir, 'fifo');
      child.stdin!.write(`${dir}\n`);
      if ((await made)[0] !== 'fifo') throw new Error(`could not create the job's pipes in ${dir}`);
      open();
      const started = this.#expect(dir, 'pid');
      this.#exits.set(dir, onExit);
      child.stdin!.write('go\n');
      const [kind, pid] = await started;
      if (kind !== 'pid') throw new Error('the launcher stopped');
      return Number(pid);
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Ends the launcher; it kills whatever it started that is still running. */
  close() {
    this.#child?.stdin?.end();
    this.#child = undefined;
  }
}
