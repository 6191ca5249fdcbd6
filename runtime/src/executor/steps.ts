import { writeFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { OtherStep } from '../config/types.js';
import type { ClaimedJob, StepStatus } from '../protocol/executor.js';
import { BlobClient, renderCacheKey } from './blobs.js';
import { stepEnvironment } from './env.js';
import type { Reporter } from './reporter.js';
import type { JobEnvironment } from './driver.js';
import { type JobShell, shellQuote, wrapperScript } from './shell.js';

/** Steps the executor carries out itself, through scripts in the job shell and the blob protocol. */

/** What every step of a job runs with. */
export interface StepContext {
  readonly server: string;
  readonly job: ClaimedJob;
  /** Where the node runs (driver.ts). */
  readonly sandbox: JobEnvironment;
  readonly shell: JobShell;
  /** The job's working directory, as its processes see it. */
  readonly workdir: string;
  /** Environment the executor adds (HOME, BASH_ENV, PATH with the `circleci` command, …); steps may add to it. */
  readonly base: Record<string, string>;
  readonly reporter: Reporter;
  /** The executor shares the server's filesystem (embedded mode): blob downloads may be local copies. */
  readonly localCopy?: boolean;
}

/** Runs a script of the executor's own (checkout, caches, workspaces) in the job shell. */
export async function runScript(
  sandbox: JobEnvironment,
  shell: JobShell,
  cwd: string,
  env: Record<string, string>,
  reporter: Reporter,
  idx: number,
  script: string,
): Promise<number | null> {
  const file = `${sandbox.tmp}/.rh-step-${idx}`;
  writeFileSync(sandbox.hostPath(file), script);
  const wrapper = `${sandbox.tmp}/.rh-run-${idx}`;
  writeFileSync(sandbox.hostPath(wrapper), wrapperScript(cwd, env, ['/bin/sh'], file));
  return (await shell.run(idx, wrapper, 600, (stream, data) => reporter.output(idx, stream, data))).code;
}

export function endStep(reporter: Reporter, idx: number, code: number | null): StepStatus {
  const status: StepStatus = code === 0 ? 'success' : 'failed';
  if (status === 'failed' && !reporter.canceled)
    reporter.output(idx, 'err', `\nExited with code ${code ?? 'unknown'}\n`);
  reporter.stepEnd(idx, status, code ?? 1);
  return status;
}

/**
 * save_cache, restore_cache, persist_to_workspace and attach_workspace: archives are made and
 * unpacked inside the sandbox (tar in the job shell); the executor moves them to and from the
 * platform's object storage.
 */
export async function blobStep(ctx: StepContext, step: OtherStep, idx: number): Promise<StepStatus> {
  const { server, job, sandbox, shell, workdir, base, reporter } = ctx;
  reporter.stepStart(idx, step.name, step.type);
  const blobs = new BlobClient(server, job.id, job.token, reporter.node, ctx.localCopy === true);
  const env = stepEnvironment(job, base, {});
  const say = (text: string) => reporter.output(idx, 'out', text);
  const q = shellQuote;
  const a = step.args;
  const abs = (p: string, from = workdir) => sandbox.resolve(p, from);
  const archive = `${sandbox.tmp}/.rh-archive-${idx}.tgz`;
  try {
    if (step.type === 'save_cache') {
      const key = await renderCacheKey(String(a.key ?? ''), job, env, (p) => sandbox.pull(abs(p)));
      if (!key) throw new Error('save_cache needs a `key`');
      const existing = await blobs.lookupCache([key]);
      if (existing?.key === key) {
        say(`Skipping cache generation, cache already exists for key: ${key}\n`);
        return endStep(reporter, idx, 0);
      }
      const paths = (Array.isArray(a.paths) ? a.paths : [a.paths])
        .filter((p) => p !== undefined)
        .map((p) => abs(String(p)));
      say(`Creating cache archive...\n`);
      const script = [
        'set -e',
        'set --',
        ...paths.map(
          (p) =>
            `if [ -e ${q(p)} ]; then set -- "$@" ${q(p.replace(/^\/+/, '') || '.')}; else echo "Warning: could not find path ${p.replace(/"/g, '')}" >&2; fi`,
        ),
        `if [ $# -eq 0 ]; then exit 3; fi`,
        // Paths relative to / (not tar -P, which busybox tar lacks); restore unpacks at /.
        `tar -C / -czf ${q(archive)} "$@"`,
        '',
      ].join('\n');
      const code = await runScript(sandbox, shell, workdir, env, reporter, idx, script);
      if (code === 3) {
        say('No paths to cache: nothing was saved.\n');
        return endStep(reporter, idx, 0);
      }
      if (code !== 0) return endStep(reporter, idx, code);
      const r = await blobs.saveCache(key, sandbox.hostPath(archive));
      say(r.saved ? `Stored cache to ${key}\n` : `Skipping cache generation, cache already exists for key: ${key}\n`);
      return endStep(reporter, idx, 0);
    }
    if (step.type === 'restore_cache') {
      const templates = (Array.isArray(a.keys) ? a.keys : [a.key]).filter((k) => k !== undefined).map(String);
      const keys: string[] = [];
      for (const t of templates) keys.push(await renderCacheKey(t, job, env, (p) => sandbox.pull(abs(p))));
      const found = await blobs.lookupCache(keys.filter(Boolean));
      if (!found) {
        say(`No cache is found for key${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}\n`);
        return endStep(reporter, idx, 0);
      }
      say(`Found a cache at key ${found.key} (${found.size} bytes)\n`);
      if (!(await blobs.getCache(found.key, sandbox.hostPath(archive)))) throw new Error(`cache ${found.key} vanished`);
      const code = await runScript(
        sandbox,
        shell,
        workdir,
        env,
        reporter,
        idx,
        `set -e\ntar -C / -xzf ${q(archive)}\nrm -f ${q(archive)}\necho "Restored."\n`,
      );
      return endStep(reporter, idx, code);
    }
    if (step.type === 'persist_to_workspace') {
      const root = abs(String(a.root ?? '.'));
      const paths = (Array.isArray(a.paths) ? a.paths : [a.paths]).filter((p) => p !== undefined).map(String);
      // Globs in paths are the shell's; literal paths are quoted.
      const words = paths.map((p) => (/[*?[]/.test(p) ? p : q(p))).join(' ');
      const code = await runScript(
        sandbox,
        shell,
        root,
        env,
        reporter,
        idx,
        `set -e\ntar -czf ${q(archive)} ${words}\necho "Persisted to workspace from ${root.replace(/"/g, '')}"\n`,
      );
      if (code !== 0) return endStep(reporter, idx, code);
      await blobs.putWorkspace(sandbox.hostPath(archive));
      return endStep(reporter, idx, 0);
    }
    if (step.type === 'store_artifacts') {
      const path = abs(String(a.path ?? ''));
      const host = await sandbox.pull(path);
      const prefix = String(a.destination ?? a.path ?? '')
        .replace(/^~\//, '')
        .replace(/^\/+/, '');
      const files = host ? await walk(host) : [];
      if (!host || !files.length) {
        say(`No artifact files found at ${path}\n`);
        return endStep(reporter, idx, 0);
      }
      for (const f of files) {
        const rel = relative(host, f);
        const dest = rel ? `${prefix}/${rel}` : prefix || basename(f);
        await blobs.putArtifact(dest, f);
        say(`Uploading ${dest}\n`);
      }
      say(`Uploaded ${files.length} artifact(s)\n`);
      return endStep(reporter, idx, 0);
    }
    if (step.type === 'store_test_results') {
      const path = abs(String(a.path ?? ''));
      const host = await sandbox.pull(path);
      const files = host ? (await walk(host)).filter((f) => f.endsWith('.xml')) : [];
      const reports = [];
      for (const f of files) reports.push({ file: relative(host!, f) || basename(f), xml: await readFile(f, 'utf8') });
      if (!reports.length) {
        say(`No test results found at ${path}\n`);
        return endStep(reporter, idx, 0);
      }
      const r = await blobs.putTests(reports);
      say(`Uploaded ${r.tests} test result(s) from ${reports.length} file(s)\n`);
      for (const p of r.problems) reporter.output(idx, 'err', `Could not read ${p}\n`);
      return endStep(reporter, idx, 0);
    }
    if (step.type === 'attach_workspace') {
      const at = abs(String(a.at ?? '.'));
      const layers = await blobs.workspaceLayers();
      if (!layers.length) {
        say('No workspace was persisted upstream of this job: nothing to attach.\n');
        return endStep(reporter, idx, 0);
      }
      const files: string[] = [];
      for (const [n, layer] of layers.entries()) {
        const f = `${sandbox.tmp}/.rh-layer-${idx}-${n}.tgz`;
        await blobs.getLayer(layer, sandbox.hostPath(f));
        files.push(f);
      }
      say(`Attaching ${layers.length} workspace layer(s) at ${at}\n`);
      const script = [
        'set -e',
        `mkdir -p ${q(at)}`,
        ...files.map((f) => `tar -xzf ${q(f)} -C ${q(at)} && rm -f ${q(f)}`),
        '',
      ].join('\n');
      return endStep(reporter, idx, await runScript(sandbox, shell, workdir, env, reporter, idx, script));
    }
  } catch (e) {
    reporter.output(idx, 'err', `${(e as Error).message}\n`);
    return endStep(reporter, idx, 1);
  }
  return endStep(reporter, idx, 0);
}

/** Every file under a path (the path itself when it is a file), symlinks not followed. */
async function walk(path: string): Promise<string[]> {
  let st: import('node:fs').Stats;
  try {
    st = await stat(path);
  } catch {
    return [];
  }
  if (st.isFile()) return [path];
  if (!st.isDirectory()) return [];
  const out: string[] = [];
  for (const e of await readdir(path, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await walk(join(path, e.name))));
    else if (e.isFile()) out.push(join(path, e.name));
  }
  return out.sort();
}

/** `add_ssh_keys`: the project's additional SSH keys (all, or those `fingerprints` names) into ~/.ssh. */
export async function sshKeysStep(ctx: StepContext, step: OtherStep, idx: number): Promise<StepStatus> {
  const { job, sandbox, shell, workdir, base, reporter } = ctx;
  reporter.stepStart(idx, step.name, step.type);
  const wanted = Array.isArray(step.args.fingerprints) ? step.args.fingerprints.map(String) : undefined;
  const norm = (f: string) => f.replace(/^(MD5|SHA256):/i, '').toLowerCase();
  const keys = (job.ssh_keys ?? []).filter((k) => !wanted || wanted.some((w) => norm(w) === norm(k.fingerprint)));
  const missing = (wanted ?? []).filter((w) => !(job.ssh_keys ?? []).some((k) => norm(k.fingerprint) === norm(w)));
  for (const m of missing)
    reporter.output(idx, 'err', `No SSH key with fingerprint ${m} is set up for this project.\n`);
  if (!keys.length) {
    reporter.output(idx, 'out', 'No SSH keys to add.\n');
    return endStep(reporter, idx, missing.length ? 1 : 0);
  }
  const q = shellQuote;
  const lines = ['set -e', 'umask 077', 'mkdir -p "$HOME/.ssh"', 'chmod 700 "$HOME/.ssh"'];
  for (const [n, k] of keys.entries()) {
    const name = `id_rsa_${norm(k.fingerprint).replace(/[^a-z0-9]/g, '')}`;
    const staged = `${sandbox.tmp}/.rh-key-${idx}-${n}`;
    writeFileSync(sandbox.hostPath(staged), k.private_key.endsWith('\n') ? k.private_key : `${k.private_key}\n`, {
      mode: 0o644,
    });
    lines.push(
      `cp ${q(staged)} "$HOME/.ssh/${name}" && rm -f ${q(staged)} && chmod 600 "$HOME/.ssh/${name}"`,
      `printf 'Host %s\\n  IdentityFile %s\\n  IdentitiesOnly no\\n' ${q(k.hostname || '*')} "$HOME/.ssh/${name}" >> "$HOME/.ssh/config"`,
      `echo ${q(`Added SSH key ${k.fingerprint}${k.hostname ? ` for ${k.hostname}` : ''}`)}`,
    );
  }
  lines.push('chmod 600 "$HOME/.ssh/config"', '');
  const code = await runScript(
    sandbox,
    shell,
    workdir,
    stepEnvironment(job, base, {}),
    reporter,
    idx,
    lines.join('\n'),
  );
  return endStep(reporter, idx, code === 0 && missing.length ? 1 : code);
}

/**
 * `setup_remote_docker`: a Docker engine of the job's own (a Podman service with its own storage,
 * started for this job and removed with it), reachable through DOCKER_HOST in the later steps.
 */
export async function remoteDockerStep(ctx: StepContext, step: OtherStep, idx: number): Promise<StepStatus> {
  const { sandbox, reporter, base } = ctx;
  reporter.stepStart(idx, step.name, step.type);
  if (!sandbox.remoteDocker) {
    reporter.output(
      idx,
      'err',
      'setup_remote_docker: this executor has no remote Docker engine to give (Podman is not installed here).\n',
    );
    return endStep(reporter, idx, 1);
  }
  try {
    const socket = await sandbox.remoteDocker((text) => reporter.output(idx, 'out', text));
    base.DOCKER_HOST = `unix://${socket}`;
    reporter.output(idx, 'out', `Remote Docker engine ready: DOCKER_HOST=unix://${socket}\n`);
    return endStep(reporter, idx, 0);
  } catch (e) {
    reporter.output(idx, 'err', `setup_remote_docker: ${(e as Error).message}\n`);
    return endStep(reporter, idx, 1);
  }
}
