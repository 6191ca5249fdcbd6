// GitHub webhooks (signed deliveries, push/tag/pull-request, duplicates), the forked-PR secrets
// policy, and checkout keys. The deliveries are built here as GitHub sends them (no GitHub needed).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhooks } from '@octokit/webhooks';
import test from 'ava';
import { configRepo, git } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SECRET = 'webhook-secret-for-tests';
const webhooks = new Webhooks({ secret: SECRET });
let server: TestServer;
let repo: string;
let n = 0;

test.before(async () => {
  server = await startTestServer({ ROUNDHOUSE_GITHUB_WEBHOOK_SECRET: SECRET });
  repo = configRepo(`version: 2.1
jobs:
  show:
    docker: [{image: x}]
    steps:
      - run: echo "branch=$CIRCLE_BRANCH tag=$CIRCLE_TAG p=$(echo $P_SECRET | rev) c=$(echo $C_SECRET | rev)"
workflows:
  w:
    jobs:
      - show:
          context: hook-ctx
          filters: {tags: {only: /.*/}}
`);
  await server.addProject('gh/Acme/hooks', repo);
  await server.api('POST', '/api/v2/project/gh/Acme/hooks/envvar', { name: 'P_SECRET', value: 'project-secret' });
  const ctx = (await server.api('POST', '/api/v2/context', { name: 'hook-ctx', owner: { slug: 'gh/Acme' } })).body;
  await server.api('PUT', `/api/v2/context/${ctx.id}/environment-variable/C_SECRET`, { value: 'context-secret' });
});
test.after.always(() => server?.close());

