import { createHash, generateKeyPairSync } from 'node:crypto';
import { ed25519ToOpenSsh } from '../shared/openssh.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { orgRole } from '../identity/service.js';
import { notFound, RoundhouseError } from '../shared/errors.js';
import type { ProjectRow } from '../store/store.js';
import type { CheckoutKeyRow } from '../store/secrets.js';
import { type ApiDeps, projectOf } from './context.js';

type ProjectParams = { vcs: string; org: string; repo: string };

/** An ed25519 key pair: the public key in OpenSSH form, its MD5 fingerprint (as CircleCI shows it), the private key in OpenSSH's format (what ssh reads). */
export function newSshKey(): { publicKey: string; fingerprint: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  const fingerprint = createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
  return {
    publicKey: `ssh-ed25519 ${blob.toString('base64')}`,
    fingerprint,
    privatePem: ed25519ToOpenSsh(
      privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      'roundhouse checkout key',
    ),
  };
}

/** Checkout keys through the API v2 routes (2021 spec). Private keys are encrypted at rest and never served. */
export async function checkoutKeyRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { store } = deps;
  const list = async (project: ProjectRow) => {
    const rows = await store.secrets.checkoutKeys(project.id);
    // The preferred key is the newest user key, else the newest deploy key (CircleCI prefers user keys).
    const users = rows.filter((r) => r.type === 'github-user-key');
    const preferred = (users.length ? users : rows).at(-1)?.fingerprint;
    return rows.map((r) => keyJson(r, r.fingerprint === preferred));
  };
  const keyJson = (r: CheckoutKeyRow, preferred: boolean) => ({
    'public-key': r.public_key,
    type: r.type,
    fingerprint: r.fingerprint,
    preferred,
    'created-at': r.created_at,
  });
  const requireProjectAdmin = async (req: FastifyRequest, project: ProjectRow) => {
    if ((await orgRole(store, req.user!, project.org)) !== 'admin') throw new RoundhouseError('RH_FORBIDDEN');
  };

  app.get<{ Params: ProjectParams }>('/project/:vcs/:org/:repo/checkout-key', async (req) => ({
    items: await list(await projectOf(store, req.params)),
    next_page_token: null,
  }));
  app.post<{ Params: ProjectParams; Body: { type: 'user-key' | 'deploy-key' } }>(
    '/project/:vcs/:org/:repo/checkout-key',
    {
      schema: {
        body: {
          type: 'object',
          properties: { type: { enum: ['user-key', 'deploy-key'] } },
          required: ['type'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const project = await projectOf(store, req.params);
      await requireProjectAdmin(req, project);
      if (!deps.envelope) throw new RoundhouseError('RH_INTERNAL');
      const key = newSshKey();
      const row: CheckoutKeyRow = {
        project_id: project.id,
        fingerprint: key.fingerprint,
        type: req.body.type === 'user-key' ? 'github-user-key' : 'deploy-key',
        public_key: key.publicKey,
        private_enc: await deps.envelope.encrypt(key.privatePem),
        preferred: 0,
        created_at: new Date().toISOString(),
      };
      await store.secrets.insertCheckoutKey(row);
      reply.code(201);
      return (await list(project)).find((k) => k.fingerprint === row.fingerprint);
    },
  );
  app.get<{ Params: ProjectParams & { fingerprint: string } }>(
    '/project/:vcs/:org/:repo/checkout-key/:fingerprint',
    async (req) => {
      const k = (await list(await projectOf(store, req.params))).find((x) => x.fingerprint === req.params.fingerprint);
      if (!k) throw notFound('Checkout key');
      return k;
    },
  );
  app.delete<{ Params: ProjectParams & { fingerprint: string } }>(
    '/project/:vcs/:org/:repo/checkout-key/:fingerprint',
    async (req) => {
      const project = await projectOf(store, req.params);
      await requireProjectAdmin(req, project);
      if (!(await store.secrets.deleteCheckoutKey(project.id, req.params.fingerprint))) throw notFound('Checkout key');
      return { message: 'ok' };
    },
  );
}
