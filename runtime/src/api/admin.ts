import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { badRequest, RoundhouseError } from '../shared/errors.js';
import { now, type ProjectRow } from '../store/store.js';
import { normaliseRepo, Repository } from '../vcs/git.js';
import { authenticator, requireAdmin } from './auth.js';
import { type ApiDeps, normaliseVcs } from './context.js';

const NAME = /^[A-Za-z0-9_.-]+$/;

export function projectJson(p: ProjectRow) {
  return {
    id: p.id,
    slug: p.slug,
    organization: p.org,
    name: p.name,
    repo_url: p.repo_url,
    default_branch: p.default_branch,
    created_at: p.created_at,
  };
}

/** Parses `<vcs>/<org>/<repo>` (vcs: gh, github, bb, bitbucket, circleci). */
export function parseSlug(slug: string): { vcs: string; org: string; repo: string } {
  const parts = slug.split('/');
  const vcs = parts.length === 3 ? normaliseVcs(parts[0]) : undefined;
  if (!vcs || !NAME.test(parts[1]) || !NAME.test(parts[2])) {
    throw badRequest(
      `Project slug "${slug}" must look like <vcs>/<org>/<repo>, e.g. gh/acme/api (vcs: gh, github, bb, bitbucket).`,
    );
  }
  return { vcs, org: parts[1], repo: parts[2] };
}

/** The admin API: routes only the admin role may call. */
export async function adminRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  app.addHook('preHandler', authenticator(store));
  app.addHook('preHandler', async (req) => requireAdmin(req));

  app.get('/projects', async () => ({ items: (await store.listProjects()).map(projectJson) }));

  app.post<{ Body: { slug: string; repo: string; default_branch?: string } }>(
    '/projects',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            slug: { type: 'string', maxLength: 300 },
            repo: { type: 'string', minLength: 1, maxLength: 2000 },
            default_branch: { type: 'string', minLength: 1 },
          },
          required: ['slug', 'repo'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const { vcs, org, repo } = parseSlug(req.body.slug);
      const slug = `${vcs}/${org}/${repo}`;
      if (await store.projectBySlug(slug)) throw new RoundhouseError('RH_PROJECT_EXISTS', slug);
      const url = normaliseRepo(req.body.repo);
      const id = randomUUID();
      const detected = await new Repository(url, `${deps.conductor.dataDir}/repos/${id}.git`).probe();
      const row: ProjectRow = {
        id,
        slug,
        vcs_type: vcs,
        org,
        name: repo,
        repo_url: url,
        default_branch: req.body.default_branch ?? detected,
        created_at: now(),
      };
      await store.insert('projects', { ...row, pipeline_counter: 0, job_counter: 0 });
      reply.code(201);
      return projectJson(row);
    },
  );
}
