import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, startServer } from '../../runtime/src/server.js';
import { loadSettings } from '../../runtime/src/shared/settings.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  /** Calls the API with the admin token (or `token`), returning status and JSON. */
  api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: T }>;
  /** Adds a project for a repository path. */
  addProject(slug: string, repo: string): Promise<void>;
  trigger(slug: string, body?: Record<string, unknown>): Promise<{ id: string; number: number; state: string }>;
  /** Waits until every workflow of the pipeline has stopped; returns workflows with their jobs. */
  waitForPipeline(pipelineId: string, timeoutMs?: number): Promise<WorkflowWithJobs[]>;
  waitFor<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs?: number): Promise<T>;
  /** Text of a job's steps (of one parallel node) through the v1.1 output_url. */
  stepOutput(
    slug: string,
    jobNumber: number,
    node?: number,
  ): Promise<{ name: string; status: string; exit_code: number | null; output: string }[]>;
}

export interface WorkflowWithJobs {
  id: string;
  name: string;
  status: string;
  jobs: { id: string; name: string; status: string; job_number?: number; dependencies: string[] }[];
}

/** Starts the whole platform in this process on a free port with a fresh data dir. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = env.ROUNDHOUSE_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'rh-data-'));
  const settings = loadSettings({
    ROUNDHOUSE_DATA_DIR: dataDir,
    ROUNDHOUSE_PORT: '0',
    ROUNDHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
    ROUNDHOUSE_DEMO: '0',
    ROUNDHOUSE_DRAIN_SECONDS: '0',
    ...env,
  });
  const server = await startServer(settings);
  const api = async (method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN) => {
    const res = await fetch(server.url + path, {
      method,
      headers: {
        ...(token ? { 'circle-token': token } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const waitFor = async <T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 30000): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const workflows = async (pipelineId: string): Promise<WorkflowWithJobs[]> => {
    const wfs = (await api('GET', `/api/v2/pipeline/${pipelineId}/workflow`)).body.items;
    const out = [];
    for (const w of wfs) out.push({ ...w, jobs: (await api('GET', `/api/v2/workflow/${w.id}/job`)).body.items });
    return out;
  };
  const ownDir = env.ROUNDHOUSE_DATA_DIR === undefined;
  return {
    ...server,
    dataDir,
    async close() {
      await server.close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
    api,
    waitFor,
    async addProject(slug, repo) {
      const r = await api('POST', '/api/admin/projects', { slug, repo });
      if (r.status !== 201) throw new Error(`project add failed: ${JSON.stringify(r.body)}`);
    },
    async trigger(slug, body = {}) {
      const r = await api('POST', `/api/v2/project/${slug}/pipeline`, body);
      if (r.status !== 201) throw new Error(`trigger failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async waitForPipeline(pipelineId, timeoutMs = 60000) {
      return waitFor(
        async () => {
          const pl = (await api('GET', `/api/v2/pipeline/${pipelineId}`)).body;
          if (pl?.state === 'errored') throw new Error(`pipeline ${pipelineId} errored: ${JSON.stringify(pl.errors)}`);
          const wfs = await workflows(pipelineId);
          return wfs.length > 0 && wfs.every((w) => !['running', 'failing', 'on_hold'].includes(w.status)) && wfs;
        },
        `pipeline ${pipelineId} to finish`,
        timeoutMs,
      );
    },
    async stepOutput(slug, jobNumber, node = 0) {
      const [vcs, org, repo] = slug.split('/');
      const build = (await api('GET', `/api/v1.1/project/${vcs === 'gh' ? 'github' : vcs}/${org}/${repo}/${jobNumber}`))
        .body;
      const out = [];
      for (const s of build.steps) {
        const a = s.actions.find((x: { index: number }) => x.index === node);
        if (!a) continue;
        const res = await fetch(a.output_url);
        const msgs = (await res.json()) as { message: string }[];
        out.push({
          name: s.name,
          status: a.status,
          exit_code: a.exit_code,
          output: msgs.map((m) => m.message).join(''),
        });
      }
      return out;
    },
  };
}
