import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join, posix } from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { DockerImage } from '../config/types.js';
import type { ClaimedJob } from '../protocol/executor.js';
import type { Background, JobDriver, JobEnvironment } from './driver.js';
import { DEFAULT_PATH } from './env.js';
import { podmanAvailable, RemoteDocker } from './remote-docker.js';
import { JobShell, wrapperScript } from './shell.js';

/** Where the executor's shared directory appears inside the primary container. */
const SHARED = '/tmp/.roundhouse';

/** CircleCI's Docker resource classes: vCPUs and memory (GiB). */
export const DOCKER_RESOURCE_CLASSES: Record<string, { cpus: number; memoryGiB: number }> = {
  small: { cpus: 1, memoryGiB: 2 },
  medium: { cpus: 2, memoryGiB: 4 },
  'medium+': { cpus: 3, memoryGiB: 6 },
  large: { cpus: 4, memoryGiB: 8 },
  xlarge: { cpus: 8, memoryGiB: 16 },
  '2xlarge': { cpus: 16, memoryGiB: 32 },
  '2xlarge+': { cpus: 20, memoryGiB: 40 },
};

export interface DockerDriverOptions {
  /** The engine: a unix socket path, unix:///path, or tcp://host:port (Docker or Podman's compatible API). */
  readonly host: string;
  /** Network of the primary container: bridge (default), host, none, or a named network. */
  readonly network: string;
  /** Where per-job shared directories are made. */
  readonly workDir: string;
  /** ECR API endpoint override (tests, VPC endpoints). */
  readonly ecrEndpoint?: string;
  readonly log?: (msg: string) => void;
}

