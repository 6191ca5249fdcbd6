import { Webhooks } from '@octokit/webhooks';
import type { FastifyInstance } from 'fastify';
import { RoundhouseError } from '../shared/errors.js';
import type { ProjectRow } from '../store/store.js';
import type { ApiDeps } from './context.js';

interface RepoRef {
  full_name: string;
}
interface PushPayload {
  ref: string;
  deleted?: boolean;
  repository: RepoRef;
  sender?: { login: string };
}
interface PullRequestPayload {
  action: string;
  number: number;
  pull_request: { head: { repo: RepoRef | null }; base: { repo: RepoRef } };
  repository: RepoRef;
  sender?: { login: string };
}

/**
 * GitHub webhooks (`POST /webhooks/github`): the signature (X-Hub-Signature-256) is checked
 * against the raw body; each delivery (X-GitHub-Delivery) is acted on once; pushes of branches
 * and tags, and pull requests from forks, start pipelines. Pull requests from the repository itself
 * are built by their pushes.
 */
export async function webhookRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store, conductor } = deps;
  const webhooks = deps.webhookSecret ? new Webhooks({ secret: deps.webhookSecret }) : undefined;
  // The signature covers the exact bytes GitHub sent: keep the body as text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 25 * 1024 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  const projectFor = async (repo: RepoRef): Promise<ProjectRow | undefined> => {
    const slug = `gh/${repo.full_name}`;
    return (
      (await store.projectBySlug(slug)) ??
      (await store.listProjects()).find((p) => p.slug.toLowerCase() === slug.toLowerCase())
    );
  };

  app.post('/webhooks/github', async (req, reply) => {
    const sig = req.headers['x-hub-signature-256'];
    const raw = typeof req.body === 'string' ? req.body : '';
    if (!webhooks || typeof sig !== 'string' || !(await webhooks.verify(raw, sig).catch(() => false)))
      throw new RoundhouseError('RH_WEBHOOK_SIGNATURE');
    const event = String(req.headers['x-github-event'] ?? '');
    const delivery = String(req.headers['x-github-delivery'] ?? '');
    if (!delivery) throw new RoundhouseError('RH_BAD_REQUEST', 'X-GitHub-Delivery header missing.');
    let payload: unknown;
    try {
      payload = JSON.parse(raw);
    } catch {
      throw new RoundhouseError('RH_BAD_REQUEST', 'Body is not valid JSON.');
    }
    if (!(await store.secrets.claimDelivery(delivery, event)))
      return { message: `Delivery ${delivery} was already processed.` };

    if (event === 'ping') return { message: 'pong' };
    if (event === 'push') {
      const p = payload as PushPayload;
      if (p.deleted) return { message: 'Ignored: a deleted ref.' };
      const project = p.repository ? await projectFor(p.repository) : undefined;
      if (!project) return { message: 'Ignored: no project for this repository.' };
      const tag = p.ref.startsWith('refs/tags/') ? p.ref.slice('refs/tags/'.length) : undefined;
      const branch = p.ref.startsWith('refs/heads/') ? p.ref.slice('refs/heads/'.length) : undefined;
      if (!tag && !branch) return { message: `Ignored: ref ${p.ref}.` };
      const pipeline = await conductor.triggerPipeline(project, {
        branch,
        tag,
        actor: p.sender?.login ?? 'github',
        triggerType: 'webhook',
      });
      reply.code(201);
      return { id: pipeline.id, number: Number(pipeline.number), state: pipeline.state };
    }
    if (event === 'pull_request') {
      const p = payload as PullRequestPayload;
      if (!['opened', 'synchronize', 'reopened'].includes(p.action)) return { message: `Ignored: action ${p.action}.` };
      const project = await projectFor(p.pull_request.base.repo);
      if (!project) return { message: 'Ignored: no project for this repository.' };
      const head = p.pull_request.head.repo?.full_name;
      const fromFork = head?.toLowerCase() !== p.pull_request.base.repo.full_name.toLowerCase();
      if (!fromFork) return { message: 'Ignored: pull requests from branches of this repository build on push.' };
      const pipeline = await conductor.triggerPipeline(project, {
        branch: `pull/${p.number}`,
        actor: p.sender?.login ?? 'github',
        triggerType: 'webhook',
        fromFork,
      });
      reply.code(201);
      return { id: pipeline.id, number: Number(pipeline.number), state: pipeline.state };
    }
    return { message: `Ignored: event ${event}.` };
  });
}
