import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app.js';
import { projectSettings } from './api/project-settings.js';
import { AuditLog } from './audit/log.js';
import type { ContextGate } from './conductor/conductor.js';
import { hashToken } from './api/auth.js';
import { Conductor } from './conductor/conductor.js';
import { DEMO_SLUG, ensureDemoRepo } from './demo.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { ExecutorAgent } from './executor/agent.js';
import { forOpenSsh } from './shared/openssh.js';
import { CHECKOUT_TOKEN_VAR } from './shared/urls.js';
import { DockerDriver } from './executor/docker.js';
import { chooseSandbox, type SandboxKind } from './executor/sandbox.js';
import { S3ObjectStore } from './objects/s3.js';
import { expireObjects, FsObjectStore } from './objects/store.js';
import { Identity, mayUseContext } from './identity/service.js';
import { Envelope, type KeyProvider, LocalKeyProvider } from './secrets/envelope.js';
import { AwsKmsKeyProvider, GcpKmsKeyProvider } from './secrets/kms.js';
import { OrbRegistry } from './orbs/registry.js';
import { OutputService } from './output/output.js';
import { Bus } from './shared/bus.js';
import type { Settings } from './shared/settings.js';
import { now, Store } from './store/store.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly conductor: Conductor;
  readonly url: string;
  readonly adminToken: string;
  readonly sandbox: SandboxKind;
  readonly demoPipelineId?: string;
  /** Drains (up to drainSeconds), requeues what is left, and closes. */
  close(): Promise<void>;
}

/** The key provider the settings name: the local key file (embedded), AWS KMS or GCP KMS. */
export function keyProviderFor(settings: Settings): KeyProvider {
  const k = settings.keyProvider;
  if (k.kind === 'aws-kms') return new AwsKmsKeyProvider(k.keyId!, { region: k.region, endpoint: k.endpoint });
  if (k.kind === 'gcp-kms')
    return new GcpKmsKeyProvider(k.keyId!, k.endpoint ? { apiEndpoint: new URL(k.endpoint).hostname } : {});
  return new LocalKeyProvider(join(settings.dataDir, 'master.key'));
}

/**
 * Restricted contexts, checked as a job is about to be queued: the context must exist in the
 * project's organization; a context with security groups may be used only by members of one of
 * them (or org admins and Roundhouse admins); one without groups by every project of its org.
 */
export const contextGate: ContextGate = async (s, job, contexts, actor) => {
  const project = await s.projectById(job.project_id);
  for (const name of contexts) {
    const c = await s.secrets.contextByName(name);
    const org = c && (await s.identity.org(c.org_id));
    if (!c || !org || org.name.toLowerCase() !== project?.org.toLowerCase())
      return { status: 'failed', message: `Context "${name}" was not found in organization ${project?.org}.` };
    if (!(await s.secrets.groupsOf(c.id)).length) continue;
    const user = await s.identity.userByLogin(actor);
    if (!user || user.state === 'suspended' || !(await mayUseContext(s, user, c)))
      return {
        status: 'unauthorized',
        message: `${actor} is not a member of a security group of the restricted context "${name}".`,
      };
  }
  return undefined;
};

/** A secret kept in the data dir across restarts (unless given in the environment). */
function persistentSecret(dataDir: string, file: string, given?: string): { value: string; generated: boolean } {
  if (given) return { value: given, generated: false };
  const path = join(dataDir, file);
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), generated: false };
  const value = file === 'admin-token' ? `rh_${randomBytes(20).toString('hex')}` : randomBytes(32).toString('hex');
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return { value, generated: true };
}

/**
 * All roles in one process (embedded mode): api, conductor, dispatcher, output, and a local pool
 * of executors that reach the api only over the executor protocol, exactly as remote ones would.
 */
