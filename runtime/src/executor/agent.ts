import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { RunStep, StepPlan } from '../config/types.js';
import type { ClaimedJob, JobOutcome, StepStatus } from '../protocol/executor.js';
import { EXECUTOR_API } from '../protocol/executor.js';
import { AGENT_CLI, AGENT_CLI_SHIM } from './agent-cli.js';
import type { Background, JobDriver, JobEnvironment } from './driver.js';
import { DEFAULT_PATH, stepEnvironment } from './env.js';
import { LocalDriver } from './local.js';
import { Reporter } from './reporter.js';
import type { SandboxKind } from './sandbox.js';
import { shellQuote, wrapperScript } from './shell.js';
import { blobStep, endStep, runScript, type StepContext, sshKeysStep, remoteDockerStep } from './steps.js';

export interface AgentOptions {
  readonly server: string;
  readonly token: string;
  readonly id: string;
  readonly sandbox: SandboxKind;
  /** Where per-job directories are made (and removed). */
  readonly workDir: string;
  /** Set for executors on the server's own machine (embedded): blob downloads may be file copies. */
  readonly localCopy?: boolean;
  /** Runs `docker` executor jobs in containers; without it they run on the local driver. */
  readonly docker?: JobDriver;
  /** Long-poll length of one claim. */
  readonly waitSeconds?: number;
  readonly log?: (msg: string) => void;
}

/**
 * The executor: claims one job at a time over the executor protocol, runs each node of it through
 * a driver (driver.ts: local sandbox or Docker containers), streams output and reports the outcome.
 * Knows nothing of the platform beyond the protocol.
 */
