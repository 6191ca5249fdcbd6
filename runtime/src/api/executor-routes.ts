import { readTestResults } from './artifact-routes.js';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LEASE_SECONDS } from '../dispatcher/dispatcher.js';
import type { JobEvent, JobOutcome } from '../protocol/executor.js';
import { RoundhouseError } from '../shared/errors.js';
import type { ApiDeps } from './context.js';

const bearer = (req: FastifyRequest) =>
  req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : '';
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The executor protocol (see protocol/executor.ts), served by the api role. */
export async function executorRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store, dispatcher, conductor, output } = deps;

  app.post<{ Body: { executor_id: string; wait_seconds?: number } }>(
    '/claim',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            executor_id: { type: 'string', minLength: 1, maxLength: 200 },
            wait_seconds: { type: 'number', minimum: 0, maximum: 60 },
          },
          required: ['executor_id'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      if (!same(bearer(req), deps.executorToken)) throw new RoundhouseError('RH_UNAUTHORIZED');
      const abort = new AbortController();
      // The response closing before we answered means the executor hung up.
      reply.raw.on('close', () => {
        if (!reply.raw.writableEnded) abort.abort();
      });
      const job = await dispatcher.claim(req.body.executor_id, (req.body.wait_seconds ?? 25) * 1000, abort.signal);
      if (!job) return reply.code(204).send();
      if (abort.signal.aborted) {
        // The executor hung up while we handed it a job: put the job back.
        await conductor.requeueJob(job.id, 'its executor disconnected while claiming it');
        return reply.code(204).send();
      }
      conductor.bus.emit('changed', { pipelineId: job.pipeline.id, workflowId: job.workflow.id, jobId: job.id });
      return { ...job, timings: await timingsFor(job.id) };
    },
  );

  /** Per-file, per-class and per-test seconds from the job's last successful run with test results. */
  const timingsFor = async (jobId: string) => {
    const job = await store.job(jobId);
    const last = job && deps.objects ? await store.lastSuccessfulJob(job.project_id, job.name) : undefined;
    const cases = last ? await readTestResults(deps.objects!, last.id) : [];
    if (!cases.length) return undefined;
    const t = {
      filename: {} as Record<string, number>,
      classname: {} as Record<string, number>,
      testname: {} as Record<string, number>,
    };
    for (const c of cases) {
      if (c.file) t.filename[c.file] = (t.filename[c.file] ?? 0) + c.run_time;
      if (c.classname) t.classname[c.classname] = (t.classname[c.classname] ?? 0) + c.run_time;
      t.testname[c.name] = (t.testname[c.name] ?? 0) + c.run_time;
    }
    return t;
  };

  const runningJob = async (req: FastifyRequest<{ Params: { id: string } }>) => {
    const job = await store.job(req.params.id);
    if (!job || !dispatcher.verifyJobToken(job, bearer(req))) throw new RoundhouseError('RH_UNAUTHORIZED');
    return job;
  };

  app.post<{ Params: { id: string }; Body: { events: JobEvent[] } }>(
    '/jobs/:id/events',
    {
      schema: {
        body: { type: 'object', properties: { events: { type: 'array', maxItems: 10000 } }, required: ['events'] },
      },
      bodyLimit: 32 * 1024 * 1024,
    },
    async (req, reply) => {
      const job = await runningJob(req);
      if (job.status !== 'running' || job.cancel_requested) return reply.code(409).send({ cancel: true });
      await output.ingest(job.id, req.body.events);
      if (!job.lease_until || Date.parse(job.lease_until) - Date.now() < (LEASE_SECONDS * 1000) / 2)
        await dispatcher.heartbeat(job);
      return { cancel: false };
    },
  );

  app.post<{ Params: { id: string }; Body: { status: JobOutcome; events?: JobEvent[] } }>(
    '/jobs/:id/finish',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            status: { enum: ['success', 'failed', 'infrastructure_fail', 'timedout'] },
            events: { type: 'array', maxItems: 10000 },
          },
          required: ['status'],
          additionalProperties: false,
        },
      },
      bodyLimit: 32 * 1024 * 1024,
    },
    async (req, reply) => {
      const job = await runningJob(req);
      if (job.status !== 'running' || job.cancel_requested) return reply.code(409).send({ cancel: true });
      if (req.body.events?.length) await output.ingest(job.id, req.body.events);
      const ok = await conductor.finishJob(job.id, req.body.status, job.claimed_by ?? '');
      if (!ok) return reply.code(409).send({ cancel: true });
      return { cancel: false };
    },
  );
}
