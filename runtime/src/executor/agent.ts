import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunStep, StepPlan } from '../config/types.js';
import type { ClaimedJob, JobOutcome, StepStatus } from '../protocol/executor.js';
import { EXECUTOR_API } from '../protocol/executor.js';
import { AGENT_CLI } from './agent-cli.js';
import { DEFAULT_PATH, stepEnvironment } from './env.js';
import { Reporter } from './reporter.js';
import { killTree, Sandbox, type SandboxKind } from './sandbox.js';
import { Launcher } from './launcher.js';
import { blobStep, endStep, runScript, type StepContext } from './steps.js';
import { JobShell, shellQuote, wrapperScript } from './shell.js';

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
  /** Starts this slot's job sandboxes (see launcher.ts). */
  readonly #launcher = new Launcher();
  #current: Promise<void> | undefined;
  #killCurrent: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(readonly opts: AgentOptions) {}

  start(): void {
    this.#prepareWarm();
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
    await this.#dropWarm();
    this.#launcher.close();
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

  /**
   * A sandbox started in advance for the next job, so that starting it is not on the job's path.
   * Each one is used by exactly one job; a job that needs more mounts than home and /tmp gets its own.
   */
  #warm: Promise<{ sandbox: Sandbox; shell: JobShell } | undefined> | undefined;
  #prepareWarm() {
    if (this.#abort.signal.aborted || this.#warm) return;
    const sandbox = new Sandbox(this.opts.sandbox, join(this.opts.workDir, `slot-${randomBytes(6).toString('hex')}`));
    this.#warm = (async () => {
      mkdirSync(join(sandbox.dir, 'home'), { recursive: true });
      mkdirSync(join(sandbox.dir, 'tmp'), { recursive: true });
      return { sandbox, shell: await JobShell.start(sandbox, this.#launcher) };
    })().catch(() => {
      void rm(sandbox.dir, { recursive: true, force: true });
      return undefined;
    });
  }
  async #dropWarm() {
    const warm = await this.#warm;
    this.#warm = undefined;
    if (warm) {
      warm.shell.kill();
      await rm(warm.sandbox.dir, { recursive: true, force: true });
    }
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
    if (create)
      for (const d of [join(sandbox.dir, 'home'), join(sandbox.dir, 'tmp'), ...dirs]) mkdirSync(d, { recursive: true });
    return workdir;
  }

  /**
   * Runs a claimed job: with `parallelism: N`, N nodes at once, each in its own sandbox with its
   * CIRCLE_NODE_INDEX; the job succeeds when every node does. One finish reports the outcome.
   */
  async runJob(job: ClaimedJob): Promise<void> {
    const total = Math.max(1, job.plan.parallelism ?? 1);
    // Project and context variables are secrets: masked in everything this job prints.
    const secrets = Object.values(job.environment);
    const reporters = Array.from(
      { length: total },
      (_, node) => new Reporter(this.opts.server, job.id, job.token, 50, secrets, node),
    );
    const kills = new Set<() => void>();
    let killed = false;
    const killAll = () => {
      // Killed from outside (cancel, shutdown): report nothing more; the platform decides what follows.
      killed = true;
      for (const r of reporters) r.closed = true;
      for (const k of kills) k();
    };
    for (const r of reporters) r.onCancel = killAll;
    this.#killCurrent = killAll;
    const heartbeat = setInterval(() => reporters[0].heartbeat(), Math.max(1, job.heartbeat_seconds) * 1000);
    try {
      const outcomes = await Promise.all(
        reporters.map((reporter, node) =>
          this.#runNode(job, node, total, reporter, kills, () => killed || reporters.some((r) => r.canceled)),
        ),
      );
      if (killed || reporters.some((r) => r.canceled)) return;
      const outcome: JobOutcome = outcomes.includes('infrastructure_fail')
        ? 'infrastructure_fail'
        : outcomes.every((o) => o === 'success')
          ? 'success'
          : 'failed';
      for (const r of reporters.slice(1)) await r.finishNode();
      await reporters[0].finish(outcome);
    } finally {
      clearInterval(heartbeat);
      killAll();
      this.#killCurrent = undefined;
      this.#prepareWarm();
    }
  }

  /** One node of a job, in its own sandbox; resolves with the node's outcome once its sandbox is gone. */
  async #runNode(
    job: ClaimedJob,
    node: number,
    total: number,
    reporter: Reporter,
    kills: Set<() => void>,
    stopped: () => boolean,
  ): Promise<JobOutcome> {
    let warm = node === 0 ? await this.#warm : undefined;
    if (node === 0) this.#warm = undefined;
    if (
      warm &&
      new Sandbox(warm.sandbox.kind, warm.sandbox.dir).extraMountsFor((probe) => this.#layout(probe, job, false))
    ) {
      // This job needs mounts the warm sandbox lacks: keep it for the next job.
      this.#warm = Promise.resolve(warm);
      warm = undefined;
    }
    const sandbox =
      warm?.sandbox ?? new Sandbox(this.opts.sandbox, join(this.opts.workDir, `${job.id}-${job.attempt}-${node}`));
    const dir = sandbox.dir;
    const background = new Set<ReturnType<Sandbox['spawn']>>();
    let shell: JobShell | undefined = warm?.shell;
    const kill = () => {
      shell?.kill();
      for (const c of background) killTree(c);
    };
    kills.add(kill);
    let outcome: JobOutcome = 'success';
    try {
      const workdir = this.#layout(sandbox, job, true);
      const bashEnv = `${sandbox.tmp}/.bash_env-${job.id}`;
      writeFileSync(sandbox.hostPath(bashEnv), '');
      // The `circleci` command of the job (tests glob/split, env subst, step halt) and its timings.
      mkdirSync(sandbox.hostPath(`${sandbox.tmp}/.rh-bin`), { recursive: true });
      writeFileSync(sandbox.hostPath(`${sandbox.tmp}/.rh-bin/circleci`), AGENT_CLI, { mode: 0o755 });
      const timings = `${sandbox.tmp}/.rh-timings.json`;
      writeFileSync(sandbox.hostPath(timings), JSON.stringify(job.timings ?? {}));
      const halt = sandbox.hostPath(`${sandbox.tmp}/.rh-halt`);
      const base = {
        HOME: sandbox.home,
        BASH_ENV: bashEnv,
        TMPDIR: sandbox.tmp,
        USER: 'circleci',
        SHELL: '/bin/bash',
        PATH: `${sandbox.tmp}/.rh-bin:${DEFAULT_PATH}`,
        CIRCLE_INTERNAL_TIMINGS_FILE: timings,
        CIRCLE_NODE_INDEX: String(node),
        CIRCLE_NODE_TOTAL: String(total),
      };

      let idx = 0;
      // Step 0, as on CircleCI: the environment the job runs in, said plainly.
      reporter.stepStart(idx, 'Spin up environment', 'spin-up');
      reporter.output(idx, 'out', this.#spinUpNote(job, node, total));
      shell ??= await JobShell.start(sandbox, this.#launcher);
      if (stopped()) shell.kill();
      reporter.stepEnd(idx, 'success', 0);
      idx++;
      reporter.stepStart(idx, 'Preparing environment variables', 'env');
      const names = Object.keys(stepEnvironment(job, base, {})).sort();
      reporter.output(idx, 'out', `Using environment variables:\n${names.map((n) => `  ${n}`).join('\n')}\n`);
      reporter.stepEnd(idx, 'success', 0);
      idx++;

      const jobShell = shell;
      const ctx: StepContext = { server: this.opts.server, job, sandbox, shell: jobShell, workdir, base, reporter };
      for (const step of job.plan.steps) {
        if (stopped()) break;
        if (!shouldRun(step, outcome)) continue;
        const i = idx++;
        let status: StepStatus;
        if (step.type === 'checkout') status = await this.#checkout(ctx, step, i);
        else if (step.type === 'run') status = await this.#runStep(ctx, step, i, background);
        else if (
          [
            'save_cache',
            'restore_cache',
            'persist_to_workspace',
            'attach_workspace',
            'store_artifacts',
            'store_test_results',
          ].includes(step.type)
        )
          status = await blobStep(ctx, step, i);
        else {
          // SSH keys and remote Docker arrive with the executor issue;
          // until then the step says plainly that it did nothing.
          reporter.stepStart(i, step.name, step.type);
          reporter.output(
            i,
            'err',
            `Roundhouse: the \`${step.type}\` step is not supported by this executor yet; it was skipped.\n`,
          );
          reporter.stepEnd(i, 'success', 0);
          status = 'success';
        }
        if (status !== 'success' && status !== 'running') outcome = 'failed';
        if (existsSync(halt)) {
          reporter.output(i, 'out', 'Halted by `circleci step halt`: the remaining steps do not run.\n');
          break;
        }
      }
      jobShell.kill();
      for (const c of background) killTree(c);
    } catch (e) {
      if (!stopped()) {
        reporter.output(0, 'err', `Roundhouse executor error: ${(e as Error).message}\n`);
        outcome = 'infrastructure_fail';
      }
    } finally {
      kill();
      kills.delete(kill);
      // The sandbox is gone before the job is reported finished.
      await rm(dir, { recursive: true, force: true });
    }
    return outcome;
  }

  #spinUpNote(job: ClaimedJob, node: number, total: number): string {
    const ex = job.plan.executor;
    const what =
      ex.type === 'docker'
        ? `docker image ${ex.images[0]?.image}`
        : ex.type === 'machine'
          ? `machine${ex.image ? ` image ${ex.image}` : ''}`
          : ex.type;
    const lines = [
      `Roundhouse executor ${this.opts.id}, job ${job.name} #${job.number} (attempt ${job.attempt})${total > 1 ? `, parallel node ${node} of ${total}` : ''}`,
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

  /**
   * The checkout step runs inside the sandbox like any step (git is one of the host's tools there):
   * fetch the pipeline's ref into the working directory and check out the pipeline's commit.
   */
  async #checkout(ctx: StepContext, step: Extract<StepPlan, { type: 'checkout' }>, idx: number): Promise<StepStatus> {
    const { job, sandbox, shell, workdir, base, reporter } = ctx;
    reporter.stepStart(idx, step.name, 'checkout');
    const target = step.path ? sandbox.resolve(step.path, workdir) : workdir;
    const { tag, branch, revision } = job.pipeline;
    const q = shellQuote;
    const refspec =
      tag !== undefined ? `+refs/tags/${tag}:refs/tags/${tag}` : `+refs/heads/${branch}:refs/remotes/origin/${branch}`;
    const script = [
      'set -e',
      `echo ${q(`Cloning git repository ${job.project.repo_url}`)}`,
      'if [ ! -d .git ]; then',
      '  git -c init.defaultBranch=main init --quiet',
      `  git remote add origin ${q(job.project.repo_url)}`,
      'fi',
      `git fetch --quiet --force origin ${q(refspec)}`,
      tag !== undefined
        ? `git checkout --quiet --force ${q(revision)}`
        : `git checkout --quiet --force -B ${q(branch!)} ${q(revision)}`,
      "git log -1 --format='Checked out %H %s'",
      '',
    ].join('\n');
    const code = await runScript(
      sandbox,
      shell,
      target,
      { ...stepEnvironment(job, base, {}), GIT_TERMINAL_PROMPT: '0' },
      reporter,
      idx,
      script,
    );
    return endStep(reporter, idx, code);
  }

  async #runStep(
    ctx: StepContext,
    step: RunStep,
    idx: number,
    background: Set<ReturnType<Sandbox['spawn']>>,
  ): Promise<StepStatus> {
    const { job, sandbox, shell, workdir, base, reporter } = ctx;
    reporter.stepStart(idx, step.name, 'run', step.command);
    const cwd = step.working_directory ? sandbox.resolve(step.working_directory, workdir) : workdir;
    const script = `${sandbox.tmp}/.rh-step-${idx}`;
    writeFileSync(sandbox.hostPath(script), step.command);
    const argv = (step.shell ?? job.plan.shell ?? '/bin/bash -eo pipefail').trim().split(/\s+/);
    const env = stepEnvironment(job, base, step.environment);
    const output = (stream: 'out' | 'err', data: string) => reporter.output(idx, stream, data);
    const finish = (code: number | null, timedOut: boolean): StepStatus => {
      const status: StepStatus = timedOut
        ? 'timedout'
        : code === 0
          ? 'success'
          : reporter.canceled
            ? 'canceled'
            : 'failed';
      if (timedOut)
        output(
          'err',
          `\nToo long with no output (exceeded ${formatDuration(step.no_output_timeout)}): context deadline exceeded\n`,
        );
      else if (code !== 0 && !reporter.canceled)
        output('err', `\nExited with code ${code ?? 'unknown (the job shell ended)'}\n`);
      reporter.stepEnd(idx, status, code ?? 1);
      return status;
    };
    if (!step.background) {
      const wrapper = `${sandbox.tmp}/.rh-run-${idx}`;
      writeFileSync(sandbox.hostPath(wrapper), wrapperScript(cwd, env, argv, script));
      const r = await shell.run(idx, wrapper, step.no_output_timeout, output);
      return finish(r.code, r.timedOut);
    }
    // A background step runs beside the job shell, in its own sandbox process over the same files and network.
    const child = sandbox.spawn([...argv, script], cwd, env);
    background.add(child);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => output('out', d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => output('err', d));
    child.on('error', (e) => output('err', `cannot start ${argv[0]}: ${e.message}\n`));
    child.on('close', (code) => {
      background.delete(child);
      finish(code, false);
    });
    return 'running';
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
