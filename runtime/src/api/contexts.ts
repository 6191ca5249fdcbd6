import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayUseContext, orgRole } from '../identity/service.js';
import { badRequest, notFound, RoundhouseError } from '../shared/errors.js';
import type { OrgRow } from '../store/identity.js';
import type { ContextRow } from '../store/secrets.js';
import { audited, orgScope } from './audited.js';
import { type ApiDeps, normaliseVcs, pageOf, pageToken } from './context.js';

/** CircleCI's documented limits for contexts. */
export const CONTEXT_LIMITS = {
  nameLength: 200,
  varNameLength: 300,
  valueBytes: 32 * 1024,
  varsPerContext: 100,
  contextsPerOrg: 500,
} as const;
export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PAGE = 20;

const contextJson = (c: ContextRow) => ({ id: c.id, name: c.name, created_at: c.created_at });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `gh/acme`, `github/acme`, `bb/acme` → (vcs, org). */
function parseOwnerSlug(slug: string): { vcs: string; name: string } {
  const [v, name, extra] = slug.split('/');
  const vcs = v && normaliseVcs(v);
  if (!vcs || !name || extra !== undefined)
    throw badRequest(`owner slug "${slug}" must look like <vcs>/<org>, e.g. gh/acme.`);
  return { vcs, name };
}

