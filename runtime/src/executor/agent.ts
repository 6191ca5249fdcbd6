import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RunStep, StepPlan } from '../config/types.js';
import type { ClaimedJob, JobOutcome, StepStatus } from '../protocol/executor.js';
import { EXECUTOR_API } from '../protocol/executor.js';
import { stepEnvironment } from './env.js';
import { Reporter } from './reporter.js';
import { killTree, Sandbox, type SandboxKind } from './sandbox.js';

const exec = promisify(execFile);

export interface AgentOptions {
  readonly server: string;
  readonly token: string;
  readonly id: string;
  readonly sandbox: SandboxKind;
  /** Where per-job directories are made (and removed). */
  readonly workDir: string;
  /** Long-poll length of one claim. */
  readonly waitSeconds?: number;
  readonly log?: (msg: string) => void;
}

/**
 * The executor: claims one job at a time over the executor protocol, runs its steps in a sandbox,
 * streams their output and reports the outcome. Knows nothing of the platform beyond the protocol.
 */
export class ExecutorAgent {
  readonly #abort = new AbortController();
  #current: Promise<void> | undefined;
  #killCurrent: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(readonly opts: AgentOptions) {}

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops claiming; running work is killed after `graceMs` (the platform requeues it). */
  async stop(graceMs = 0): Promise<void> {
    this.#abort.abort();
    if (this.#current && graceMs > 0) {
      await Promise.race([this.#current, new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    this.#killCurrent?.();
    await this.#loop?.catch(() => undefined);
  }

  get busy() {
    return this.#current !== undefined;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let backoff = 100;
    while (!signal.aborted) {
      let job: ClaimedJob | undefined;
      try {
        job = await this.claim(signal);
        backoff = 100;
      } catch (e) {
        if (signal.aborted) break;
        this.opts.log?.(`executor ${this.opts.id}: claim failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      if (!job) continue;
      this.#current = this.runJob(job).catch((e) =>
        this.opts.log?.(`executor ${this.opts.id}: job ${job.id}: ${(e as Error).message}`),
      );
      await this.#current;
      this.#current = undefined;
    }
  }

  async claim(signal?: AbortSignal): Promise<ClaimedJob | undefined> {
    const res = await fetch(`${this.opts.server}${EXECUTOR_API}/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.opts.token}` },
      body: JSON.stringify({ executor_id: this.opts.id, wait_seconds: this.opts.waitSeconds ?? 25 }),
      signal,
    });
    if (res.status === 204) return undefined;
    if (!res.ok) throw new Error(`claim answered HTTP ${res.status}`);
    return (await res.json()) as ClaimedJob;
  }

  async runJob(job: ClaimedJob): Promise<void> {
    const reporter = new Reporter(this.opts.server, job.id, job.token);
    const dir = join(this.opts.workDir, `${job.id}-${job.attempt}`);
    const sandbox = new Sandbox(this.opts.sandbox, dir);
    const running = new Set<ReturnType<Sandbox['spawn']>>();
    let killed = false;
    const killAll = () => {
      // Killed from outside (cancel, shutdown): report nothing more; the platform decides what follows.
      killed = true;
      reporter.closed = true;
      for (const c of running) killTree(c);
    };
    reporter.onCancel = killAll;
    this.#killCurrent = killAll;
    const heartbeat = setInterval(() => reporter.heartbeat(), Math.max(1, job.heartbeat_seconds) * 1000);
    let outcome: JobOutcome = 'success';
    try {
      mkdirSync(join(dir, 'home'), { recursive: true });
      mkdirSync(join(dir, 'tmp'), { recursive: true });
      const bashEnv = `${sandbox.tmp}/.bash_env-${job.id}`;
      writeFileSync(sandbox.hostPath(bashEnv), '');
      const base = { HOME: sandbox.home, BASH_ENV: bashEnv, TMPDIR: sandbox.tmp, USER: 'circleci', SHELL: '/bin/bash' };
      const workdir = sandbox.resolve(job.plan.working_directory);
      mkdirSync(sandbox.hostPath(workdir), { recursive: true });

      let idx = 0;
      // Step 0, as on CircleCI: the environment the job runs in, said plainly.
      reporter.stepStart(idx, 'Spin up environment', 'spin-up');
      reporter.output(idx, 'out', this.#spinUpNote(job));
      reporter.stepEnd(idx, 'success', 0);
      idx++;
      reporter.stepStart(idx, 'Preparing environment variables', 'env');
      const names = Object.keys(stepEnvironment(job, base, {})).sort();
      reporter.output(idx, 'out', `Using environment variables:\n${names.map((n) => `  ${n}`).join('\n')}\n`);
      reporter.stepEnd(idx, 'success', 0);
      idx++;

      const background: Promise<unknown>[] = [];
      for (const step of job.plan.steps) {
        if (killed || reporter.canceled) break;
        if (!shouldRun(step, outcome)) continue;
        const i = idx++;
        const status =
          step.type === 'checkout'
            ? await this.#checkout(job, step, sandbox, workdir, reporter, i)
            : await this.#runStep(job, step, sandbox, workdir, base, reporter, i, running, background);
        if (status !== 'success' && status !== 'running') outcome = 'failed';
        await reporter.flush();
      }
      for (const c of running) killTree(c);
      // The sandbox is gone before the job is reported finished.
      rmSync(dir, { recursive: true, force: true });
      if (!reporter.canceled && !killed) await reporter.finish(outcome);
    } catch (e) {
      if (!reporter.canceled && !killed) {
        rmSync(dir, { recursive: true, force: true });
        reporter.output(0, 'err', `Roundhouse executor error: ${(e as Error).message}\n`);
        await reporter.finish('infrastructure_fail').catch(() => undefined);
      }
    } finally {
      clearInterval(heartbeat);
      killAll();
      this.#killCurrent = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  }

  #spinUpNote(job: ClaimedJob): string {
    const ex = job.plan.executor;
    const what =
      ex.type === 'docker'
        ? `docker image ${ex.images[0]?.image}`
        : ex.type === 'machine'
          ? `machine${ex.image ? ` image ${ex.image}` : ''}`
          : ex.type;
    const lines = [
      `Roundhouse executor ${this.opts.id}, job ${job.name} #${job.number} (attempt ${job.attempt})`,
      `Executor: ${ex.type} (${what}), resource class ${ex.resource_class}`,
    ];
    lines.push(
      `Note: this is the embedded local executor. The ${ex.type} executor is not available here, so the job runs in the local ${this.opts.sandbox === 'bwrap' ? 'bubblewrap sandbox' : 'process runner'} on the host's tools${ex.type === 'docker' ? '; the image is not pulled' : ''}.`,
    );
    if (this.opts.sandbox === 'none')
      lines.push(
        "WARNING: NOT SANDBOXED. bubblewrap is not available (or ROUNDHOUSE_SANDBOX=none): this job runs as a plain process with the server user's rights, in a per-job directory.",
      );
    else
      lines.push(
        'Sandbox: bubblewrap, fresh user/mount/pid/ipc namespaces per job; the system is read-only, only the job directory is writable, and it is deleted after the job.',
      );
    return `${lines.join('\n')}\n`;
  }

  async #checkout(
    job: ClaimedJob,
    step: Extract<StepPlan, { type: 'checkout' }>,
    sandbox: Sandbox,
    workdir: string,
    reporter: Reporter,
    idx: number,
  ): Promise<StepStatus> {
    reporter.stepStart(idx, step.name, 'checkout');
    const target = step.path ? sandbox.resolve(step.path, workdir) : workdir;
    const host = sandbox.hostPath(target);
    const say = (s: string) => reporter.output(idx, 'out', s);
    try {
      say(`Cloning git repository ${job.project.repo_url}\n`);
      mkdirSync(host, { recursive: true });
      const g = (args: string[]) =>
        exec('git', args, {
          cwd: host,
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
          maxBuffer: 16 * 1024 * 1024,
        });
      if (!existsSync(join(host, '.git'))) {
        await g(['init', '--quiet']);
        await g(['remote', 'add', 'origin', job.project.repo_url]);
      }
      const ref =
        job.pipeline.tag !== undefined
          ? `+refs/tags/${job.pipeline.tag}:refs/tags/${job.pipeline.tag}`
          : `+refs/heads/${job.pipeline.branch}:refs/remotes/origin/${job.pipeline.branch}`;
      await g(['fetch', '--quiet', '--force', 'origin', ref]);
      if (job.pipeline.tag !== undefined) await g(['checkout', '--quiet', '--force', job.pipeline.revision]);
      else await g(['checkout', '--quiet', '--force', '-B', job.pipeline.branch!, job.pipeline.revision]);
      const { stdout } = await g(['log', '-1', '--format=%H %s']);
      say(`Checked out ${stdout.trim()}\n`);
      reporter.stepEnd(idx, 'success', 0);
      return 'success';
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      reporter.output(idx, 'err', `${(err.stderr || err.message).trim()}\n`);
      reporter.stepEnd(idx, 'failed', 1);
      return 'failed';
    }
  }

  async #runStep(
    job: ClaimedJob,
    step: RunStep,
    sandbox: Sandbox,
    workdir: string,
    base: Record<string, string>,
    reporter: Reporter,
    idx: number,
    running: Set<ReturnType<Sandbox['spawn']>>,
    background: Promise<unknown>[],
  ): Promise<StepStatus> {
    reporter.stepStart(idx, step.name, 'run', step.command);
    const cwd = step.working_directory ? sandbox.resolve(step.working_directory, workdir) : workdir;
    mkdirSync(sandbox.hostPath(cwd), { recursive: true });
    const script = `${sandbox.tmp}/.rh-step-${idx}`;
    writeFileSync(sandbox.hostPath(script), step.command);
    const shell = (step.shell ?? job.plan.shell ?? '/bin/bash -eo pipefail').trim().split(/\s+/);
    const env = stepEnvironment(job, base, step.environment);
    const child = sandbox.spawn([...shell, script], cwd, env);
    running.add(child);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        reporter.output(
          idx,
          'err',
          `\nToo long with no output (exceeded ${formatDuration(step.no_output_timeout)}): context deadline exceeded\n`,
        );
        killTree(child);
      }, step.no_output_timeout * 1000);
    };
    arm();
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      arm();
      reporter.output(idx, 'out', d);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      arm();
      reporter.output(idx, 'err', d);
    });
    const done = new Promise<StepStatus>((resolve) => {
      child.on('error', (e) => {
        reporter.output(idx, 'err', `cannot start ${shell[0]}: ${e.message}\n`);
        resolve('failed');
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        running.delete(child);
        const status: StepStatus = timedOut
          ? 'timedout'
          : code === 0
            ? 'success'
            : reporter.canceled
              ? 'canceled'
              : 'failed';
        if (code !== 0 && !timedOut && !reporter.canceled)
          reporter.output(idx, 'err', `\nExited with code ${code ?? `exit status by signal ${signal}`}\n`);
        reporter.stepEnd(idx, status, code ?? (signal ? 128 : 1));
        resolve(status);
      });
    });
    if (step.background) {
      background.push(done);
      return 'running';
    }
    return done;
  }
}

function shouldRun(step: StepPlan, outcome: JobOutcome): boolean {
  if (step.when === 'always') return true;
  if (step.when === 'on_fail') return outcome !== 'success';
  return outcome === 'success';
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m}m${s}s`;
}
