import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { badRequest, notFound, RoundhouseError } from '../shared/errors.js';
import type { StepRow } from '../store/store.js';
import { authenticator } from './auth.js';
import { type ApiDeps, normaliseVcs, projectOf } from './context.js';

type BuildParams = { vcs: string; org: string; repo: string; num: string };

const V11_VCS: Record<string, string> = { gh: 'github', bb: 'bitbucket', circleci: 'circleci' };

/** Lifecycle and outcome of a job, as API v1.1 reports them. */
function v11Status(status: string): { status: string; lifecycle: string; outcome: string | null } {
  switch (status) {
    case 'blocked':
      return { status: 'not_running', lifecycle: 'not_running', outcome: null };
    case 'queued':
      return { status: 'queued', lifecycle: 'queued', outcome: null };
    case 'running':
      return { status: 'running', lifecycle: 'running', outcome: null };
    case 'not_run':
      return { status: 'not_run', lifecycle: 'not_run', outcome: null };
    default:
      return { status, lifecycle: 'finished', outcome: status };
  }
}

/** API v1.1: the single-job endpoint and its step output, which the CircleCI CLI and acceptance suites read. */
export async function v11Routes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  const sign = (jobId: string, step: number, node: number) =>
    createHmac('sha256', deps.urlSecret)
      .update(node ? `output:${jobId}:${step}:${node}` : `output:${jobId}:${step}`)
      .digest('hex')
      .slice(0, 32);

  app.get<{ Params: BuildParams }>(
    '/project/:vcs/:org/:repo/:num',
    { preHandler: authenticator(store) },
    async (req) => {
      const project = await projectOf(store, req.params);
      const n = Number(req.params.num);
      const job = Number.isInteger(n) ? await store.jobByNumber(project.id, n) : undefined;
      if (!job) throw notFound('Build');
      const [pipeline, workflow, steps] = await Promise.all([
        store.pipeline(job.pipeline_id),
        store.workflow(job.workflow_id),
        store.stepsOfJob(job.id),
      ]);
      const spec = JSON.parse(job.spec);
      const vcs = V11_VCS[normaliseVcs(req.params.vcs) ?? 'gh'] ?? 'github';
      const base = `${deps.publicUrl}/api/v1.1/project/${vcs}/${project.org}/${project.name}/${job.number}`;
      const action = (s: StepRow) => {
        const ms = s.started_at && s.stopped_at ? Date.parse(s.stopped_at) - Date.parse(s.started_at) : null;
        return {
          index: s.node,
          step: s.idx,
          allocation_id: job.id,
          name: s.name,
          type: s.type === 'run' ? 'test' : s.type === 'checkout' ? 'checkout' : 'infrastructure',
          status: s.status,
          exit_code: s.exit_code,
          failed: s.status === 'failed' || s.status === 'timedout' ? true : null,
          timedout: s.status === 'timedout' ? true : null,
          canceled: s.status === 'canceled' ? true : null,
          infrastructure_fail: null,
          start_time: s.started_at,
          end_time: s.stopped_at,
          run_time_millis: ms,
          bash_command: s.bash_command,
          background: false,
          parallel: job.parallelism > 1,
          continue: null,
          truncated: false,
          insignificant: false,
          has_output: true,
          output_url: `${base}/output/${s.idx}/${s.node}?file=true&sig=${sign(job.id, s.idx, s.node)}`,
          messages: [],
          source: 'config',
        };
      };
      const st = v11Status(job.status);
      const duration =
        job.started_at && job.stopped_at ? Date.parse(job.stopped_at) - Date.parse(job.started_at) : null;
      return {
        build_num: Number(job.number),
        build_url: `${deps.publicUrl}/pipelines/${project.slug}/${pipeline?.number}/workflows/${job.workflow_id}/jobs/${job.number}`,
        username: project.org,
        reponame: project.name,
        vcs_type: vcs,
        vcs_url: project.repo_url,
        vcs_revision: pipeline?.revision ?? null,
        vcs_tag: pipeline?.tag ?? null,
        branch: pipeline?.branch ?? null,
        subject: pipeline?.commit_subject ?? null,
        body: pipeline?.commit_body ?? null,
        why: pipeline?.trigger_type === 'webhook' ? 'github' : 'api',
        ...st,
        failed: ['failed', 'timedout', 'infrastructure_fail'].includes(job.status) ? true : null,
        canceled: job.status === 'canceled',
        infrastructure_fail: job.status === 'infrastructure_fail',
        timedout: job.status === 'timedout',
        queued_at: job.queued_at,
        start_time: job.started_at,
        stop_time: job.stopped_at,
        build_time_millis: duration,
        parallel: job.parallelism,
        platform: '2.0',
        job_name: job.name,
        picard: { executor: spec.plan?.executor.type, resource_class: { class: spec.plan?.executor.resource_class } },
        workflows: {
          job_name: job.name,
          job_id: job.id,
          workflow_id: job.workflow_id,
          workflow_name: workflow?.name ?? '',
          workspace_id: job.workflow_id,
          upstream_job_ids: JSON.parse(job.requires),
          upstream_concurrency_map: {},
        },
        user: { login: pipeline?.actor_login ?? '', is_user: true },
        messages: JSON.parse(job.messages),
        // One entry per step, with one action per parallel node.
        steps: [...new Set(steps.map((s) => s.idx))].map((idx) => {
          const nodes = steps.filter((s) => s.idx === idx);
          return { name: nodes[0].name, actions: nodes.map(action) };
        }),
      };
    },
  );

  // An action's output: a JSON list of {type, message, time}, as CircleCI's output_url serves it.
  app.get<{ Params: BuildParams & { step: string; index: string }; Querystring: { sig?: string } }>(
    '/project/:vcs/:org/:repo/:num/output/:step/:index',
    async (req, reply) => {
      const project = await projectOf(store, req.params);
      const job = await store.jobByNumber(project.id, Number(req.params.num));
      if (!job) throw notFound('Build');
      const step = Number(req.params.step);
      const node = Number(req.params.index) || 0;
      const want = sign(job.id, step, node);
      const sig = req.query.sig ?? '';
      if (!(sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want)))) {
        await authenticator(store)(req, reply);
        if (!req.user) throw new RoundhouseError('RH_UNAUTHORIZED');
      }
      const chunks = await deps.output.chunks(job.id, node, step);
      // Adjacent chunks of one stream are merged, as CircleCI stores them.
      const out: { type: string; message: string; time: string }[] = [];
      for (const c of chunks) {
        const last = out[out.length - 1];
        if (last && last.type === c.stream) last.message += c.data;
        else out.push({ type: c.stream, message: c.data, time: c.ts });
      }
      return out;
    },
  );
}

