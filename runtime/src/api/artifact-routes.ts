import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { decodeSegment, encodeSegment, type ObjectStore } from '../objects/store.js';
import { parseJUnit, type TestCase } from '../output/junit.js';
import { badRequest, notFound, RoundhouseError } from '../shared/errors.js';
import type { JobRow } from '../store/store.js';
import { authenticator, requireProjectAccess } from './auth.js';
import { type ApiDeps, projectOf } from './context.js';

/** Types served as themselves; anything else is a download (operations guide, "Build artifacts"). */
const SAFE: Record<string, string> = {
  txt: 'text/plain',
  log: 'text/plain',
  md: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'text/plain',
  webp: 'image/webp',
  bmp: 'image/bmp',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
};
/** Markup and scripts are shown as text, never rendered. */
const AS_TEXT = new Set(['html', 'htm', 'css', 'js', 'mjs', 'xml', 'xhtml']);

/** Their real types, served only when the operator allows unsafe types (ROUNDHOUSE_ARTIFACTS_SERVE_UNSAFE). */
const UNSAFE: Record<string, string> = {
  html: 'text/html',
  htm: 'text/html',
  xhtml: 'application/xhtml+xml',
  css: 'text/css',
  js: 'text/javascript',
  mjs: 'text/javascript',
  xml: 'application/xml',
  svg: 'image/svg+xml',
};

export function artifactType(path: string, serveUnsafe = false): { type: string; download: boolean } {
  const ext = path.toLowerCase().split('.').pop() ?? '';
  if (serveUnsafe && UNSAFE[ext])
    return { type: UNSAFE[ext].startsWith('text/') ? `${UNSAFE[ext]}; charset=utf-8` : UNSAFE[ext], download: false };
  if (AS_TEXT.has(ext)) return { type: 'text/plain; charset=utf-8', download: false };
  if (SAFE[ext])
    return { type: SAFE[ext].startsWith('text/') ? `${SAFE[ext]}; charset=utf-8` : SAFE[ext], download: false };
  return { type: 'application/octet-stream', download: true };
}

const bearer = (req: FastifyRequest) =>
  req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : '';
const encodePath = (p: string) => p.split('/').filter(Boolean).map(encodeSegment).join('/');

