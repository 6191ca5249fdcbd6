import { CHECKOUT_TOKEN_VAR, isSshUrl } from '../shared/urls.js';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { badRequest, RoundhouseError } from '../shared/errors.js';
import { now, type ProjectRow } from '../store/store.js';
import { normaliseRepo, Repository } from '../vcs/git.js';
import { auditCsv } from '../audit/log.js';
import type { IdentityUserRow } from '../store/identity.js';
import { actorOf } from './audited.js';
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

  app.post<{ Body: { slug: string; repo: string; default_branch?: string; checkout_token?: string } }>(
    '/projects',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            slug: { type: 'string', maxLength: 300 },
            repo: { type: 'string', minLength: 1, maxLength: 2000 },
            default_branch: { type: 'string', minLength: 1 },
            checkout_token: { type: 'string', minLength: 1, maxLength: 4096 },
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
      // A repository over SSH may need the checkout key, which can only be added once the project
      // exists: such a project is added unread, with the default branch given (or main).
      const token = req.body.checkout_token;
      const detected = await new Repository(
        url,
        `${deps.conductor.dataDir}/repos/${id}.git`,
        undefined,
        async () => token,
      )
        .probe()
        .catch((e) => {
          if (isSshUrl(url)) return 'main';
          throw e;
        });
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
      await store.tx(async (s) => {
        await s.insert('projects', { ...row, pipeline_counter: 0, job_counter: 0 });
        // The token is a project environment variable: encrypted, never readable back, masked in output.
        if (token) await s.putProjectEnvVar(id, CHECKOUT_TOKEN_VAR, await deps.envelope!.encrypt(token));
      });
      reply.code(201);
      return projectJson(row);
    },
  );

  // Users, as the operations guide describes them: active, inactive (approved, never logged in), suspended.
  const identity = () => {
    if (!deps.identity) throw new RoundhouseError('RH_INTERNAL');
    return deps.identity;
  };
  app.get('/users', async () => ({
    items: await Promise.all(
      (await store.identity.listUsers()).map(async (u) => userJson(u, await store.identity.orgsOf(u.id))),
    ),
  }));
  app.post<{ Body: { login: string; admin?: boolean } }>(
    '/users',
    {
      schema: {
        body: {
          type: 'object',
          properties: { login: { type: 'string', minLength: 1, maxLength: 39 }, admin: { type: 'boolean' } },
          required: ['login'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const u = await identity().createUser(req.body.login, actorOf(req), { id: req.id }, req.body.admin ?? false);
      reply.code(201);
      return userJson(u, []);
    },
  );
  app.post<{ Params: { login: string; action: string } }>('/users/:login/:action', async (req) => {
    const { action } = req.params;
    if (action !== 'suspend' && action !== 'activate') throw badRequest('Action must be suspend or activate.');
    const u = await identity().setState(req.params.login, action === 'suspend' ? 'suspended' : 'active');
    return userJson(u, await store.identity.orgsOf(u.id));
  });
  app.delete<{ Params: { login: string } }>('/users/:login', async (req) => {
    await identity().deleteUser(req.params.login);
    return { message: `User ${req.params.login} deleted.` };
  });

  // System settings
  const settingsJson = (s: { suspendNewUsers: boolean; requiredOrgs: string[] }) => ({
    suspend_new_users: s.suspendNewUsers,
    required_org_membership: s.requiredOrgs.join(','),
  });
  app.get('/settings', async () => settingsJson(await identity().systemSettings()));
  app.put<{ Body: { suspend_new_users?: boolean; required_org_membership?: string } }>(
    '/settings',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            suspend_new_users: { type: 'boolean' },
            required_org_membership: { type: 'string', maxLength: 4000, pattern: '^[A-Za-z0-9, _-]*$' },
          },
          additionalProperties: false,
        },
      },
    },
    async (req) =>
      settingsJson(
        await identity().updateSystemSettings({
          suspendNewUsers: req.body.suspend_new_users,
          requiredOrgs: req.body.required_org_membership
            ?.split(',')
            .map((o) => o.trim().toLowerCase())
            .filter(Boolean),
        }),
      ),
  );

  // The audit log as CSV (nested fields as JSON), optionally for a time range [from, to).
  app.get<{ Querystring: { from?: string; to?: string } }>('/audit-log', async (req, reply) => {
    const time = (name: 'from' | 'to') => {
      const v = req.query[name];
      if (v === undefined || v === '') return undefined;
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw badRequest(`\`${name}\` must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z.`);
      // Stored times carry nine fractional digits: compare in the same form.
      return new Date(t).toISOString().replace(/Z$/, '000000Z');
    };
    const from = time('from');
    const to = time('to');
    if (from && to && from > to) throw badRequest('`from` is after `to`.');
    if (!deps.audit) throw new RoundhouseError('RH_INTERNAL');
    const csv = auditCsv(await deps.audit.events(from, to));
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="audit-log.csv"')
      .send(csv);
  });
}

export function userJson(u: IdentityUserRow, orgs: { org: string; role: string }[]) {
  return {
    id: u.id,
    login: u.login,
    name: u.name,
    admin: !!Number(u.is_admin),
    state: u.state,
    created_at: u.created_at,
    last_login_at: u.last_login_at,
    organizations: orgs,
  };
}
