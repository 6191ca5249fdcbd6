import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { orgRole } from '../identity/service.js';
import { RoundhouseError } from '../shared/errors.js';
import type { ProjectRow } from '../store/store.js';
import { audited, orgScope } from './audited.js';
import { type ApiDeps, projectOf } from './context.js';

type ProjectParams = { vcs: string; org: string; repo: string };

/** Project settings Roundhouse honours. Both default to off, as on CircleCI. */
export interface ProjectSettings {
  /** Give forked pull requests' jobs the project's and contexts' secrets. */
  forks_receive_secret_env_vars: boolean;
}
const DEFAULTS: ProjectSettings = { forks_receive_secret_env_vars: false };

export function projectSettings(p: ProjectRow): ProjectSettings {
  return { ...DEFAULTS, ...JSON.parse(p.settings ?? '{}') };
}

/** `GET|PATCH /api/v2/project/{slug}/settings` (`{"advanced": {…}}`, as CircleCI's newer API shapes it). */
export async function projectSettingsRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  app.get<{ Params: ProjectParams }>('/project/:vcs/:org/:repo/settings', async (req) => ({
    advanced: projectSettings(await projectOf(store, req.params)),
  }));
  app.patch<{ Params: ProjectParams; Body: { advanced?: Partial<ProjectSettings> } }>(
    '/project/:vcs/:org/:repo/settings',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            advanced: {
              type: 'object',
              properties: {
                forks_receive_secret_env_vars: { type: 'boolean' },
              },
              additionalProperties: false,
            },
          },
          additionalProperties: false,
        },
      },
      attachValidation: true,
    },
    async (req) => {
      const project = await projectOf(store, req.params);
      const org = await store.identity.ensureOrg(project.vcs_type, project.org, randomUUID());
      return audited(
        deps,
        req,
        {
          action: 'project.settings.update',
          target: { id: project.id, type: 'project', name: project.slug },
          scope: orgScope(org),
          payload: { advanced: req.body?.advanced ?? {} },
        },
        async () => {
          if (req.validationError)
            throw new RoundhouseError('RH_BAD_REQUEST', `Invalid request: ${req.validationError.message}`);
          if ((await orgRole(store, req.user!, project.org)) !== 'admin') throw new RoundhouseError('RH_FORBIDDEN');
          const next = { ...projectSettings(project), ...req.body?.advanced };
          await store.updateProjectSettings(project.id, JSON.stringify(next));
          return { advanced: next };
        },
      );
    },
  );
}