async function deliver(event: string, payload: unknown, opts: { delivery?: string; signature?: string | null } = {}) {
  const body = JSON.stringify(payload);
  const signature = opts.signature === undefined ? await webhooks.sign(body) : opts.signature;
  const res = await fetch(`${server.url}/webhooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': opts.delivery ?? `delivery-${++n}`,
      ...(signature ? { 'x-hub-signature-256': signature } : {}),
    },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}
const push = (ref: string) => ({ ref, repository: { full_name: 'acme/hooks' }, sender: { login: 'octocat' } });
const showOutput = async (pipelineId: string) => {
  const [wf] = await server.waitForPipeline(pipelineId);
  t0(wf.status);
  return (await server.stepOutput('gh/Acme/hooks', wf.jobs[0].job_number!))[2].output;
};
let t0: (s: string) => void = () => undefined;

test.serial('signatures are verified: missing or wrong signatures are refused with 401', async (t) => {
  t.is((await deliver('push', push('refs/heads/main'), { signature: null })).status, 401);
  t.is((await deliver('push', push('refs/heads/main'), { signature: 'sha256=00' })).status, 401);
  const forged = await deliver('push', push('refs/heads/main'), {
    signature: await new Webhooks({ secret: 'other' }).sign('{}'),
  });
  t.is(forged.status, 401);
  t.deepEqual((await server.api('GET', '/api/v2/project/gh/Acme/hooks/pipeline')).body.items, []);
});

test.serial('push and tag events create pipelines; a repeated delivery id is ignored', async (t) => {
  t0 = (s) => t.is(s, 'success');
  const r = await deliver('push', push('refs/heads/main'), { delivery: 'fixed-delivery' });
  t.is(r.status, 201);
  const pl = (await server.api('GET', `/api/v2/pipeline/${r.body.id}`)).body;
  t.like(pl, { trigger: { type: 'webhook', actor: { login: 'octocat' } }, vcs: { branch: 'main' } });
  t.is(await showOutput(r.body.id), 'branch=main tag= p=terces-tcejorp c=terces-txetnoc\n');
  const again = await deliver('push', push('refs/heads/main'), { delivery: 'fixed-delivery' });
  t.is(again.status, 200);
  t.regex(again.body.message, /already processed/);
  t.is((await server.api('GET', '/api/v2/project/gh/Acme/hooks/pipeline')).body.items.length, 1);

  git(repo, 'tag', 'v1.0.0');
  const tag = await deliver('push', push('refs/tags/v1.0.0'));
  t.is(tag.status, 201);
  t.is(await showOutput(tag.body.id), 'branch= tag=v1.0.0 p=terces-tcejorp c=terces-txetnoc\n');
  t.is((await deliver('push', { ...push('refs/heads/gone'), deleted: true })).status, 200);
  t.is((await deliver('push', { ...push('refs/heads/main'), repository: { full_name: 'acme/unknown' } })).status, 200);
});

test.serial('forked pull requests get no project or context secrets unless the project allows it', async (t) => {
  t0 = (s) => t.is(s, 'success');
  git(repo, 'update-ref', 'refs/pull/7/head', 'HEAD');
  const pr = (action = 'opened', head = 'evil/hooks') => ({
    action,
    number: 7,
    pull_request: { head: { repo: { full_name: head } }, base: { repo: { full_name: 'acme/hooks' } } },
    repository: { full_name: 'acme/hooks' },
    sender: { login: 'stranger' },
  });
  const own = await deliver('pull_request', pr('opened', 'acme/hooks'));
  t.is(own.status, 200, 'a PR from the repository itself builds on push');
  t.is((await deliver('pull_request', pr('closed'))).status, 200);
  const fork = await deliver('pull_request', pr());
  t.is(fork.status, 201);
  t.is(await showOutput(fork.body.id), 'branch=pull/7 tag= p= c=\n');
  const s = await server.api('PATCH', '/api/v2/project/gh/Acme/hooks/settings', {
    advanced: { forks_receive_secret_env_vars: true },
  });
  t.deepEqual(s.body, { advanced: { forks_receive_secret_env_vars: true } });
  const allowed = await deliver('pull_request', pr('synchronize'));
  t.is(await showOutput(allowed.body.id), 'branch=pull/7 tag= p=terces-tcejorp c=terces-txetnoc\n');
  t.is((await server.api('PATCH', '/api/v2/project/gh/Acme/hooks/settings', { advanced: { nope: 1 } })).status, 400);
});

test.serial(
  'checkout keys through the API v2 routes: created, listed, fetched by fingerprint, deleted; private keys never served',
  async (t) => {
    const base = '/api/v2/project/gh/Acme/hooks/checkout-key';
    const deploy = await server.api('POST', base, { type: 'deploy-key' });
    t.is(deploy.status, 201);
    t.deepEqual(Object.keys(deploy.body).sort(), ['created-at', 'fingerprint', 'preferred', 'public-key', 'type']);
    t.like(deploy.body, { type: 'deploy-key', preferred: true });
    t.regex(deploy.body['public-key'], /^ssh-ed25519 AAAA/);
    t.regex(deploy.body.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const user = await server.api('POST', base, { type: 'user-key' });
    t.like(user.body, { type: 'github-user-key', preferred: true });
    const list = (await server.api('GET', base)).body;
    t.is(list.next_page_token, null);
    t.deepEqual(
      list.items.map((k: { type: string; preferred: boolean }) => [k.type, k.preferred]),
      [
        ['deploy-key', false],
        ['github-user-key', true],
      ],
    );
    t.deepEqual((await server.api('GET', `${base}/${deploy.body.fingerprint}`)).body, {
      ...deploy.body,
      preferred: false,
    });
    t.is((await server.api('POST', base, { type: 'nope' })).status, 400);
    t.false(JSON.stringify(list).includes('PRIVATE KEY'));
    t.false(
      readFileSync(join(server.dataDir, 'roundhouse.db')).includes(Buffer.from('PRIVATE KEY')),
      'encrypted at rest',
    );
    t.is((await server.api('DELETE', `${base}/${deploy.body.fingerprint}`)).status, 200);
    t.is((await server.api('GET', `${base}/${deploy.body.fingerprint}`)).status, 404);
  },
);