/** A Docker API client (dockerode is loaded only when a Docker engine is configured). */
export async function dockerClient(host: string): Promise<Docker> {
  const { default: Docker } = await import('dockerode');
  if (host.startsWith('tcp://') || host.startsWith('http://') || host.startsWith('https://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    return new Docker({
      host: u.hostname,
      port: Number(u.port || 2375),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
    });
  }
  return new Docker({ socketPath: host.replace(/^unix:\/\//, '') });
}

/** `${VAR}` and `$VAR` in registry credentials, from the job's project/context and job variables. */
export function expandVars(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => vars[a ?? b] ?? '');
}

/**
 * The `docker` driver: each node of a job runs in containers on a Docker Engine API (Docker, or
 * Podman's compatible socket). The primary image runs the job shell; service images run beside it
 * in the primary's network namespace, so they answer on localhost as on CircleCI. The executor and
 * the job share one directory, mounted at /tmp/.roundhouse, which carries the job shell's pipes,
 * step scripts and archives. Tear down removes every container of the node and that directory.
 */
export class DockerDriver implements JobDriver {
  readonly name = 'docker';

  private constructor(
    readonly opts: DockerDriverOptions,
    readonly docker: Docker,
  ) {}

  static async create(opts: DockerDriverOptions): Promise<DockerDriver> {
    return new DockerDriver(opts, await dockerClient(opts.host));
  }

  /** Removes containers a previous run of this executor left behind (after a crash or kill -9). */
  async reap(): Promise<number> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`io.roundhouse.workdir=${this.opts.workDir}`] },
    });
    const services = (c: { Labels: Record<string, string> }) => (c.Labels['io.roundhouse.role'] === 'service' ? 0 : 1);
    for (const c of list.sort((a, b) => services(a) - services(b)))
      await this.docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    return list.length;
  }

  async close() {}

  async #ensureImage(image: DockerImage, vars: Record<string, string>, say: (t: string) => void) {
    try {
      await this.docker.getImage(image.image).inspect();
      say(`Using image ${image.image} (present on this engine)\n`);
      return;
    } catch {
      // not here: pull it
    }
    let authconfig: { username: string; password: string; serveraddress: string } | undefined;
    if (image.aws_auth) authconfig = await this.#ecrAuth(image, vars);
    else if (image.auth)
      authconfig = {
        username: expandVars(image.auth.username ?? '', vars),
        password: expandVars(image.auth.password ?? '', vars),
        serveraddress: registryOf(image.image),
      };
    say(
      `Pulling image ${image.image}${authconfig ? ` (as ${authconfig.username} on ${authconfig.serveraddress})` : ''}\n`,
    );
    // Engines report pull failures in the progress stream; the image's presence afterwards decides.
    let problem = '';
    try {
      const stream = await this.docker.pull(image.image, authconfig ? { authconfig } : {});
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(
          stream,
          (err: Error | null) => (err ? reject(err) : resolve()),
          (event: { error?: string }) => {
            if (event.error) problem = event.error;
          },
        ),
      );
    } catch (e) {
      problem ||= (e as Error).message;
    }
    try {
      await this.docker.getImage(image.image).inspect();
    } catch {
      // Credentials never appear in the message: only the engine's words about the image.
      throw new Error(`could not pull image ${image.image}: ${(problem || 'not found after pulling').split('\n')[0]}`);
    }
  }

  /** An ECR login: the AWS SDK's GetAuthorizationToken with the configured keys. */
  async #ecrAuth(
    image: DockerImage,
    vars: Record<string, string>,
  ): Promise<{ username: string; password: string; serveraddress: string }> {
    const a = image.aws_auth!;
    const registry = registryOf(image.image);
    const region = a.region
      ? expandVars(a.region, vars)
      : (/\.ecr\.([a-z0-9-]+)\.amazonaws\.com/.exec(registry)?.[1] ?? 'us-east-1');
    const keyId = a.aws_access_key_id ? expandVars(a.aws_access_key_id, vars) : (vars.AWS_ACCESS_KEY_ID ?? '');
    const secret = a.aws_secret_access_key
      ? expandVars(a.aws_secret_access_key, vars)
      : (vars.AWS_SECRET_ACCESS_KEY ?? '');
    if (!keyId || !secret)
      throw new Error(
        a.oidc_role_arn
          ? 'aws_auth with oidc_role_arn needs OIDC tokens, which this server does not issue yet; use access keys'
          : 'aws_auth needs aws_access_key_id and aws_secret_access_key (directly or as project/context variables)',
      );
    const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
    const ecr = new ECRClient({
      region,
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
      ...(this.opts.ecrEndpoint ? { endpoint: this.opts.ecrEndpoint } : {}),
    });
    try {
      const r = await ecr.send(new GetAuthorizationTokenCommand({}));
      const token = r.authorizationData?.[0]?.authorizationToken;
      if (!token) throw new Error('no authorization token in the answer');
      const [username, password] = Buffer.from(token, 'base64').toString('utf8').split(':');
      return { username, password, serveraddress: registry };
    } catch (e) {
      throw new Error(`ECR login for ${registry} failed: ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      ecr.destroy();
    }
  }

  async setUp(job: ClaimedJob, node: number, say: (text: string) => void): Promise<JobEnvironment> {
    const images = job.plan.executor.images;
    if (!images.length) throw new Error('a docker executor needs at least one image');
    const vars = { ...job.environment, ...job.plan.environment };
    const dir = join(this.opts.workDir, `${job.id}-${job.attempt}-${node}`);
    const shared = join(dir, 'shared');
    mkdirSync(join(shared, '.rh-bin'), { recursive: true });
    // The container's user may be anyone; this directory is the job's alone.
    chmodSync(shared, 0o777);
    chmodSync(join(shared, '.rh-bin'), 0o777);
    writeFileSync(join(shared, '.rh-bin', '.node'), '');
    const env = new DockerEnvironment(this, dir, shared);
    try {
      for (const img of images) await this.#ensureImage(img, vars, say);
      const [primary, ...services] = images;
      const info = await this.docker.getImage(primary.image).inspect();
      const rc = DOCKER_RESOURCE_CLASSES[job.plan.executor.resource_class] ?? DOCKER_RESOURCE_CLASSES.medium;
      const cpuCount = Math.min(rc.cpus, cpus().length);
      if (cpuCount < rc.cpus)
        say(
          `Resource class ${job.plan.executor.resource_class}: ${rc.cpus} vCPUs asked, this host has ${cpuCount}; limited to ${cpuCount}\n`,
        );
      const limits = { NanoCpus: cpuCount * 1e9, Memory: rc.memoryGiB * 1024 ** 3, PidsLimit: 4096 };
      const labels = {
        'io.roundhouse.workdir': this.opts.workDir,
        'io.roundhouse.job': job.id,
        'io.roundhouse.node': String(node),
      };
      const binds = [`${shared}:${SHARED}`, `${process.execPath}:${SHARED}/.rh-bin/.node:ro`];
      // A project whose repository is a path on this machine is visible read-only at the same path.
      const url = job.project.repo_url;
      const local = url.startsWith('file://') ? new URL(url).pathname : url;
      if (local.startsWith('/')) binds.push(`${local}:${local}:ro`);

      const shell = JobShell.attach(shared, () => void env.killAll());
      env.shell = shell;
      // The primary container's main process is the job shell, its stdio the shared pipes. As on
      // CircleCI the image's ENTRYPOINT is not run, unless the image asks for it with the label
      // com.circleci.preserve-entrypoint=true.
      const launch = [
        '/bin/sh',
        '-c',
        `exec 0<>${SHARED}/.rh-in 1>>${SHARED}/.rh-out 2>>${SHARED}/.rh-err 3<>${SHARED}/.rh-ctl; exec "$@"`,
        'roundhouse',
        ...shell.supervisorArgv(SHARED),
      ];
      const preserve = info.Config?.Labels?.['com.circleci.preserve-entrypoint'] === 'true';
      const named = services.filter((s) => s.name).map((s) => `${s.name}:127.0.0.1`);
      const main = await this.docker.createContainer({
        Image: primary.image,
        ...(preserve
          ? { Entrypoint: primary.entrypoint ?? info.Config?.Entrypoint ?? undefined, Cmd: launch }
          : { Entrypoint: launch, Cmd: [] }),
        User: primary.user,
        Env: Object.entries(primary.environment ?? {}).map(([k, v]) => `${k}=${v}`),
        Labels: { ...labels, 'io.roundhouse.role': 'primary' },
        HostConfig: {
          Binds: binds,
          NetworkMode: this.opts.network,
          ...(named.length && this.opts.network !== 'none' ? { ExtraHosts: named } : {}),
          ...limits,
        },
      });
      env.containers.push(main);
      await main.start();
      void main.wait().then(
        () => shell.exited(),
        () => shell.exited(),
      );
      // Service containers share the primary's network namespace: they answer on localhost.
      for (const s of services) {
        const c = await this.docker.createContainer({
          Image: s.image,
          ...(s.entrypoint ? { Entrypoint: s.entrypoint } : {}),
          ...(s.command ? { Cmd: s.command } : {}),
          User: s.user,
          Env: Object.entries(s.environment ?? {}).map(([k, v]) => `${k}=${v}`),
          Labels: { ...labels, 'io.roundhouse.role': 'service' },
          HostConfig: { NetworkMode: `container:${main.id}`, ...limits },
        });
        env.containers.push(c);
        await c.start();
        say(`Started service container ${s.name ?? s.image}\n`);
      }
      // The user's home and whether the image has bash decide `~` and the default shell.
      const probe = await env.exec(['/bin/sh', '-c', 'printf %s "$HOME"; [ -x /bin/bash ] && printf " bash"; exit 0']);
      const [home, bash] = probe.out.trim().split(' ');
      env.home = home || '/root';
      env.hasBash = bash === 'bash';
      const pathVar = (info.Config?.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5);
      env.baseEnv = { PATH: pathVar || DEFAULT_PATH };
      env.described = [
        `Docker: image ${primary.image} (user ${primary.user ?? (info.Config?.User || 'root')}, home ${env.home}), ${services.length} service container(s); ${cpuCount} vCPU, ${rc.memoryGiB} GiB, network ${this.opts.network}. Containers are removed after the job.`,
      ];
      return env;
    } catch (e) {
      await env.tearDown();
      throw e;
    }
  }
}

/** An exec's exit code; engines may report the end of its output a moment before its exit. */
async function exitCode(e: Docker.Exec): Promise<number | null> {
  for (let i = 0; i < 100; i++) {
    const info = await e.inspect();
    if (!info.Running) return info.ExitCode ?? null;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** The registry host of an image reference (docker.io when it names none). */
export function registryOf(image: string): string {
  const first = image.split('/')[0];
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io';
}

class DockerEnvironment implements JobEnvironment {
  readonly driver = 'docker';
  readonly containers: Docker.Container[] = [];
  shell!: JobShell;
  home = '/root';
  hasBash = true;
  baseEnv: Record<string, string> = {};
  described: string[] = [];
  readonly tmp = SHARED;
  #n = 0;
  #docker: RemoteDocker | undefined;

  constructor(
    readonly owner: DockerDriver,
    readonly dir: string,
    readonly shared: string,
  ) {}

  resolve(path: string, base?: string): string {
    const p = path === '~' ? this.home : path.startsWith('~/') ? posix.join(this.home, path.slice(2)) : path;
    return p.startsWith('/') ? p : posix.join(base ?? this.home, p);
  }

  hostPath(path: string): string {
    if (path === SHARED || path.startsWith(`${SHARED}/`)) return join(this.shared, path.slice(SHARED.length));
    throw new Error(`${path} is inside the container; only ${SHARED} is shared with the executor`);
  }

  /** Runs a command in the primary container, streaming its output; resolves with its exit code. */
  async #stream(cmd: string[], onOutput: (stream: 'out' | 'err', data: string) => void): Promise<number | null> {
    const e = await this.containers[0].exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await e.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const err = new PassThrough();
    out.setEncoding('utf8').on('data', (d: string) => onOutput('out', d));
    err.setEncoding('utf8').on('data', (d: string) => onOutput('err', d));
    this.owner.docker.modem.demuxStream(stream, out, err);
    await new Promise((resolve) => stream.on('end', resolve).on('close', resolve).on('error', resolve));
    return exitCode(e);
  }

  /** Runs a command in the primary container, collecting its output. */
  async exec(cmd: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const text = { out: '', err: '' };
    const code = await this.#stream(cmd, (stream, data) => {
      text[stream] += data;
    });
    return { code, ...text };
  }

  async pull(path: string): Promise<string | undefined> {
    if (path === SHARED || path.startsWith(`${SHARED}/`)) return this.hostPath(path);
    const dest = `${SHARED}/.rh-pull-${++this.#n}`;
    const r = await this.exec([
      '/bin/sh',
      '-c',
      '[ -e "$1" ] || exit 44; mkdir -p "$2" && cp -R "$1" "$2/"',
      'pull',
      path,
      dest,
    ]);
    if (r.code === 44) return undefined;
    if (r.code !== 0) throw new Error(`could not copy ${path} out of the container: ${r.err.trim()}`);
    return join(this.hostPath(dest), basename(path));
  }

  background(
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    onOutput: (stream: 'out' | 'err', data: string) => void,
  ): Background {
    const wrapper = `${SHARED}/.rh-bg-${++this.#n}`;
    writeFileSync(this.hostPath(wrapper), wrapperScript(cwd, env, argv.slice(0, -1), argv[argv.length - 1]));
    // Not the exec's own process: setsid forks (and its parent exits 0) when run as a group leader.
    const done = this.#stream(['/bin/sh', '-c', '/bin/sh "$1"; exit $?', 'background', wrapper], onOutput).catch(
      () => null,
    );
    // Ended with its container at tear down.
    return { done, kill: () => undefined };
  }

  async remoteDocker(): Promise<string> {
    if (!podmanAvailable()) throw new Error('Podman is not installed on this executor');
    const socket = `${SHARED}/.rh-docker.sock`;
    this.#docker ??= new RemoteDocker(`${this.dir}-docker`, this.hostPath(socket));
    await this.#docker.start();
    return socket;
  }

  describe() {
    return this.described;
  }

  /** Kills every container of the node at once (cancel, timeouts): tear down removes them. */
  async killAll() {
    await Promise.all(this.containers.map((c) => c.kill().catch(() => undefined)));
  }

  async tearDown() {
    // Kill first and wait for it: an engine may refuse to remove a container it is still killing.
    await this.killAll();
    this.shell?.kill();
    // Services first: they live in the primary's network namespace, which cannot go before them.
    const problems: string[] = [];
    for (const c of [...this.containers].reverse()) {
      for (let attempt = 0; ; attempt++) {
        try {
          await c.remove({ force: true, v: true });
          break;
        } catch (e) {
          const status = (e as { statusCode?: number }).statusCode;
          if (status === 404) break;
          if (attempt >= 20) {
            problems.push(`${c.id.slice(0, 12)}: ${(e as Error).message.split('\n')[0]}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 100 * Math.min(attempt + 1, 10)));
        }
      }
    }
    await this.#docker?.stop();
    await rm(this.dir, { recursive: true, force: true });
    if (problems.length) throw new Error(`could not remove container(s) ${problems.join('; ')}`);
  }
}