/** Artifacts and test results: uploaded by executors, listed and served by the API. */
export async function artifactRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store, dispatcher } = deps;
  const objects = deps.objects!;

  // Executor side (job token).
  app.put<{ Params: { id: string }; Querystring: { path?: string; node?: string } }>(
    '/api/internal/executor/jobs/:id/artifacts',
    async (req) => {
      const job = await store.job(req.params.id);
      if (!job || !dispatcher.verifyJobToken(job, bearer(req))) throw new RoundhouseError('RH_UNAUTHORIZED');
      const path = req.query.path ?? '';
      if (!path || path.split('/').some((s) => s === '..'))
        throw badRequest('artifact `path` is required and may not contain ..');
      await objects.put(`artifacts/${job.id}/${nodeOf(req.query.node)}/${encodePath(path)}`, req.body as Readable);
      return { saved: true };
    },
  );
  app.post<{ Params: { id: string }; Querystring: { node?: string }; Body: { file: string; xml: string }[] }>(
    '/api/internal/executor/jobs/:id/tests',
    async (req) => {
      const job = await store.job(req.params.id);
      if (!job || !dispatcher.verifyJobToken(job, bearer(req))) throw new RoundhouseError('RH_UNAUTHORIZED');
      const cases: TestCase[] = [];
      const problems: string[] = [];
      for (const r of req.body) {
        try {
          cases.push(...parseJUnit(r.xml, r.file));
        } catch (e) {
          problems.push(`${r.file}: ${(e as Error).message}`);
        }
      }
      // One object per parallel node: nodes upload at the same time.
      const key = testResultsKey(job.id, nodeOf(req.query.node));
      const existing = await objects.get(key);
      const before: TestCase[] = existing ? JSON.parse(await streamText(existing)) : [];
      const { Readable: R } = await import('node:stream');
      await objects.put(key, R.from([JSON.stringify([...before, ...cases])]));
      return { tests: cases.length, problems };
    },
  );

  // API v2 side.
  await app.register(async (api) => {
    api.addHook('preHandler', authenticator(store));
    const jobOf = async (p: { vcs: string; org: string; repo: string; num: string }) => {
      const project = await projectOf(store, p);
      const job = await store.jobByNumber(project.id, Number(p.num));
      if (!job) throw notFound('Job');
      return { project, job };
    };
    const artifactsOf = async (job: JobRow) => {
      const items = (await objects.list(`artifacts/${job.id}/`)).map((o) => {
        const rest = o.key.slice(`artifacts/${job.id}/`.length).split('/');
        const path = rest.slice(1).map(decodeSegment).join('/');
        return {
          path,
          node_index: Number(rest[0]),
          url: `${deps.publicUrl}/artifacts/${job.id}/${rest[0]}/${rest.slice(1).join('/')}`,
        };
      });
      return items.sort((a, b) => a.path.localeCompare(b.path) || a.node_index - b.node_index);
    };
    api.get<{ Params: { vcs: string; org: string; repo: string; num: string } }>(
      '/api/v2/project/:vcs/:org/:repo/:num/artifacts',
      async (req) => {
        const { job } = await jobOf(req.params);
        return { items: await artifactsOf(job), next_page_token: null };
      },
    );
    // API v1.1, which many scripts still use: a build's artifacts (also the latest build's) and tests.
    const v11Artifacts = async (job: JobRow) =>
      (await artifactsOf(job)).map((a) => ({
        path: a.path,
        pretty_path: a.path,
        node_index: a.node_index,
        url: a.url,
      }));
    api.get<{ Params: { vcs: string; org: string; repo: string }; Querystring: { branch?: string; filter?: string } }>(
      '/api/v1.1/project/:vcs/:org/:repo/latest/artifacts',
      async (req) => {
        const project = await projectOf(store, req.params);
        const filter = req.query.filter ?? 'completed';
        const statuses: Record<string, string[]> = {
          completed: ['success', 'failed', 'canceled', 'infrastructure_fail', 'timedout', 'not_run', 'unauthorized'],
          successful: ['success'],
          failed: ['failed', 'infrastructure_fail', 'timedout'],
        };
        if (!statuses[filter]) throw badRequest('`filter` is completed, successful or failed');
        const job = await store.latestJob(project.id, { branch: req.query.branch, statuses: statuses[filter] });
        if (!job) throw notFound('Build');
        return v11Artifacts(job);
      },
    );
    api.get<{ Params: { vcs: string; org: string; repo: string; num: string } }>(
      '/api/v1.1/project/:vcs/:org/:repo/:num/artifacts',
      async (req) => v11Artifacts((await jobOf(req.params)).job),
    );
    api.get<{ Params: { vcs: string; org: string; repo: string; num: string } }>(
      '/api/v1.1/project/:vcs/:org/:repo/:num/tests',
      async (req) => {
        const { job } = await jobOf(req.params);
        return {
          tests: (await readTestResults(objects, job.id)).map((c) => ({ ...c, source_type: c.source })),
        };
      },
    );
    api.get<{ Params: { vcs: string; org: string; repo: string; num: string } }>(
      '/api/v2/project/:vcs/:org/:repo/:num/tests',
      async (req) => {
        const { job } = await jobOf(req.params);
        return { items: await readTestResults(objects, job.id), next_page_token: null };
      },
    );
    api.get<{ Params: { job: string; node: string; '*': string } }>('/artifacts/:job/:node/*', async (req, reply) => {
      const owner = await store.job(req.params.job).catch(() => undefined);
      const project = owner && (await store.projectById(owner.project_id));
      if (!project) throw notFound('Artifact');
      await requireProjectAccess(store, req, project).catch(() => {
        throw notFound('Artifact');
      });
      const key = `artifacts/${req.params.job}/${req.params.node}/${req.params['*']}`;
      const body = await objects.get(key).catch(() => undefined);
      if (!body) throw notFound('Artifact');
      const path = req.params['*'].split('/').map(decodeSegment).join('/');
      const t = artifactType(path, deps.artifactsServeUnsafe === true);
      reply.header('x-content-type-options', 'nosniff').type(t.type);
      if (t.download)
        reply.header('content-disposition', `attachment; filename="${path.split('/').pop()!.replace(/"/g, '')}"`);
      return reply.send(body);
    });
  });
}

const nodeOf = (q: string | undefined) => {
  const n = Number(q ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw badRequest('`node` must be a parallel node index');
  return n;
};

/** Where a job's parsed test results are kept: node 0 at tests/<job>.json, node k at tests/<job>.node<k>.json. */
export const testResultsKey = (jobId: string, node: number) =>
  node ? `tests/${jobId}.node${node}.json` : `tests/${jobId}.json`;

/** Every test case a job stored, all nodes. */
export async function readTestResults(objects: ObjectStore, jobId: string): Promise<TestCase[]> {
  const out: TestCase[] = [];
  const keys = (await objects.list(`tests/${jobId}.`)).map((o) => o.key).sort();
  for (const key of keys) {
    const body = await objects.get(key);
    if (body) out.push(...(JSON.parse(await streamText(body)) as TestCase[]));
  }
  return out;
}

async function streamText(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}