/** The SHA-256 and MD5 fingerprints of a private key (PEM or OpenSSH format), or an error saying why not. */
export async function sshKeyInfo(
  privateKey: string,
): Promise<{ md5: string; sha256: string; publicKey: string } | Error> {
  const { default: ssh2 } = await import('ssh2');
  const parsed = ssh2.utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || !key)
    return new Error('`private_key` is not a private key Roundhouse can read (PEM or OpenSSH format)');
  if (!key.isPrivateKey()) return new Error('`private_key` holds a public key; add the private key');
  if (key.getPrivatePEM() === '' && /ENCRYPTED/.test(privateKey))
    return new Error('`private_key` must not have a passphrase');
  const blob = key.getPublicSSH();
  return {
    md5: createHash('md5').update(blob).digest('hex').match(/../g)!.join(':'),
    sha256: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
    publicKey: `${key.type} ${blob.toString('base64')}`,
  };
}

/**
 * A project's additional SSH keys (CircleCI's API v1.1 ssh-key endpoint): add with a hostname,
 * delete by fingerprint (and hostname), list (public halves only). add_ssh_keys puts them in jobs.
 */
export async function sshKeyRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  type Params = { vcs: string; org: string; repo: string };
  app.register(async (api) => {
    api.addHook('preHandler', authenticator(store));
    api.post<{ Params: Params; Body: { hostname?: string; private_key?: string } }>(
      '/project/:vcs/:org/:repo/ssh-key',
      async (req, reply) => {
        const project = await projectOf(store, req.params);
        const body = req.body ?? {};
        if (typeof body.private_key !== 'string' || !body.private_key.trim())
          throw badRequest('`private_key` is required');
        const hostname = typeof body.hostname === 'string' ? body.hostname.trim() : '';
        if (hostname.length > 253 || /[\s/]/.test(hostname)) throw badRequest('`hostname` is not a host name');
        const info = await sshKeyInfo(body.private_key);
        if (info instanceof Error) throw badRequest(info.message);
        const enc = await deps.envelope!.encrypt(body.private_key);
        await store.tx((s) =>
          s.putProjectSshKey(project.id, {
            fingerprint: info.md5,
            hostname,
            public_key: info.publicKey,
            private_key_enc: enc,
          }),
        );
        reply.code(201);
        return { fingerprint: info.md5, public_key: info.publicKey, hostname };
      },
    );
    api.get<{ Params: Params }>('/project/:vcs/:org/:repo/ssh-key', async (req) => {
      const project = await projectOf(store, req.params);
      return (await store.projectSshKeys(project.id)).map((k) => ({
        fingerprint: k.fingerprint,
        hostname: k.hostname,
        public_key: k.public_key,
        time: k.created_at,
      }));
    });
    api.delete<{ Params: Params; Body: { fingerprint?: string; hostname?: string } }>(
      '/project/:vcs/:org/:repo/ssh-key',
      async (req) => {
        const project = await projectOf(store, req.params);
        const fp = typeof req.body?.fingerprint === 'string' ? req.body.fingerprint.replace(/^MD5:/i, '') : '';
        if (!fp) throw badRequest('`fingerprint` is required');
        const n = await store.tx((s) =>
          s.deleteProjectSshKey(project.id, fp, typeof req.body?.hostname === 'string' ? req.body.hostname : undefined),
        );
        if (!n) throw notFound('SSH key');
        return { message: 'ok' };
      },
    );
  });
}
