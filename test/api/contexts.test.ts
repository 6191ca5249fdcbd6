// Contexts through the API v2 routes of the 2021 spec, their variables in jobs, and restricted
// contexts — on SQLite and on PostgreSQL. GitHub (for members and teams) is a FAKE.
import test from 'ava';
import { type FakeGitHub, githubEnv, startFakeGitHub, userToken } from '../helpers/fake-github.js';
import { configRepo } from '../helpers/git.js';
import { type PgCluster, postgresUnavailable, startPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const pgMissing = postgresUnavailable();
if (pgMissing) console.log(`contexts on PostgreSQL skipped: ${pgMissing}`);
let pg: PgCluster | undefined;
let gh: FakeGitHub;
const servers: Record<string, TestServer> = {};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test.before(async () => {
  gh = await startFakeGitHub();
  servers.sqlite = await startTestServer(githubEnv(gh));
  if (!pgMissing) {
    pg = await startPostgres();
    servers.postgres = await startTestServer({ ...githubEnv(gh), DATABASE_URL: pg.url });
  }
});
test.after.always(async () => {
  for (const s of Object.values(servers)) await s.close();
  pg?.stop();
  await gh?.close();
});

const CONFIG = `version: 2.1
jobs:
  show:
    docker: [{image: x}]
    environment: {JOB_WINS: from-job}
    steps:
      - run: echo "shared=$(echo $SHARED | rev) a=$(echo $A_ONLY | rev) p=$(echo $P_ONLY | rev) job=$JOB_WINS"
      - run: echo "masked=$SHARED"
  deploy:
    docker: [{image: x}]
    steps: [{run: echo "deploying with $(echo $DEPLOY_KEY | rev)"}]
workflows:
  main:
    jobs:
      - show: {context: [ctx-a, ctx-b]}
`;
const GATED = `version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: echo build}]}
  deploy:
    docker: [{image: x}]
    steps: [{run: echo "deploying with $(echo $DEPLOY_KEY | rev)"}]
workflows:
  direct:
    jobs:
      - deploy: {context: restricted-deploy}
`;
const APPROVAL = `version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: echo build}]}
  deploy:
    docker: [{image: x}]
    steps: [{run: echo "deploying with $(echo $DEPLOY_KEY | rev)"}]
workflows:
  gated:
    jobs:
      - build
      - hold: {type: approval, requires: [build]}
      - deploy: {context: restricted-deploy, requires: [hold]}
`;

for (const kind of ['sqlite', 'postgres'] as const) {
  const maybe = kind === 'postgres' && pgMissing ? test.skip : test.serial;
  const org = `acme-${kind}`;

  maybe(
    `${kind}: contexts API — create, get, list by owner-slug and owner-id with paging, variables never readable, delete`,
    async (t) => {
      const s = servers[kind];
      const create = await s.api('POST', '/api/v2/context', {
        name: `ctx-page-0-${kind}`,
        owner: { slug: `gh/${org}`, type: 'organization' },
      });
      t.is(create.status, 200);
      t.deepEqual(Object.keys(create.body).sort(), ['created_at', 'id', 'name']);
      t.regex(create.body.id, UUID);
      for (let i = 1; i < 22; i++)
        await s.api('POST', '/api/v2/context', {
          name: `ctx-page-${String(i).padStart(2, '0')}-${kind}`,
          owner: { slug: `github/${org}` },
        });
      const first = await s.api('GET', `/api/v2/context?owner-slug=gh/${org}`);
      t.is(first.body.items.length, 20);
      t.truthy(first.body.next_page_token);
      // owner-id: the organization's id, as /me/collaborations gives it to a member.
      const token = await userToken(s.url, gh, { id: 7000, login: `lister-${kind}`, orgs: [{ org }] });
      const [collab] = (await s.api('GET', '/api/v2/me/collaborations', undefined, token)).body;
      t.regex(collab.id, UUID);
      const byId = await s.api('GET', `/api/v2/context?owner-id=${collab.id}`, undefined, token);
      t.deepEqual(byId.body, first.body);
      const second = await s.api(
        'GET',
        `/api/v2/context?owner-slug=gh/${org}&page-token=${first.body.next_page_token}`,
      );
      t.is(second.body.items.length, 2);
      t.is(second.body.next_page_token, null);
      t.deepEqual((await s.api('GET', `/api/v2/context/${create.body.id}`)).body, create.body);

      const id = create.body.id;
      const put = await s.api('PUT', `/api/v2/context/${id}/environment-variable/POSTGRES_PASSWORD`, {
        value: 'pg-secret-value',
      });
      t.is(put.status, 200);
      t.deepEqual(Object.keys(put.body).sort(), ['context_id', 'created_at', 'variable']);
      t.like(put.body, { variable: 'POSTGRES_PASSWORD', context_id: id });
      const update = await s.api('PUT', `/api/v2/context/${id}/environment-variable/POSTGRES_PASSWORD`, {
        value: 'other',
      });
      t.is(update.body.created_at, put.body.created_at, 'an update keeps created_at');
      const vars = await s.api('GET', `/api/v2/context/${id}/environment-variable`);
      t.deepEqual(vars.body, {
        items: [{ variable: 'POSTGRES_PASSWORD', created_at: put.body.created_at, context_id: id }],
        next_page_token: null,
      });
      t.false(JSON.stringify(vars.body).includes('pg-secret'));
      t.is((await s.api('DELETE', `/api/v2/context/${id}/environment-variable/POSTGRES_PASSWORD`)).status, 200);
      t.is((await s.api('DELETE', `/api/v2/context/${id}/environment-variable/POSTGRES_PASSWORD`)).status, 404);
      t.deepEqual((await s.api('DELETE', `/api/v2/context/${id}`)).body, { message: 'Context deleted.' });
      t.is((await s.api('GET', `/api/v2/context/${id}`)).status, 404);
    },
  );

  maybe(`${kind}: contexts API — bad input and the documented limits are clear 400s`, async (t) => {
    const s = servers[kind];
    const bad = async (method: string, path: string, body: unknown, status = 400) => {
      const r = await s.api(method, path, body);
      t.is(r.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}`);
      t.is(typeof r.body.message, 'string');
      return r.body.message as string;
    };
    await bad('GET', '/api/v2/context', undefined);
    await bad('POST', '/api/v2/context', { name: 'x' });
    await bad('POST', '/api/v2/context', { name: 'x', owner: { slug: 'nonsense' } });
    t.regex(
      await bad('POST', '/api/v2/context', { name: 'n'.repeat(201), owner: { slug: `gh/${org}` } }),
      /200 characters/,
    );
    const ok = await s.api('POST', '/api/v2/context', { name: `limits-${kind}`, owner: { slug: `gh/${org}` } });
    t.is(ok.status, 200);
    await bad('POST', '/api/v2/context', { name: `limits-${kind}`, owner: { slug: `gh/${org}` } }, 409);
    const v = `/api/v2/context/${ok.body.id}/environment-variable`;
    await bad('PUT', `${v}/1BAD`, { value: 'x' });
    await bad('PUT', `${v}/OK`, {});
    t.regex(await bad('PUT', `${v}/${'N'.repeat(301)}`, { value: 'x' }), /300 characters/);
    t.regex(await bad('PUT', `${v}/BIG`, { value: 'x'.repeat(32 * 1024 + 1) }), /32768 bytes/);
    for (let i = 0; i < 100; i++) t.is((await s.api('PUT', `${v}/V${i}`, { value: `v${i}` })).status, 200);
    t.regex(await bad('PUT', `${v}/V100`, { value: 'x' }), /at most 100/);
    t.is(
      (await s.api('PUT', `${v}/V5`, { value: 'changed' })).status,
      200,
      'updating an existing variable is fine at 100',
    );
    await bad('GET', '/api/v2/context/not-a-uuid', undefined, 404);
  });

  maybe(
    `${kind}: several contexts per job — later contexts override earlier ones, project vars lowest, job env highest, all masked`,
    async (t) => {
      const s = servers[kind];
      await s.addProject(`gh/${org}/ctxapp`, configRepo(CONFIG));
      const mk = async (name: string) =>
        (await s.api('POST', '/api/v2/context', { name, owner: { slug: `gh/${org}` } })).body.id as string;
      const a = await mk('ctx-a');
      const b = await mk('ctx-b');
      await s.api('PUT', `/api/v2/context/${a}/environment-variable/SHARED`, { value: 'value-from-a' });
      await s.api('PUT', `/api/v2/context/${a}/environment-variable/A_ONLY`, { value: 'only-in-a' });
      await s.api('PUT', `/api/v2/context/${a}/environment-variable/JOB_WINS`, { value: 'context-loses' });
      await s.api('PUT', `/api/v2/context/${b}/environment-variable/SHARED`, { value: 'value-from-b' });
      await s.api('POST', `/api/v2/project/gh/${org}/ctxapp/envvar`, { name: 'SHARED', value: 'value-from-project' });
      await s.api('POST', `/api/v2/project/gh/${org}/ctxapp/envvar`, { name: 'P_ONLY', value: 'only-in-project' });
      const p = await s.trigger(`gh/${org}/ctxapp`);
      const [wf] = await s.waitForPipeline(p.id);
      t.is(wf.status, 'success');
      const out = await s.stepOutput(`gh/${org}/ctxapp`, wf.jobs[0].job_number!);
      t.is(out[2].output, 'shared=b-morf-eulav a=a-ni-ylno p=tcejorp-ni-ylno job=from-job\n');
      t.is(out[3].output, 'masked=********\n');
      t.regex(out[1].output, /SHARED/);
    },
  );

  maybe(
    `${kind}: restricted contexts — non-members of the security group end unauthorized; the approval gate uses the approver`,
    async (t) => {
      const s = servers[kind];
      const o = `gate-${kind}`;
      const opsMember = await userToken(s.url, gh, {
        id: 9001,
        login: `olivia-${kind}`,
        orgs: [{ org: o }],
        teams: [{ org: o, slug: 'ops' }],
      });
      const member = await userToken(s.url, gh, { id: 9002, login: `mallory-${kind}`, orgs: [{ org: o }] });
      const orgAdmin = await userToken(s.url, gh, {
        id: 9003,
        login: `oscar-${kind}`,
        orgs: [{ org: o, role: 'admin' }],
      });
      const name = 'restricted-deploy';
      const ctx = await s.api('POST', '/api/v2/context', { name, owner: { slug: `gh/${o}` } }, member);
      t.is(ctx.status, 200, JSON.stringify(ctx.body));
      await s.api(
        'PUT',
        `/api/v2/context/${ctx.body.id}/environment-variable/DEPLOY_KEY`,
        { value: 'deploy-secret' },
        member,
      );
      // Only org admins add security groups.
      t.is(
        (
          await s.api(
            'POST',
            `/api/v2/context/${ctx.body.id}/restrictions`,
            { restriction_type: 'group', restriction_value: 'ops' },
            member,
          )
        ).status,
        403,
      );
      const r = await s.api(
        'POST',
        `/api/v2/context/${ctx.body.id}/restrictions`,
        { restriction_type: 'group', restriction_value: 'ops' },
        orgAdmin,
      );
      t.is(r.status, 201);
      t.like(r.body, { restriction_type: 'group', restriction_value: 'ops', context_id: ctx.body.id });
      // Now members outside the group may not change its variables either.
      t.is(
        (await s.api('PUT', `/api/v2/context/${ctx.body.id}/environment-variable/X`, { value: 'y' }, member)).status,
        403,
      );
      t.is(
        (await s.api('PUT', `/api/v2/context/${ctx.body.id}/environment-variable/X`, { value: 'y' }, opsMember)).status,
        200,
      );

      await s.addProject(`gh/${o}/direct`, configRepo(GATED));
      const refused = await s.api('POST', `/api/v2/project/gh/${o}/direct/pipeline`, {}, member);
      t.is(refused.status, 201);
      const [wf1] = await s.waitForPipeline(refused.body.id);
      t.is(wf1.status, 'unauthorized');
      t.is(wf1.jobs[0].status, 'unauthorized');
      const allowed = await s.api('POST', `/api/v2/project/gh/${o}/direct/pipeline`, {}, opsMember);
      const [wf2] = await s.waitForPipeline(allowed.body.id);
      t.is(wf2.status, 'success');
      const out = await s.stepOutput(`gh/${o}/direct`, wf2.jobs[0].job_number!);
      t.is(out[2].output, 'deploying with terces-yolped\n');

      // Approval gate: anyone may approve, but the restricted job runs only if the approver may use the context.
      await s.addProject(`gh/${o}/gated`, configRepo(APPROVAL));
      const run = async (approver: string) => {
        const p = await s.api('POST', `/api/v2/project/gh/${o}/gated/pipeline`, {}, member);
        const wf = await s.waitFor(async () => {
          const w = (await s.api('GET', `/api/v2/pipeline/${p.body.id}/workflow`)).body.items[0];
          return w?.status === 'on_hold' && w;
        }, 'on hold');
        const hold = (await s.api('GET', `/api/v2/workflow/${wf.id}/job`)).body.items.find(
          (j: { name: string }) => j.name === 'hold',
        );
        t.is(
          (await s.api('POST', `/api/v2/workflow/${wf.id}/approve/${hold.approval_request_id}`, undefined, approver))
            .status,
          202,
        );
        return (await s.waitForPipeline(p.body.id))[0];
      };
      const byMember = await run(member);
      t.is(byMember.status, 'unauthorized');
      t.is(byMember.jobs.find((j) => j.name === 'deploy')?.status, 'unauthorized');
      const byOps = await run(opsMember);
      t.is(byOps.status, 'success');
      t.is(byOps.jobs.find((j) => j.name === 'deploy')?.status, 'success');
      t.deepEqual(gh.unexpected, []);
    },
  );
}