/** Contexts through the API v2 routes of the 2021 spec, plus security groups (`/restrictions`). */
export async function contextRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  const envelope = () => {
    if (!deps.envelope) throw new RoundhouseError('RH_INTERNAL');
    return deps.envelope;
  };

  /** The owner org, when the user belongs to it (or is an admin); else it does not exist for them. */
  const ownerOrg = async (
    req: FastifyRequest,
    owner: { id?: string; slug?: string },
    create: boolean,
  ): Promise<OrgRow> => {
    let org: OrgRow | undefined;
    if (owner.id) {
      if (!UUID.test(owner.id)) throw badRequest('owner id must be a UUID.');
      org = await store.identity.org(owner.id);
    } else if (owner.slug) {
      const { vcs, name } = parseOwnerSlug(owner.slug);
      org = await store.identity.orgByName(vcs, name);
      if (!org && create && (await orgRole(store, req.user!, name)))
        org = await store.identity.ensureOrg(vcs, name, randomUUID());
      if (!org) org = { id: '', vcs_type: vcs, name, created_at: '' };
    } else throw badRequest('Give the owner: `owner-id` or `owner-slug`.');
    if (!org || !(await orgRole(store, req.user!, org.name))) throw notFound('Owner');
    return org;
  };
  /** A context the user can see (they belong to its org). */
  const visible = async (req: FastifyRequest, id: string) => {
    const c = UUID.test(id) ? await store.secrets.context(id) : undefined;
    const org = c && (await store.identity.org(c.org_id));
    if (!c || !org || !(await orgRole(store, req.user!, org.name))) throw notFound('Context');
    return { c, org };
  };
  const requireUse = async (req: FastifyRequest, c: ContextRow) => {
    if (!(await mayUseContext(store, req.user, c))) throw new RoundhouseError('RH_FORBIDDEN');
  };

  app.get<{ Querystring: Record<string, string | undefined> }>('/context', async (req) => {
    const org = await ownerOrg(req, { id: req.query['owner-id'], slug: req.query['owner-slug'] }, false);
    const offset = pageOf(req.query['page-token']);
    const rows = org.id ? await store.secrets.contextsOfOrg(org.id, PAGE + 1, offset) : [];
    return {
      items: rows.slice(0, PAGE).map(contextJson),
      next_page_token: rows.length > PAGE ? pageToken(offset + PAGE) : null,
    };
  });

  app.post<{ Body: { name?: unknown; owner?: { id?: string; slug?: string; type?: string } } }>(
    '/context',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            owner: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                slug: { type: 'string' },
                type: { enum: ['account', 'organization'] },
              },
              additionalProperties: false,
            },
          },
          required: ['name', 'owner'],
          additionalProperties: false,
        },
      },
      attachValidation: true,
    },
    async (req) => {
      const name = typeof req.body?.name === 'string' ? req.body.name : '';
      const owner = req.body?.owner ?? {};
      const org = await ownerOrg(req, owner, true).catch((e) => {
        if (req.validationError) throw badRequest(`Invalid request: ${req.validationError.message}`);
        throw e;
      });
      const id = randomUUID();
      return audited(
        deps,
        req,
        {
          action: 'context.create',
          target: { id, type: 'context', name },
          scope: orgScope(org),
          payload: { name },
        },
        async () => {
          if (req.validationError) throw badRequest(`Invalid request: ${req.validationError.message}`);
          if (!name.trim()) throw badRequest('A context needs a name.');
          if (name.length > CONTEXT_LIMITS.nameLength)
            throw new RoundhouseError(
              'RH_CONTEXT_LIMIT',
              `Context names are at most ${CONTEXT_LIMITS.nameLength} characters.`,
            );
          if ((await store.secrets.countContexts(org.id)) >= CONTEXT_LIMITS.contextsPerOrg)
            throw new RoundhouseError(
              'RH_CONTEXT_LIMIT',
              `An organization has at most ${CONTEXT_LIMITS.contextsPerOrg} contexts.`,
            );
          if (await store.secrets.contextByName(name))
            throw new RoundhouseError('RH_CONFLICT', `A context named ${name} already exists.`);
          const row: ContextRow = { id, org_id: org.id, name, created_at: new Date().toISOString() };
          await store.secrets.insertContext(row);
          return contextJson(row);
        },
      );
    },
  );

  app.get<{ Params: { id: string } }>('/context/:id', async (req) =>
    contextJson((await visible(req, req.params.id)).c),
  );

  app.delete<{ Params: { id: string } }>('/context/:id', async (req) => {
    const { c, org } = await visible(req, req.params.id);
    return audited(
      deps,
      req,
      {
        action: 'context.delete',
        target: { id: c.id, type: 'context', name: c.name },
        scope: orgScope(org),
        payload: { name: c.name },
      },
      async () => {
        await requireUse(req, c);
        await store.tx((s) => s.secrets.deleteContext(c.id));
        return { message: 'Context deleted.' };
      },
    );
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>(
    '/context/:id/environment-variable',
    async (req) => {
      const { c } = await visible(req, req.params.id);
      const offset = pageOf(req.query['page-token']);
      const rows = await store.secrets.contextVars(c.id);
      return {
        items: rows
          .slice(offset, offset + PAGE)
          .map((v) => ({ variable: v.name, created_at: v.created_at, context_id: c.id })),
        next_page_token: rows.length > offset + PAGE ? pageToken(offset + PAGE) : null,
      };
    },
  );

  app.put<{ Params: { id: string; name: string }; Body: { value?: unknown } | null }>(
    '/context/:id/environment-variable/:name',
    async (req) => {
      const { c, org } = await visible(req, req.params.id);
      const name = req.params.name;
      return audited(
        deps,
        req,
        {
          action: 'context.env_var.store',
          target: { id: c.id, type: 'context', name: c.name },
          scope: orgScope(org),
          payload: { name },
        },
        async () => {
          await requireUse(req, c);
          const value = req.body?.value;
          if (typeof value !== 'string') throw badRequest('The body must be {"value": "<string>"}.');
          if (!ENV_VAR_NAME.test(name))
            throw badRequest(
              'Environment variable names start with a letter or _ and contain only letters, digits and _.',
            );
          if (name.length > CONTEXT_LIMITS.varNameLength)
            throw new RoundhouseError(
              'RH_CONTEXT_LIMIT',
              `Environment variable names are at most ${CONTEXT_LIMITS.varNameLength} characters.`,
            );
          if (Buffer.byteLength(value) > CONTEXT_LIMITS.valueBytes)
            throw new RoundhouseError(
              'RH_CONTEXT_LIMIT',
              `Environment variable values are at most ${CONTEXT_LIMITS.valueBytes} bytes.`,
            );
          const existing = await store.secrets.contextVars(c.id);
          if (!existing.some((v) => v.name === name) && existing.length >= CONTEXT_LIMITS.varsPerContext)
            throw new RoundhouseError(
              'RH_CONTEXT_LIMIT',
              `A context holds at most ${CONTEXT_LIMITS.varsPerContext} environment variables.`,
            );
          const enc = await envelope().encrypt(value);
          const created = await store.tx((s) => s.secrets.putContextVar(c.id, name, enc));
          return { variable: name, created_at: created, context_id: c.id };
        },
      );
    },
  );

  app.delete<{ Params: { id: string; name: string } }>('/context/:id/environment-variable/:name', async (req) => {
    const { c, org } = await visible(req, req.params.id);
    return audited(
      deps,
      req,
      {
        action: 'context.env_var.delete',
        target: { id: c.id, type: 'context', name: c.name },
        scope: orgScope(org),
        payload: { name: req.params.name },
      },
      async () => {
        await requireUse(req, c);
        if (!(await store.secrets.deleteContextVar(c.id, req.params.name))) throw notFound('Environment variable');
        return { message: 'Environment variable deleted.' };
      },
    );
  });

  // Security groups (GitHub teams): only org admins change them. No groups = "All members".
  const restrictionJson = (contextId: string, g: { id: string; team: string }) => ({
    id: g.id,
    context_id: contextId,
    restriction_type: 'group',
    restriction_value: g.team,
    name: g.team,
  });
  const requireOrgAdmin = async (req: FastifyRequest, org: OrgRow) => {
    if ((await orgRole(store, req.user!, org.name)) !== 'admin') throw new RoundhouseError('RH_FORBIDDEN');
  };
  app.get<{ Params: { id: string } }>('/context/:id/restrictions', async (req) => {
    const { c } = await visible(req, req.params.id);
    return { items: (await store.secrets.groupsOf(c.id)).map((g) => restrictionJson(c.id, g)), next_page_token: null };
  });
  app.post<{ Params: { id: string }; Body: { restriction_type: string; restriction_value: string } }>(
    '/context/:id/restrictions',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            restriction_type: { enum: ['group'] },
            restriction_value: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' },
          },
          required: ['restriction_type', 'restriction_value'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const { c, org } = await visible(req, req.params.id);
      await requireOrgAdmin(req, org);
      const id = randomUUID();
      await store.secrets.addGroup(id, c.id, req.body.restriction_value);
      const g = (await store.secrets.groupsOf(c.id)).find((x) => x.team === req.body.restriction_value)!;
      reply.code(201);
      return restrictionJson(c.id, g);
    },
  );
  app.delete<{ Params: { id: string; rid: string } }>('/context/:id/restrictions/:rid', async (req) => {
    const { c, org } = await visible(req, req.params.id);
    await requireOrgAdmin(req, org);
    if (!(await store.secrets.deleteGroup(c.id, req.params.rid))) throw notFound('Restriction');
    return { message: 'Restriction deleted.' };
  });
}
