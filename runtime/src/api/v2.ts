import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { orgRole } from '../identity/service.js';
import { maskValue } from '../secrets/envelope.js';
import { badRequest, notFound, RoundhouseError } from '../shared/errors.js';
import type { JobRow, ProjectRow } from '../store/store.js';
import { audited, orgScope } from './audited.js';
import { authenticator, requireProjectAccess } from './auth.js';
import { checkoutKeyRoutes } from './checkout-keys.js';
import { type ApiDeps, pageOf, pageToken, projectOf } from './context.js';
import { contextRoutes } from './contexts.js';
import { projectSettingsRoutes } from './project-settings.js';
import { pipelineJson, workflowJobJson, workflowJson } from './shapes.js';

const PAGE = 20;
const projectParams = {
  type: 'object',
  properties: { vcs: { type: 'string' }, org: { type: 'string' }, repo: { type: 'string' } },
  required: ['vcs', 'org', 'repo'],
} as const;
type ProjectParams = { vcs: string; org: string; repo: string };

/** CircleCI API v2, paths and shapes as in the 2021 OpenAPI spec. */
export async function v2Routes(app: FastifyInstance, deps: ApiDeps) {
  const { store, conductor } = deps;
  // The continuation key is the credential of this one route (a setup job has no API token).
  app.post<{ Body: { 'continuation-key': string; configuration: string; parameters?: Record<string, unknown> } }>(
    '/pipeline/continue',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            'continuation-key': { type: 'string', minLength: 1 },
            configuration: { type: 'string', maxLength: 4 * 1024 * 1024 },
            parameters: { type: 'object' },
          },
          required: ['continuation-key', 'configuration'],
          additionalProperties: false,
        },
      },
    },
    async (req) => {
      await conductor.continuePipeline(req.body['continuation-key'], req.body.configuration, req.body.parameters);
      return { message: 'Pipeline continued.' };
    },
  );

  app.addHook('preHandler', async (req, reply) => {
    if (req.routeOptions.url === '/api/v2/pipeline/continue') return;
    // Everything under /project/{vcs}/{org}/{repo} belongs to an organization: members (and admins) only.
    await authenticator(store)(req, reply);
  });

  await contextRoutes(app, deps);
  await checkoutKeyRoutes(app, deps);
  await projectSettingsRoutes(app, deps);

  // The user's organizations (from GitHub), with the ids contexts use as `owner-id`.
  app.get('/me/collaborations', async (req) => {
    const out = [];
    for (const o of await store.identity.orgsOf(req.user!.id)) {
      const org =
        (await store.identity.orgByName('gh', o.org)) ?? (await store.identity.ensureOrg('gh', o.org, randomUUID()));
      out.push({ id: org.id, 'vcs-type': 'github', name: o.org, slug: `gh/${o.org}`, avatar_url: '' });
    }
    return out;
  });

  app.get('/me', async (req) => ({ id: req.user!.id, login: req.user!.login, name: req.user!.name }));

  app.get<{ Params: ProjectParams }>('/project/:vcs/:org/:repo', { schema: { params: projectParams } }, async (req) => {
    const p = await projectOf(store, req.params);
    return {
      slug: p.slug,
      name: p.name,
      organization_name: p.org,
      vcs_info: {
        vcs_url: p.repo_url,
        provider: p.vcs_type === 'bb' ? 'Bitbucket' : 'GitHub',
        default_branch: p.default_branch,
      },
    };
  });

  app.post<{
    Params: ProjectParams;
    Body: { branch?: string; tag?: string; parameters?: Record<string, unknown> } | null;
  }>(
    '/project/:vcs/:org/:repo/pipeline',
    {
      schema: {
        params: projectParams,
        body: {
          type: ['object', 'null'],
          properties: {
            branch: { type: 'string', minLength: 1 },
            tag: { type: 'string', minLength: 1 },
            parameters: { type: 'object' },
          },
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const project = await projectOf(store, req.params);
      const body = req.body ?? {};
      const p = await conductor.triggerPipeline(project, {
        branch: body.branch,
        tag: body.tag,
        parameters: body.parameters,
        actor: req.user!.login,
        triggerType: 'api',
      });
      reply.code(201);
      return { id: p.id, state: p.state, number: Number(p.number), created_at: p.created_at };
    },
  );

  // Project environment variables: stored encrypted, never readable back (only masked).
  const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const envelope = () => {
    if (!deps.envelope) throw new RoundhouseError('RH_INTERNAL');
    return deps.envelope;
  };
  app.get<{ Params: ProjectParams }>(
    '/project/:vcs/:org/:repo/envvar',
    { schema: { params: projectParams } },
    async (req) => {
      const project = await projectOf(store, req.params);
      const items = [];
      for (const v of await store.projectEnvVars(project.id))
        items.push({ name: v.name, value: maskValue(await envelope().decrypt(v.value_enc)) });
      return { items, next_page_token: null };
    },
  );
  const projectScope = async (project: ProjectRow) =>
    orgScope(await store.identity.ensureOrg(project.vcs_type, project.org, randomUUID()));
  const projectEntity = (p: ProjectRow) => ({ id: p.id, type: 'project', name: p.slug });
  app.post<{ Params: ProjectParams; Body: { name: string; value: string } }>(
    '/project/:vcs/:org/:repo/envvar',
    {
      schema: {
        params: projectParams,
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 256 },
            value: { type: 'string', maxLength: 32768 },
          },
          required: ['name', 'value'],
          additionalProperties: false,
        },
      },
      attachValidation: true,
    },
    async (req, reply) => {
      const project = await projectOf(store, req.params);
      const name = typeof req.body?.name === 'string' ? req.body.name : '';
      return audited(
        deps,
        req,
        {
          action: 'project.env_var.create',
          target: projectEntity(project),
          scope: await projectScope(project),
          payload: { name },
        },
        async () => {
          if (req.validationError) throw badRequest(`Invalid request: ${req.validationError.message}`);
          if (!ENV_NAME.test(req.body.name))
            throw badRequest(
              'Environment variable names start with a letter or _ and contain only letters, digits and _.',
            );
          const enc = await envelope().encrypt(req.body.value);
          await store.tx((s) => s.putProjectEnvVar(project.id, req.body.name, enc));
          reply.code(201);
          return { name: req.body.name, value: maskValue(req.body.value) };
        },
      );
    },
  );
  app.get<{ Params: ProjectParams & { name: string } }>('/project/:vcs/:org/:repo/envvar/:name', async (req) => {
    const project = await projectOf(store, req.params);
    const v = (await store.projectEnvVars(project.id)).find((x) => x.name === req.params.name);
    if (!v) throw notFound('Environment variable');
    return { name: v.name, value: maskValue(await envelope().decrypt(v.value_enc)) };
  });
  app.delete<{ Params: ProjectParams & { name: string } }>('/project/:vcs/:org/:repo/envvar/:name', async (req) => {
    const project = await projectOf(store, req.params);
    return audited(
      deps,
      req,
      {
        action: 'project.env_var.delete',
        target: projectEntity(project),
        scope: await projectScope(project),
        payload: { name: req.params.name },
      },
      async () => {
        if (!(await store.deleteProjectEnvVar(project.id, req.params.name))) throw notFound('Environment variable');
        return { message: 'Environment variable deleted.' };
      },
    );
  });

  const listPipelines = async (project: ProjectRow, query: Record<string, unknown>, actor?: string) => {
    const offset = pageOf(query['page-token']);
    const branch = typeof query.branch === 'string' ? query.branch : undefined;
    const rows = await store.listPipelines(project.id, { branch, limit: PAGE + 1, offset, actor });
    return {
      items: rows.slice(0, PAGE).map((p) => pipelineJson(p, project)),
      next_page_token: rows.length > PAGE ? pageToken(offset + PAGE) : null,
    };
  };
  app.get<{ Params: ProjectParams; Querystring: Record<string, unknown> }>(
    '/project/:vcs/:org/:repo/pipeline',
    { schema: { params: projectParams } },
    async (req) => listPipelines(await projectOf(store, req.params), req.query),
  );
  app.get<{ Params: ProjectParams; Querystring: Record<string, unknown> }>(
    '/project/:vcs/:org/:repo/pipeline/mine',
    { schema: { params: projectParams } },
    async (req) =>
      listPipelines(await projectOf(store, req.params), { 'page-token': req.query['page-token'] }, req.user!.login),
  );
  app.get<{ Querystring: Record<string, unknown> }>('/pipeline', async (req) => {
    const org = typeof req.query['org-slug'] === 'string' ? req.query['org-slug'] : undefined;
    const mine = req.query.mine === 'true' || req.query.mine === true;
    const projects = [];
    for (const p of await store.listProjects()) {
      if (org && `${p.vcs_type}/${p.org}` !== org.replace(/^github\//, 'gh/').replace(/^bitbucket\//, 'bb/')) continue;
      if (await orgRole(store, req.user!, p.org)) projects.push(p);
    }
    const offset = pageOf(req.query['page-token']);
    const all = [];
    for (const p of projects) {
      for (const row of await store.listPipelines(p.id, {
        limit: offset + PAGE + 1,
        offset: 0,
        actor: mine ? req.user!.login : undefined,
      }))
        all.push(pipelineJson(row, p));
    }
    all.sort((a, b) => b.created_at.localeCompare(a.created_at));
    return {
      items: all.slice(offset, offset + PAGE),
      next_page_token: all.length > offset + PAGE ? pageToken(offset + PAGE) : null,
    };
  });
  app.get<{ Params: ProjectParams & { number: string } }>('/project/:vcs/:org/:repo/pipeline/:number', async (req) => {
    const project = await projectOf(store, req.params);
    const n = Number(req.params.number);
    const p = Number.isInteger(n) ? await store.pipelineByNumber(project.id, n) : undefined;
    if (!p) throw notFound('Pipeline');
    return pipelineJson(p, project);
  });

  const pipelineById = async (id: string, req: FastifyRequest) => {
    const p = await store.pipeline(id);
    if (!p) throw notFound('Pipeline');
    const project = await store.projectById(p.project_id);
    if (!project) throw notFound('Pipeline');
    await requireProjectAccess(store, req, project).catch(() => {
      throw notFound('Pipeline');
    });
    return { p, project };
  };
  app.get<{ Params: { id: string } }>('/pipeline/:id', async (req) => {
    const { p, project } = await pipelineById(req.params.id, req);
    return pipelineJson(p, project);
  });
  app.get<{ Params: { id: string } }>('/pipeline/:id/config', async (req) => {
    const { p } = await pipelineById(req.params.id, req);
    return { source: p.config_source, compiled: p.config_compiled };
  });
  app.get<{ Params: { id: string } }>('/pipeline/:id/workflow', async (req) => {
    const { p, project } = await pipelineById(req.params.id, req);
    const wfs = await store.workflowsOfPipeline(p.id);
    return { items: wfs.map((w) => workflowJson(w, p, project)), next_page_token: null };
  });

  const workflowById = async (id: string, req: FastifyRequest) => {
    const w = await store.workflow(id);
    if (!w) throw notFound('Workflow');
    const { p, project } = await pipelineById(w.pipeline_id, req).catch(() => {
      throw notFound('Workflow');
    });
    return { w, p, project };
  };
  app.get<{ Params: { id: string } }>('/workflow/:id', async (req) => {
    const { w, p, project } = await workflowById(req.params.id, req);
    return workflowJson(w, p, project);
  });
  app.get<{ Params: { id: string } }>('/workflow/:id/job', async (req) => {
    const { w, project } = await workflowById(req.params.id, req);
    const jobs = await store.jobsOfWorkflow(w.id);
    const items = [];
    for (const j of jobs) {
      const original = j.copied_from && j.number === null ? (await store.job(j.copied_from))?.number : undefined;
      items.push(workflowJobJson(j, project, original));
    }
    return { items, next_page_token: null };
  });
  app.post<{ Params: { id: string; request: string } }>('/workflow/:id/approve/:request', async (req, reply) => {
    const { w } = await workflowById(req.params.id, req);
    await conductor.approve(w.id, req.params.request, req.user!.login);
    reply.code(202);
    return { message: 'Accepted.' };
  });
  app.post<{ Params: { id: string } }>('/workflow/:id/cancel', async (req, reply) => {
    const { w } = await workflowById(req.params.id, req);
    await conductor.cancelWorkflow(w.id, req.user!.login);
    reply.code(202);
    return { message: 'Accepted.' };
  });
  app.post<{ Params: { id: string }; Body: { jobs?: string[]; from_failed?: boolean; sparse_tree?: boolean } | null }>(
    '/workflow/:id/rerun',
    {
      schema: {
        body: {
          type: ['object', 'null'],
          properties: {
            jobs: { type: 'array', items: { type: 'string' } },
            from_failed: { type: 'boolean' },
            sparse_tree: { type: 'boolean' },
            enable_ssh: { type: 'boolean' },
          },
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const { w } = await workflowById(req.params.id, req);
      const body = req.body ?? {};
      if (body.sparse_tree && !body.jobs?.length) throw badRequest('`sparse_tree` needs `jobs`.');
      const id = await conductor.rerunWorkflow(
        w.id,
        { fromFailed: body.from_failed, jobs: body.jobs },
        req.user!.login,
      );
      reply.code(202);
      return { message: 'Accepted.', workflow_id: id };
    },
  );

  const jobByNumber = async (
    params: ProjectParams & { number: string },
  ): Promise<{ job: JobRow; project: ProjectRow }> => {
    const project = await projectOf(store, params);
    const n = Number(params.number);
    const job = Number.isInteger(n) ? await store.jobByNumber(project.id, n) : undefined;
    if (!job) throw notFound('Job');
    return { job, project };
  };
  app.get<{ Params: ProjectParams & { number: string } }>('/project/:vcs/:org/:repo/job/:number', async (req) => {
    const { job, project } = await jobByNumber(req.params);
    const [w, p, steps] = await Promise.all([
      store.workflow(job.workflow_id),
      store.pipeline(job.pipeline_id),
      store.stepsOfJob(job.id),
    ]);
    const spec = JSON.parse(job.spec);
    // Each parallel node's status: failed as soon as one of its steps failed, otherwise the job's.
    const nodeStatus = (node: number) => {
      const mine = steps.filter((s) => s.node === node);
      if (mine.some((s) => s.status === 'failed' || s.status === 'timedout')) return 'failed';
      if (mine.length && mine.every((s) => s.status === 'success'))
        return job.status === 'running' ? 'running' : job.status === 'failed' ? 'success' : job.status;
      return job.status;
    };
    const duration = job.started_at && job.stopped_at ? Date.parse(job.stopped_at) - Date.parse(job.started_at) : null;
    return {
      web_url: `${deps.publicUrl}/pipelines/${project.slug}/${p?.number}/workflows/${job.workflow_id}/jobs/${job.number}`,
      project: { slug: project.slug, name: project.name, external_url: project.repo_url },
      parallel_runs: Array.from({ length: Math.max(1, job.parallelism) }, (_, index) => ({
        index,
        status: nodeStatus(index),
      })),
      started_at: job.started_at,
      latest_workflow: { id: job.workflow_id, name: w?.name ?? '' },
      name: job.name,
      executor: {
        type: spec.plan?.executor.type ?? job.type,
        resource_class: spec.plan?.executor.resource_class ?? '',
      },
      parallelism: job.parallelism,
      status: job.status,
      number: Number(job.number),
      pipeline: { id: job.pipeline_id },
      duration,
      created_at: job.created_at,
      messages: JSON.parse(job.messages),
      contexts: (spec.contexts ?? []).map((name: string) => ({ name })),
      organization: { name: project.org },
      queued_at: job.queued_at,
      stopped_at: job.stopped_at,
    };
  });
  app.post<{ Params: ProjectParams & { number: string } }>(
    '/project/:vcs/:org/:repo/job/:number/cancel',
    async (req, reply) => {
      const { job } = await jobByNumber(req.params);
      await conductor.cancelJob(job, req.user!.login);
      reply.code(202);
      return { message: 'Accepted.' };
    },
  );
}
