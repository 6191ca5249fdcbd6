import type { ClaimedJob } from '../protocol/executor.js';
import type { JobShell } from './shell.js';

/**
 * The driver contract: how the executor gets a place to run one node of a job, whatever that place
 * is (a bubblewrap sandbox, containers on a Docker engine, a VM from the VM service).
 *
 * Lifecycle, for every node of every job:
 *   1. set up      driver.setUp(job, node) makes the environment and starts its job shell: one
 *                  long-lived supervisor process inside it that runs each step when told to;
 *   2. start step  the executor writes the step's script and wrapper under `tmp` (through
 *                  hostPath) and hands the wrapper to shell.run();
 *   3. stream      stdout and stderr of the step arrive through shell.run's callback as they are
 *                  written; `no_output_timeout` kills the step's process group;
 *   4. wait        shell.run resolves with the exit code once the step and all its output ended;
 *                  background steps run beside it through background();
 *   5. tear down   tearDown() kills every process of the node and removes what the driver made
 *                  (sandbox directory, containers, mounts, temp dirs). Nothing survives it, and
 *                  it runs before the job is reported finished, also after cancel or a crash.
 *
 * Paths: `home`, `tmp` and everything resolve() returns are paths as the job's processes see them.
 * Files under `tmp` are shared with the executor (hostPath gives the executor's path for them);
 * anything else is reached through pull(), which copies it out when the driver cannot see it.
 */
export interface JobEnvironment {
  readonly driver: DriverName;
  /** The job user's home directory (`~`). */
  readonly home: string;
  /** A directory of the job that the executor can read and write too (scripts, archives, bookkeeping). */
  readonly tmp: string;
  /** False when the environment has no /bin/bash (steps then default to `/bin/sh -eo pipefail`). */
  readonly hasBash?: boolean;
  /** The node's step runner. */
  readonly shell: JobShell;
  /** What the driver adds to every step's environment, below the built-ins (HOME, PATH, TMPDIR, …). */
  readonly baseEnv: Record<string, string>;
  /** Expands `~` and makes a path absolute (relative to `base`, else home). */
  resolve(path: string, base?: string): string;
  /** The executor's path for a job path under `tmp`. */
  hostPath(path: string): string;
  /** A host path holding the job's file or directory at `path` (a copy where needed), or undefined if absent. */
  pull(path: string): Promise<string | undefined>;
  /** Starts a background step beside the job shell; output streams through `onOutput`. */
  background(
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    onOutput: (stream: 'out' | 'err', data: string) => void,
  ): Background;
  /**
   * setup_remote_docker: starts a Docker engine for this node (removed at tear down) and returns
   * its socket as a job path. Absent when the driver cannot give one.
   */
  remoteDocker?(say: (text: string) => void): Promise<string>;
  /** Lines for the "Spin up environment" step: what runs the job, and how it is isolated. */
  describe(): string[];
  tearDown(): Promise<void>;
}

export interface Background {
  /** Resolves with the exit code (null when killed). */
  readonly done: Promise<number | null>;
  kill(): void;
}

export type DriverName = 'local' | 'docker' | 'machine';

export interface JobDriver {
  readonly name: DriverName;
  /** Step 1 of the lifecycle; `say` adds lines to the job's "Spin up environment" output. */
  setUp(job: ClaimedJob, node: number, say: (text: string) => void): Promise<JobEnvironment>;
  /** Called between jobs: a driver may prepare the next environment ahead. */
  idle?(): void;
  /** Ends everything the driver started. */
  close(): Promise<void>;
}