export async function startServer(
  settings: Settings,
  log: (msg: string) => void = () => undefined,
): Promise<RunningServer> {
  mkdirSync(settings.dataDir, { recursive: true });
  const admin = persistentSecret(
    settings.dataDir,
    'admin-token',
    settings.adminTokenGenerated ? undefined : settings.adminToken,
  );
  const secret = persistentSecret(settings.dataDir, 'server-secret', process.env.ROUNDHOUSE_SECRET).value;
  const store = await Store.open(settings.databaseUrl, settings.dataDir);

  // Whatever fails during start-up releases what was already started (port, executors, store).
  let app: FastifyInstance | undefined;
  let reaper: NodeJS.Timeout | undefined;
  let scheduler: NodeJS.Timeout | undefined;
  let expiry: NodeJS.Timeout | undefined;
  const agents: ExecutorAgent[] = [];
  try {
    let user = await store.userByLogin('admin');
    if (!user) {
      user = { id: randomUUID(), login: 'admin', name: 'Administrator', is_admin: 1, created_at: now() };
      await store.insert('users', { ...user });
    }
    await store.putToken(user.id, hashToken(admin.value), 'bootstrap');

    const sandbox = chooseSandbox(settings.sandbox);
    const notices: string[] = [];
    if (sandbox === 'none') {
      notices.push(
        "Jobs are NOT sandboxed: bubblewrap is not available (or ROUNDHOUSE_SANDBOX=none), so jobs run as plain processes with this server's rights.",
      );
    }
    const bus = new Bus();
    const orbs = new OrbRegistry(store);
    const conductor = new Conductor(store, bus, settings.dataDir, orbs);
    const objects = settings.objects
      ? new S3ObjectStore(settings.objects)
      : new FsObjectStore(join(settings.dataDir, 'objects'));
    const envelope = new Envelope(keyProviderFor(settings));
    const audit = new AuditLog(store, objects, (e) => log(`audit log: ${e.message}`));
    // Precedence (lowest first): project variables, then each context in the job's order.
    const projectEnv = async (projectId: string, contexts: readonly string[], fromFork: boolean) => {
      const out: Record<string, string> = {};
      const project = await store.projectById(projectId);
      if (fromFork && (!project || !projectSettings(project).forks_receive_secret_env_vars)) return out;
      for (const v of await store.projectEnvVars(projectId)) out[v.name] = await envelope.decrypt(v.value_enc);
      for (const name of contexts) {
        const c = await store.secrets.contextByName(name);
        if (!c) continue;
        for (const v of await store.secrets.contextVars(c.id)) out[v.name] = await envelope.decrypt(v.value_enc);
      }
      return out;
    };
    const sshKeys = async (projectId: string) =>
      Promise.all(
        (await store.projectSshKeys(projectId)).map(async (k) => ({
          fingerprint: k.fingerprint,
          hostname: k.hostname,
          private_key: await envelope.decrypt(k.private_key_enc),
        })),
      );
    const dispatcher = new Dispatcher(store, bus, secret, settings.publicUrl, projectEnv);
    dispatcher.sshKeys = sshKeys;
    conductor.audit = audit;
    conductor.contextGate = contextGate;
    dispatcher.audit = audit;
    // The preferred checkout key (else the newest) fetches repositories reached over SSH.
    const checkoutKey = async (projectId: string) => {
      const keys = await store.secrets.checkoutKeys(projectId);
      const key = keys.find((k) => Number(k.preferred) === 1) ?? keys[keys.length - 1];
      return key ? forOpenSsh(await envelope.decrypt(key.private_enc)) : undefined;
    };
    dispatcher.checkoutKey = checkoutKey;
    conductor.checkoutKey = checkoutKey;
    // HTTPS repositories: the project's ROUNDHOUSE_CHECKOUT_TOKEN variable, sent as basic auth.
    const checkoutToken = async (projectId: string) => {
      const v = (await store.projectEnvVars(projectId)).find((x) => x.name === CHECKOUT_TOKEN_VAR);
      return v ? envelope.decrypt(v.value_enc) : undefined;
    };
    dispatcher.checkoutToken = checkoutToken;
    conductor.checkoutToken = checkoutToken;
    // The GitHub client (octokit) is loaded only when GitHub login is configured.
    const github = settings.github
      ? new (await import('./identity/github.js')).GitHubClient(
          settings.github.apiUrl,
          settings.github.clientId,
          settings.github.clientSecret,
        )
      : undefined;
    const identity = new Identity(store, envelope, github, audit);
    const output = new OutputService(store, bus, objects, log);
    const deps = {
      store,
      bus,
      conductor,
      dispatcher,
      output,
      executorToken: settings.executorToken,
      publicUrl: settings.publicUrl,
      urlSecret: secret,
      notices,
      orbs,
      envelope,
      identity,
      audit,
      webhookSecret: settings.webhookSecret,
      artifactsServeUnsafe: settings.artifactsServeUnsafe,
      objects,
    };
    app = await buildApp(deps);
    await app.listen({ port: settings.port, host: settings.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : settings.port;
    const url = settings.port === 0 && !process.env.ROUNDHOUSE_URL ? `http://127.0.0.1:${port}` : settings.publicUrl;
    deps.publicUrl = url;
    dispatcher.publicUrl = url;

    // Work interrupted by a previous stop of this server's local executors goes back in the queue;
    // remote executors' jobs are requeued when their lease runs out.
    const bootId = randomBytes(4).toString('hex');
    const mine = (claimer: string | null) => claimer?.startsWith(`local:${bootId}:`) ?? false;
    const requeued = await conductor.recover(
      (j) =>
        (j.claimed_by?.startsWith('local:') && !mine(j.claimed_by)) ||
        (!!j.lease_until && Date.parse(j.lease_until) < Date.now()),
    );
    if (requeued) log(`requeued ${requeued} job(s) interrupted by the previous stop`);
    // Storage object expiry: swept at start and every hour.
    const sweep = () =>
      expireObjects(objects, settings.objectExpiryDays).catch((e) => log(`object expiry: ${(e as Error).message}`));
    void sweep();
    expiry = setInterval(sweep, 3600000);
    expiry.unref();
    // Scheduled workflows: checked at the start of every minute.
    const tick = () => {
      conductor.runSchedules(new Date()).catch((e) => log(`schedules: ${(e as Error).message}`));
      scheduler = setTimeout(tick, 60000 - (Date.now() % 60000) + 50);
      scheduler.unref();
    };
    scheduler = setTimeout(tick, 60000 - (Date.now() % 60000) + 50);
    scheduler.unref();
    reaper = setInterval(() => {
      conductor
        .recover((j) => !!j.lease_until && Date.parse(j.lease_until) < Date.now())
        .catch((e) => log(`lease check failed: ${(e as Error).message}`));
    }, 15000);
    reaper.unref();

    // `docker` jobs go to a Docker engine when one is configured; what a crash left there is removed first.
    const docker = settings.docker
      ? await DockerDriver.create({ ...settings.docker, workDir: join(settings.dataDir, 'jobs'), log })
      : undefined;
    if (docker) {
      const left = await docker.reap().catch((e) => {
        throw new Error(
          `ROUNDHOUSE_DOCKER_HOST: cannot reach the Docker engine at ${settings.docker!.host}: ${(e as Error).message}`,
        );
      });
      if (left) log(`removed ${left} container(s) left by the previous run`);
    }
    for (let i = 0; i < settings.executorSlots; i++) {
      const agent = new ExecutorAgent({
        server: `http://127.0.0.1:${port}`,
        token: settings.executorToken,
        id: `local:${bootId}:${i}`,
        sandbox,
        workDir: join(settings.dataDir, 'jobs'),
        docker,
        localCopy: true,
        log,
      });
      agent.start();
      agents.push(agent);
    }

    let demoPipelineId: string | undefined;
    if (settings.demo && !(await store.projectBySlug(DEMO_SLUG))) {
      const repo = ensureDemoRepo(settings.dataDir);
      const res = await app.inject({
        method: 'POST',
        url: '/api/admin/projects',
        headers: { 'circle-token': admin.value },
        payload: { slug: DEMO_SLUG, repo },
      });
      if (res.statusCode === 201) {
        const project = (await store.projectBySlug(DEMO_SLUG))!;
        demoPipelineId = (await conductor.triggerPipeline(project, { actor: 'admin', triggerType: 'api' })).id;
      } else log(`demo project could not be created: ${res.body}`);
    }

    const started = app;
    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        clearInterval(reaper);
        clearTimeout(scheduler);
        clearInterval(expiry);
        await Promise.all(agents.map((a) => a.stop(settings.drainSeconds * 1000)));
        for (const j of await store.jobsWithStatus(['running'])) {
          if (mine(j.claimed_by)) await conductor.requeueJob(j.id, 'the server stopped while it ran');
        }
        await started.close();
        await store.close();
      })());

    return { app: started, store, conductor, url, adminToken: admin.value, sandbox, demoPipelineId, close };
  } catch (e) {
    clearInterval(reaper);
    clearTimeout(scheduler);
    clearInterval(expiry);
    await Promise.all(agents.map((a) => a.stop()));
    await app?.close();
    await store.close();
    throw e;
  }
}