export class ExecutorAgent {
  readonly #abort = new AbortController();
  readonly #local: LocalDriver;
  #current: Promise<void> | undefined;
  #killCurrent: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(readonly opts: AgentOptions) {
    this.#local = new LocalDriver(opts.sandbox, opts.workDir);
  }

  start(): void {
    this.#local.idle();
    this.#loop ??= this.#run();
  }

  /** Stops claiming; running work is killed after `graceMs` (the platform requeues it). */
  async stop(graceMs = 0): Promise<void> {
    this.#abort.abort();
    if (this.#current && graceMs > 0) {
      await Promise.race([this.#current, new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    this.#killCurrent?.();
    await this.#current?.catch(() => undefined);
    await this.#loop?.catch(() => undefined);
    await this.#local.close();
  }

  get busy() {
    return this.#current !== undefined;
  }

  /** The driver a job's executor type runs on. */
  driverFor(job: ClaimedJob): JobDriver {
    if (job.plan.executor.type === 'docker' && this.opts.docker) return this.opts.docker;
    return this.#local;
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
   * Runs a claimed job: with `parallelism: N`, N nodes at once, each in its own environment with its
   * CIRCLE_NODE_INDEX; the job succeeds when every node does. One finish reports the outcome.
   */
  async runJob(job: ClaimedJob): Promise<void> {
    const total = Math.max(1, job.plan.parallelism ?? 1);
    // Project and context variables and SSH keys are secrets: masked in everything this job prints.
    const secrets = [
      ...Object.values(job.environment),
      ...(job.ssh_keys ?? []).map((k) => k.private_key),
      ...(job.checkout_key ? [job.checkout_key] : []),
      ...(job.checkout_token ? [job.checkout_token, basicToken(job.checkout_token)] : []),
    ];
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
      this.#local.idle();
    }
  }

  /** One node of a job; resolves with the node's outcome once its environment is torn down. */
  async #runNode(
    job: ClaimedJob,
    node: number,
    total: number,
    reporter: Reporter,
    kills: Set<() => void>,
    stopped: () => boolean,
  ): Promise<JobOutcome> {
    const driver = this.driverFor(job);
    let env: JobEnvironment | undefined;
    const background = new Set<Background>();
    const kill = () => {
      env?.shell.kill();
      for (const b of background) b.kill();
    };
    kills.add(kill);
    let outcome: JobOutcome = 'success';
    let idx = 0;
    try {
      // Step 0, as on CircleCI: the environment the job runs in, said plainly.
      reporter.stepStart(idx, 'Spin up environment', 'spin-up');
      reporter.output(idx, 'out', this.#spinUpNote(job, node, total, driver));
      env = await driver.setUp(job, node, (text) => reporter.output(0, 'out', text));
      reporter.output(idx, 'out', `${env.describe().join('\n')}\n`);
      if (stopped()) env.shell.kill();
      const tmp = env.tmp;
      const bashEnv = `${tmp}/.bash_env-${job.id}`;
      writeFileSync(env.hostPath(bashEnv), '');
      // The `circleci` command of the job (tests glob/split, env subst, step halt) and its timings.
      mkdirSync(env.hostPath(`${tmp}/.rh-bin`), { recursive: true });
      writeFileSync(env.hostPath(`${tmp}/.rh-bin/circleci.js`), AGENT_CLI, { mode: 0o644 });
      writeFileSync(env.hostPath(`${tmp}/.rh-bin/circleci`), AGENT_CLI_SHIM, { mode: 0o755 });
      const timings = `${tmp}/.rh-timings.json`;
      writeFileSync(env.hostPath(timings), JSON.stringify(job.timings ?? {}));
      const halt = env.hostPath(`${tmp}/.rh-halt`);
      const base = {
        ...env.baseEnv,
        BASH_ENV: bashEnv,
        PATH: `${tmp}/.rh-bin:${env.baseEnv.PATH ?? DEFAULT_PATH}`,
        CIRCLE_INTERNAL_TIMINGS_FILE: timings,
        CIRCLE_NODE_INDEX: String(node),
        CIRCLE_NODE_TOTAL: String(total),
      };
      reporter.stepEnd(idx, 'success', 0);
      idx++;
      reporter.stepStart(idx, 'Preparing environment variables', 'env');
      const names = Object.keys(stepEnvironment(job, base, {})).sort();
      reporter.output(idx, 'out', `Using environment variables:\n${names.map((n) => `  ${n}`).join('\n')}\n`);
      reporter.stepEnd(idx, 'success', 0);
      idx++;

      const workdir = env.resolve(job.plan.working_directory);
      const ctx: StepContext = {
        server: this.opts.server,
        job,
        sandbox: env,
        shell: env.shell,
        workdir,
        base,
        reporter,
        localCopy: this.opts.localCopy,
      };
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
        else if (step.type === 'add_ssh_keys') status = await sshKeysStep(ctx, step, i);
        else status = await remoteDockerStep(ctx, step, i);
        if (status !== 'success' && status !== 'running') outcome = 'failed';
        if (existsSync(halt)) {
          reporter.output(i, 'out', 'Halted by `circleci step halt`: the remaining steps do not run.\n');
          break;
        }
      }
    } catch (e) {
      if (!stopped()) {
        reporter.output(idx, 'err', `Roundhouse executor error: ${(e as Error).message}\n`);
        if (idx === 0) reporter.stepEnd(0, 'failed', 1);
        outcome = 'infrastructure_fail';
      }
    } finally {
      kill();
      kills.delete(kill);
      // Tear down before the job is reported finished: nothing of the node remains.
      await env
        ?.tearDown()
        .catch((e) => this.opts.log?.(`executor ${this.opts.id}: tear down: ${(e as Error).message}`));
    }
    return outcome;
  }

  #spinUpNote(job: ClaimedJob, node: number, total: number, driver: JobDriver): string {
    const ex = job.plan.executor;
    const what =
      ex.type === 'docker'
        ? `docker image ${ex.images[0]?.image}`
        : ex.type === 'machine'
          ? `machine${ex.image ? ` image ${ex.image}` : ''}`
          : ex.type;
    const lines = [
      `Roundhouse executor ${this.opts.id}, job ${job.name} #${job.number} (attempt ${job.attempt})${total > 1 ? `, parallel node ${node} of ${total}` : ''}`,
      `Executor: ${ex.type} (${what}), resource class ${ex.resource_class}, driver ${driver.name}`,
    ];
    if (driver.name === 'local' && (ex.type === 'docker' || ex.type === 'machine'))
      lines.push(
        `Note: the ${ex.type} executor is not available here (no Docker engine is configured: ROUNDHOUSE_DOCKER_HOST), so the job runs in the local ${this.opts.sandbox === 'bwrap' ? 'bubblewrap sandbox' : 'process runner'} on the host's tools${ex.type === 'docker' ? '; the image is not pulled' : ''}.`,
      );
    return `${lines.join('\n')}\n`;
  }

  /**
   * The checkout step runs inside the job like any step, with the image's git: fetch the pipeline's
   * ref into the working directory and check out the pipeline's commit. An image without git (as on
   * CircleCI, which then falls back to a built-in client) is served by the executor: it fetches with
   * the host's git into the shared directory and the job copies the result into place.
   */
  async #checkout(ctx: StepContext, step: Extract<StepPlan, { type: 'checkout' }>, idx: number): Promise<StepStatus> {
    const { job, sandbox, shell, workdir, base, reporter } = ctx;
    reporter.stepStart(idx, step.name, 'checkout');
    const target = step.path ? sandbox.resolve(step.path, workdir) : workdir;
    const { tag, branch, revision } = job.pipeline;
    const q = shellQuote;
    const refspec =
      tag !== undefined ? `+refs/tags/${tag}:refs/tags/${tag}` : `+refs/heads/${branch}:refs/remotes/origin/${branch}`;
    const fetch = [
      'set -e',
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
    const env: Record<string, string> = { ...stepEnvironment(job, base, {}), GIT_TERMINAL_PROMPT: '0' };
    // A repository over SSH is fetched with the project's checkout key, copied into ~/.ssh by the
    // job's own user (ssh wants its key private to it), as CircleCI does.
    const keyStage = `${sandbox.tmp}/.rh-checkout-key`;
    const withKey = job.checkout_key
      ? [
          'mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh"',
          `cp ${q(keyStage)} "$HOME/.ssh/id_rsa_checkout" && rm -f ${q(keyStage)} && chmod 600 "$HOME/.ssh/id_rsa_checkout"`,
          `export GIT_SSH_COMMAND="${sshCommand('$HOME/.ssh/id_rsa_checkout', '$HOME/.ssh/known_hosts')}"`,
        ]
      : [];
    if (job.checkout_key) writeFileSync(sandbox.hostPath(keyStage), keyText(job.checkout_key), { mode: 0o644 });
    // A repository over HTTPS with a token: basic auth through git's environment, for these commands only.
    const tokenEnv = job.checkout_token ? tokenGitEnv(job.checkout_token) : {};
    const withToken = Object.entries(tokenEnv).map(([k, v]) => `export ${k}=${q(v)}`);
    const inJob = [
      `echo ${q(`Cloning git repository ${job.project.repo_url}`)}`,
      `mkdir -p ${q(target)} && cd ${q(target)}`,
      'command -v git >/dev/null 2>&1 || exit 86',
      ...withKey,
      ...withToken,
      fetch,
    ].join('\n');
    const code = await runScript(sandbox, shell, workdir, env, reporter, idx, inJob);
    if (code !== 86) return endStep(reporter, idx, code);
    reporter.output(idx, 'out', 'git is not installed in this image: the executor fetches the commit instead.\n');
    const stage = `${sandbox.tmp}/.rh-checkout-${idx}`;
    const host = sandbox.hostPath(stage);
    mkdirSync(host, { recursive: true });
    const hostKey = `${host}.key`;
    if (job.checkout_key) writeFileSync(hostKey, keyText(job.checkout_key), { mode: 0o600 });
    const hostCode = await new Promise<number | null>((resolve) => {
      const child = spawn('/bin/sh', ['-c', fetch], {
        cwd: host,
        env: {
          PATH: DEFAULT_PATH,
          GIT_TERMINAL_PROMPT: '0',
          HOME: host,
          ...tokenEnv,
          ...(job.checkout_key
            ? {
                GIT_SSH_COMMAND: sshCommand(`'${hostKey}'`, `'${host}.known_hosts'`),
              }
            : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.setEncoding('utf8').on('data', (d: string) => reporter.output(idx, 'out', d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => reporter.output(idx, 'err', d));
      child.on('error', () => resolve(null));
      child.on('close', (c) => resolve(c));
    });
    await rm(hostKey, { force: true });
    if (hostCode !== 0) return endStep(reporter, idx, hostCode);
    const copy = `set -e\nmkdir -p ${q(target)}\ncp -R ${q(`${stage}/.`)} ${q(target)}/\n`;
    const copied = await runScript(sandbox, shell, workdir, env, reporter, idx, copy);
    await rm(host, { recursive: true, force: true });
    return endStep(reporter, idx, copied);
  }

  async #runStep(ctx: StepContext, step: RunStep, idx: number, background: Set<Background>): Promise<StepStatus> {
    const { job, sandbox, shell, workdir, base, reporter } = ctx;
    reporter.stepStart(idx, step.name, 'run', step.command);
    const cwd = step.working_directory ? sandbox.resolve(step.working_directory, workdir) : workdir;
    const script = `${sandbox.tmp}/.rh-step-${idx}`;
    writeFileSync(sandbox.hostPath(script), step.command);
    const argv = (step.shell ?? job.plan.shell ?? defaultShell(sandbox)).trim().split(/\s+/);
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
    const b = sandbox.background([...argv, script], cwd, env, output);
    background.add(b);
    void b.done.then((code) => {
      background.delete(b);
      finish(code, false);
    });
    return 'running';
  }
}

const basicToken = (token: string) => Buffer.from(`x-access-token:${token}`).toString('base64');
/** git configuration through the environment that sends the token as HTTP basic auth. */
const tokenGitEnv = (token: string): Record<string, string> => ({
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: 'http.extraHeader',
  GIT_CONFIG_VALUE_0: `Authorization: Basic ${basicToken(token)}`,
});

/** The ssh git uses with a checkout key: that key only, no prompts, host keys learnt on first use. */
const sshCommand = (keyFile: string, knownHosts: string) =>
  `ssh -i ${keyFile} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${knownHosts}`;

const keyText = (key: string) => (key.endsWith('\n') ? key : `${key}\n`);

/** CircleCI's default shell: bash with -eo pipefail when the environment has bash, else sh. */
function defaultShell(env: JobEnvironment): string {
  return env.hasBash === false ? '/bin/sh -eo pipefail' : '/bin/bash -eo pipefail';
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
