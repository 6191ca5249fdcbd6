import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { compileConfig } from '../config/compile.js';
import { formatConfigError } from '../config/types.js';
import type { OrbRegistry } from '../orbs/registry.js';
import { notFound } from '../shared/errors.js';
import { authenticator, requireAdmin } from './auth.js';
import type { ApiDeps } from './context.js';

/** The orb registry (reads for every user, publishing for admins) and the config compile endpoint. */
export async function orbRoutes(app: FastifyInstance, deps: ApiDeps & { orbs: OrbRegistry }) {
  const { orbs } = deps;
  app.addHook('preHandler', authenticator(deps.store));

  app.get('/api/orbs', async () => ({ items: await orbs.list() }));
  app.get<{ Params: { ns: string; name: string } }>('/api/orbs/:ns/:name', async (req) => {
    const found = (await orbs.list()).find((o) => o.name === `${req.params.ns}/${req.params.name}`);
    if (!found) throw notFound('Orb');
    return found;
  });
  app.get<{ Params: { ns: string; name: string; version: string } }>('/api/orbs/:ns/:name/:version', async (req) => {
    const found = await orbs.resolve(`${req.params.ns}/${req.params.name}@${req.params.version}`);
    if (!found) throw notFound('Orb version');
    return found;
  });
  app.post<{ Body: { ref: string; source: string } }>(
    '/api/admin/orbs',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            ref: { type: 'string', maxLength: 300 },
            source: { type: 'string', maxLength: 4 * 1024 * 1024 },
          },
          required: ['ref', 'source'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      requireAdmin(req);
      await orbs.publish(req.body.ref, req.body.source, req.user!.login);
      reply.code(201);
      return { ref: req.body.ref };
    },
  );

  // What the CircleCI CLI (`circleci config validate/process`) calls to compile a config.
  app.post<{
    Body: {
      config_yaml: string;
      options?: { owner_id?: string; pipeline_parameters?: unknown; pipeline_values?: Record<string, unknown> };
    };
  }>(
    '/api/v2/compile-config-with-defaults',
    {
      schema: {
        body: {
          type: 'object',
          properties: { config_yaml: { type: 'string', maxLength: 4 * 1024 * 1024 }, options: { type: 'object' } },
          required: ['config_yaml'],
        },
      },
    },
    async (req) => {
      const o = req.body.options ?? {};
      const values = o.pipeline_values ?? {};
      let parameters = o.pipeline_parameters;
      // The CLI sends pipeline parameters as a YAML/JSON string or as a map.
      if (typeof parameters === 'string') parameters = parameters.trim() ? parse(parameters) : {};
      const branch = typeof values['pipeline.git.branch'] === 'string' ? values['pipeline.git.branch'] : undefined;
      const tag =
        typeof values['pipeline.git.tag'] === 'string' && values['pipeline.git.tag']
          ? values['pipeline.git.tag']
          : undefined;
      const r = await compileConfig(req.body.config_yaml, {
        branch: tag ? undefined : (branch ?? 'main'),
        tag,
        orbs,
        pipeline: { parameters: (parameters ?? {}) as Record<string, unknown> },
      });
      return r.ok
        ? { valid: true, 'source-yaml': req.body.config_yaml, 'output-yaml': r.compiled, errors: [] }
        : {
            valid: false,
            'source-yaml': req.body.config_yaml,
            'output-yaml': '',
            errors: r.errors.map((e) => ({ message: formatConfigError(e) })),
          };
    },
  );
}
