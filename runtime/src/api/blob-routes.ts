import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LOCAL_COPY_TYPE } from '../protocol/executor.js';
import { decodeSegment, encodeSegment } from '../objects/store.js';
import { badRequest, notFound, RoundhouseError } from '../shared/errors.js';
import type { JobRow } from '../store/store.js';
import type { ApiDeps } from './context.js';

const bearer = (req: FastifyRequest) =>
  req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : '';

/**
 * The executor protocol's blob part: caches (per project; keys immutable; restore by exact key or
 * the newest key with that prefix) and workspaces (per workflow; one layer per job, attached in
 * the order the job's upstream jobs finished).
 */
export async function blobRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store, dispatcher } = deps;
  const objects = deps.objects!;
  const runningJob = async (req: FastifyRequest<{ Params: { id: string } }>): Promise<JobRow> => {
    const job = await store.job(req.params.id);
    if (!job || !dispatcher.verifyJobToken(job, bearer(req))) throw new RoundhouseError('RH_UNAUTHORIZED');
    if (job.status !== 'running') throw new RoundhouseError('RH_JOB_NOT_CLAIMED', job.id);
    return job;
  };
  const cacheKey = (job: JobRow, key: string) => `caches/${job.project_id}/${encodeSegment(key)}`;

  app.put<{ Params: { id: string; key: string } }>('/jobs/:id/cache/:key', async (req) => {
    const job = await runningJob(req);
    const saved = await objects.put(
      cacheKey(job, req.params.key),
      req.body as NodeJS.ReadableStream as import('node:stream').Readable,
      { ifAbsent: true },
    );
    return { saved };
  });

  app.post<{ Params: { id: string }; Body: { keys: string[] } }>(
    '/jobs/:id/cache/lookup',
    {
      schema: {
        body: {
          type: 'object',
          properties: { keys: { type: 'array', items: { type: 'string' }, maxItems: 100 } },
          required: ['keys'],
        },
      },
    },
    async (req) => {
      const job = await runningJob(req);
      for (const key of req.body.keys) {
        const exact = await objects.head(cacheKey(job, key));
        if (exact) return { key, size: exact.size };
        const candidates = await objects.list(cacheKey(job, key));
        if (candidates.length) {
          const newest = candidates.sort((a, b) => b.modified - a.modified)[0];
          return { key: decodeSegment(newest.key.slice(`caches/${job.project_id}/`.length)), size: newest.size };
        }
      }
      throw notFound('Cache');
    },
  );

  /**
   * Sends an object. An executor on this machine (it says so, and calls over loopback) gets the
   * object's file path instead when the store keeps files, and copies it: that spares streaming
   * large archives through HTTP inside one process.
   */
  const sendObject = async (req: FastifyRequest, reply: FastifyReply, key: string, what: string) => {
    const loopback = ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(req.socket.remoteAddress ?? '');
    if (req.headers['x-roundhouse-local-copy'] === '1' && loopback && objects.localPath) {
      const path = await objects.localPath(key);
      if (!path) throw notFound(what);
      return reply.type(LOCAL_COPY_TYPE).send({ path });
    }
    const body = await objects.get(key);
    if (!body) throw notFound(what);
    return reply.type('application/octet-stream').send(body);
  };

  app.get<{ Params: { id: string; key: string } }>('/jobs/:id/cache/:key', async (req, reply) => {
    const job = await runningJob(req);
    return sendObject(req, reply, cacheKey(job, req.params.key), 'Cache');
  });

  app.put<{ Params: { id: string }; Querystring: { node?: string } }>('/jobs/:id/workspace', async (req) => {
    const job = await runningJob(req);
    // Each parallel node persists its own layer: node 0 at <job>, node k at <job>-<k>.
    const node = Number(req.query.node ?? 0);
    if (!Number.isInteger(node) || node < 0 || node > 1000) throw badRequest('`node` must be a parallel node index');
    const key = `workspaces/${job.workflow_id}/${job.id}${node ? `-${node}` : ''}`;
    await objects.put(key, req.body as import('node:stream').Readable);
    return { saved: true };
  });

  /** The workspace layers a job attaches: its upstream jobs' (transitively), oldest first. */
  const layers = async (job: JobRow): Promise<string[]> => {
    const jobs = await store.jobsOfWorkflow(job.workflow_id);
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const up = new Set<string>();
    const visit = (id: string) => {
      for (const r of JSON.parse(byId.get(id)?.requires ?? '[]') as string[]) {
        if (!up.has(r)) {
          up.add(r);
          visit(r);
        }
      }
    };
    visit(job.id);
    const present: { job: JobRow; refs: string[] }[] = [];
    for (const id of up) {
      const j = byId.get(id);
      // A carried-over job of a rerun keeps the layer it wrote in its original workflow.
      const source = j?.copied_from ? await store.job(j.copied_from) : j;
      if (!source) continue;
      const refs = (await objects.list(`workspaces/${source.workflow_id}/${source.id}`))
        .map((o) => o.key.slice('workspaces/'.length))
        .sort((a, b) => a.length - b.length || a.localeCompare(b));
      if (refs.length) present.push({ job: source, refs });
    }
    return present
      .sort((a, b) => (a.job.stopped_at ?? '').localeCompare(b.job.stopped_at ?? ''))
      .flatMap((p) => p.refs);
  };

  app.get<{ Params: { id: string } }>('/jobs/:id/workspace', async (req) => ({
    layers: await layers(await runningJob(req)),
  }));

  app.get<{ Params: { id: string; wf: string; layer: string } }>(
    '/jobs/:id/workspace/:wf/:layer',
    async (req, reply) => {
      const job = await runningJob(req);
      const ref = `${req.params.wf}/${req.params.layer}`;
      if (!(await layers(job)).includes(ref)) throw notFound('Workspace layer');
      return sendObject(req, reply, `workspaces/${ref}`, 'Workspace layer');
    },
  );
}
