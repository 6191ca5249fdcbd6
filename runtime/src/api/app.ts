import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { RoundhouseError } from '../shared/errors.js';
import { adminRoutes } from './admin.js';
import type { ApiDeps } from './context.js';
import { EXECUTOR_API } from '../protocol/executor.js';
import { artifactRoutes } from './artifact-routes.js';
import { blobRoutes } from './blob-routes.js';
import { executorRoutes } from './executor-routes.js';
import { identityRoutes } from './identity-routes.js';
import { orbRoutes } from './orbs.js';
import { uiRoutes } from './ui.js';
import { v2Routes } from './v2.js';
import { sshKeyRoutes, v11Routes } from './v11.js';
import { webhookRoutes } from './webhooks.js';

declare module 'fastify' {
  interface FastifyInstance {
    readonly routeList: readonly { method: string; url: string }[];
  }
}

/** Tokens never reach the logs, also when a client puts one in the query string. */
const redact = (url: string) => url.replace(/(circle-token|sig)=[^&]*/gi, '$1=[redacted]');

/**
 * The api role as a fastify app: error handling first, then each group of routes as a plugin.
 * Tests build it and call inject(); the process entry only adds listen and shutdown.
 */
export async function buildApp(
  deps: ApiDeps,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    // Live streams and executor long-polls must not hold a stopping server open.
    forceCloseConnections: true,
    // Project slugs are paths: accept them URL-encoded too (gh%2Forg%2Frepo).
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      return /%2F/i.test(path) && /^\/api\/(v2|v1\.1)\/project\//.test(path)
        ? path.replace(/%2F/gi, '/') + (q < 0 ? '' : url.slice(q))
        : url;
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Request ids are UUIDs: the audit log's `request.id` links the events of one request.
    genReqId: () => randomUUID(),
    // Context variable names may be 300 characters: let such paths reach the handler's own check.
    routerOptions: { maxParamLength: 1000 },
  });
  await app.register(cookie);
  // Every route, for the authorization matrix test: a route without a rule there fails the suite.
  const routes: { method: string; url: string }[] = [];
  app.decorate('routeList', routes);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push({ method: m, url: r.url });
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, req, reply) => {
    if (err instanceof RoundhouseError) return reply.code(err.statusCode).send({ message: err.message });
    if (err.validation) return reply.code(400).send({ message: `Invalid request: ${err.message}` });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ message: err.message });
    req.log.error({ err, url: redact(req.url) }, 'request failed');
    return reply.code(500).send({ message: 'Internal server error.' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ message: `Not found: ${req.method} ${redact(req.url).split('?')[0]}` }),
  );
  // An empty body with a JSON content type is an empty request, as CircleCI treats it.
  // Bodies are JSON whatever the content type says (`curl -d` sends form encoding by default),
  // except blobs (caches, workspaces), which stream through untouched.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 32 * 1024 * 1024 }, (_req, body, done) => {
    const text = String(body);
    if (!text.trim()) return done(null, null);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('Body is not valid JSON.'), { statusCode: 400 }), undefined);
    }
  });

  await app.register((a) => webhookRoutes(a, deps));
  await app.register((a) => identityRoutes(a, deps));
  await app.register((a) => v2Routes(a, deps), { prefix: '/api/v2' });
  await app.register((a) => v11Routes(a, deps), { prefix: '/api/v1.1' });
  await app.register((a) => sshKeyRoutes(a, deps), { prefix: '/api/v1.1' });
  await app.register((a) => adminRoutes(a, deps), { prefix: '/api/admin' });
  await app.register((a) => executorRoutes(a, deps), { prefix: EXECUTOR_API });
  if (deps.objects) {
    await app.register((a) => blobRoutes(a, deps), { prefix: EXECUTOR_API });
    await app.register((a) => artifactRoutes(a, deps));
  }
  await app.register((a) => uiRoutes(a, deps));
  if (deps.orbs) {
    const withOrbs = { ...deps, orbs: deps.orbs };
    await app.register((a) => orbRoutes(a, withOrbs));
  }
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
