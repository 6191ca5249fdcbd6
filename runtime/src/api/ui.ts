import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../shared/errors.js';
import { orgRole } from '../identity/service.js';
import { authenticator, requireProjectAccess } from './auth.js';
import { type ApiDeps, projectOf } from './context.js';

const STATIC = new URL('../../ui/', import.meta.url);
const TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'admin.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

function sse(reply: FastifyReply) {
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const send = (event: string, data: unknown) => reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const ping = setInterval(() => reply.raw.write(': ping\n\n'), 15000);
  reply.raw.on('close', () => clearInterval(ping));
  return send;
}

/** The web UI: a static single page app plus the JSON and live streams it reads. */
export async function uiRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store, bus } = deps;
  const files = new Map(Object.keys(TYPES).map((f) => [f, readFileSync(new URL(f, STATIC))]));
  const index = readFileSync(new URL('index.html', STATIC));
  const page = async (_req: unknown, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(index);
  app.get('/', page);
  app.get('/projects/*', page);
  app.get('/pipelines/*', page);
  app.get('/admin', page);
  app.get('/admin/*', page);
  app.get('/account', page);
  app.get<{ Params: { file: string } }>('/ui/:file', async (req, reply) => {
    const body = files.get(req.params.file);
    if (!body) throw notFound('File');
    return reply.type(TYPES[req.params.file]).header('cache-control', 'no-cache').send(body);
  });

  await app.register(
    async (api) => {
      api.addHook('preHandler', authenticator(store));
      api.get('/info', async (req) => ({
        user: { login: req.user!.login, admin: !!req.user!.is_admin },
        notices: deps.notices,
        csrf: req.session?.csrf ?? null,
      }));
      api.get('/projects', async (req) => ({
        items: (
          await Promise.all(
            (await store.listProjects()).map(async (p) => ((await orgRole(store, req.user!, p.org)) ? [p] : [])),
          )
        )
          .flat()
          .map((p) => ({
            slug: p.slug,
            name: p.name,
            org: p.org,
            default_branch: p.default_branch,
            repo_url: p.repo_url,
          })),
      }));
      api.get<{ Params: { vcs: string; org: string; repo: string; num: string } }>(
        '/project/:vcs/:org/:repo/job/:num',
        async (req) => {
          const project = await projectOf(store, req.params);
          const job = await store.jobByNumber(project.id, Number(req.params.num));
          if (!job) throw notFound('Job');
          return {
            id: job.id,
            name: job.name,
            number: job.number,
            status: job.status,
            parallelism: job.parallelism,
            workflow_id: job.workflow_id,
            pipeline_id: job.pipeline_id,
            messages: JSON.parse(job.messages),
            started_at: job.started_at,
            stopped_at: job.stopped_at,
          };
        },
      );
      // Live job view: a snapshot of steps and stored output, then every change as it happens.
      api.get<{ Params: { id: string } }>('/jobs/:id/stream', async (req, reply) => {
        const job = await store.job(req.params.id);
        const project = job && (await store.projectById(job.project_id));
        if (!job || !project) throw notFound('Job');
        await requireProjectAccess(store, req, project).catch(() => {
          throw notFound('Job');
        });
        const send = sse(reply);
        const queue: [string, unknown][] = [];
        let ready = false;
        const forward = (event: string, data: unknown) => (ready ? send(event, data) : queue.push([event, data]));
        const onOutput = (e: { jobId: string }) => e.jobId === job.id && forward('output', e);
        const onStep = (e: { jobId: string }) => e.jobId === job.id && forward('step', e);
        const onChanged = async (e: { jobId?: string; workflowId?: string }) => {
          if (e.workflowId !== job.workflow_id && e.jobId !== job.id) return;
          const j = await store.job(job.id);
          if (j) forward('status', { status: j.status, messages: JSON.parse(j.messages) });
        };
        bus.on('output', onOutput);
        bus.on('step', onStep);
        bus.on('changed', onChanged);
        reply.raw.on('close', () => {
          bus.off('output', onOutput);
          bus.off('step', onStep);
          bus.off('changed', onChanged);
        });
        const [steps, chunks, fresh] = await Promise.all([
          store.stepsOfJob(job.id),
          deps.output.allChunks(job.id),
          store.job(job.id),
        ]);
        send('snapshot', {
          status: fresh?.status,
          messages: JSON.parse(fresh?.messages ?? '[]'),
          steps,
          output: chunks.map((c) => ({
            node: c.node,
            stepIdx: c.step_idx,
            seq: c.seq,
            stream: c.stream,
            data: c.data,
            ts: c.ts,
          })),
        });
        ready = true;
        for (const [ev, data] of queue) send(ev, data);
      });
      // Anything changed: lists and graphs refresh themselves.
      api.get('/events', async (_req, reply) => {
        const send = sse(reply);
        const onChanged = (e: unknown) => send('changed', e);
        bus.on('changed', onChanged);
        reply.raw.on('close', () => bus.off('changed', onChanged));
        send('hello', {});
      });
    },
    { prefix: '/api/ui' },
  );
}
