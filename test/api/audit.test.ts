// The audit log: each event the operations guide lists, emitted by the code path that does the
// action (also when it fails), with exactly the guide's fields, as CSV from the admin API and the CLI.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { AUDIT_ACTIONS } from '../../runtime/src/shared/audit.js';
import { type FakeGitHub, githubEnv, oauthLogin, startFakeGitHub } from '../helpers/fake-github.js';
import { configRepo } from '../helpers/git.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { BIN } from '../server/process.js';

const exec = promisify(execFile);
let server: TestServer;
let gh: FakeGitHub;
test.before(async () => {
  gh = await startFakeGitHub();
  server = await startTestServer(githubEnv(gh));
});
test.after.always(async () => {
  await server?.close();
  await gh?.close();
});

/** RFC 4180 CSV → rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

const FIELDS = [
  'action',
  'actor',
  'target',
  'payload',
  'occurred_at',
  'metadata',
  'id',
  'version',
  'scope',
  'success',
  'request',
];
const SECRET = 'audit-secret-value-42';

async function csv(query = '') {
  const res = await fetch(`${server.url}/api/admin/audit-log${query}`, { headers: { 'circle-token': ADMIN_TOKEN } });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}
const events = async () => {
  const [header, ...rows] = parseCsv((await csv()).text);
  return { header, rows: rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]]))) };
};

test.serial(
  'every audited action lands in the CSV with exactly the guide’s fields and formats, failures with success=false',
  async (t) => {
    const started = new Date().toISOString();
    // user.create + user.logged_in (OAuth), user.logged_out
    const s = await oauthLogin(server.url, gh.codeFor({ id: 1, login: 'auditor', orgs: [{ org: 'acme' }] }));
    await fetch(`${server.url}/auth/logout`, {
      method: 'POST',
      headers: { cookie: s.cookie!, 'x-csrf-token': s.csrf! },
    });
    await server.api('POST', '/api/admin/users', { login: 'approved-user' });
    // contexts
    const ctx = (await server.api('POST', '/api/v2/context', { name: 'audited', owner: { slug: 'gh/acme' } })).body;
    t.is((await server.api('POST', '/api/v2/context', { name: 'audited', owner: { slug: 'gh/acme' } })).status, 409);
    await server.api('PUT', `/api/v2/context/${ctx.id}/environment-variable/TOKEN`, { value: SECRET });
    await server.api('DELETE', `/api/v2/context/${ctx.id}/environment-variable/TOKEN`);
    t.is((await server.api('DELETE', `/api/v2/context/${ctx.id}/environment-variable/NOPE`)).status, 404);
    // project env vars and settings, and a workflow with an approval
    await server.addProject(
      'gh/acme/audited',
      configRepo(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: echo hi}]}
workflows:
  w:
    jobs:
      - hold: {type: approval}
      - build: {requires: [hold], context: audited}
`),
    );
    await server.api('POST', '/api/v2/project/gh/acme/audited/envvar', { name: 'PVAR', value: SECRET });
    t.is(
      (await server.api('POST', '/api/v2/project/gh/acme/audited/envvar', { name: '1bad', value: SECRET })).status,
      400,
    );
    await server.api('DELETE', '/api/v2/project/gh/acme/audited/envvar/PVAR');
    t.is(
      (
        await server.api('PATCH', '/api/v2/project/gh/acme/audited/settings', {
          advanced: { forks_receive_secret_env_vars: true },
        })
      ).status,
      200,
    );
    const p = await server.trigger('gh/acme/audited');
    const wf = await server.waitFor(async () => {
      const w = (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0];
      return w?.status === 'on_hold' && w;
    }, 'on hold');
    const hold = (await server.api('GET', `/api/v2/workflow/${wf.id}/job`)).body.items.find(
      (j: { name: string }) => j.name === 'hold',
    );
    t.is((await server.api('POST', `/api/v2/workflow/${wf.id}/approve/${hold.approval_request_id}`)).status, 202);
    t.is((await server.api('POST', `/api/v2/workflow/${wf.id}/approve/${hold.approval_request_id}`)).status, 409);
    const [done] = await server.waitForPipeline(p.id);
    t.is(done.status, 'success');
    await server.api('DELETE', `/api/v2/context/${ctx.id}`);
    // Job events are written just after the transitions commit.
    await server.waitFor(
      async () => (await events()).rows.some((r) => r.action === 'workflow.job.finish'),
      'finish event',
    );

    const res = await csv();
    t.is(res.status, 200);
    t.regex(res.type ?? '', /^text\/csv/);
    const { header, rows } = await events();
    t.deepEqual(header, FIELDS);
    t.false(res.text.includes(SECRET), 'secret values never reach the audit log');
    const seen = new Set(rows.map((r) => r.action));
    t.deepEqual(
      [...AUDIT_ACTIONS].filter((a) => !seen.has(a)),
      [],
      'every listed event was emitted',
    );
    const ids = new Set<string>();
    for (const r of rows) {
      t.true((AUDIT_ACTIONS as readonly string[]).includes(r.action), r.action);
      t.regex(r.action, /^[a-z_]+(\.[a-z_]+)+$/);
      for (const f of ['actor', 'target', 'scope']) {
        const v = JSON.parse(r[f]);
        t.is(typeof v.id, 'string', `${r.action} ${f}.id`);
        t.true(v.id.length > 0, `${r.action} ${f}.id`);
        t.is(typeof v.type, 'string', `${r.action} ${f}.type`);
      }
      t.is(typeof JSON.parse(r.payload), 'object');
      const meta = JSON.parse(r.metadata);
      t.true(Object.values(meta).every((v) => typeof v === 'string'));
      t.regex(r.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$/);
      t.true(r.occurred_at >= started.slice(0, 19));
      t.regex(r.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      t.false(ids.has(r.id));
      ids.add(r.id);
      t.is(r.version, '1');
      t.true(r.success === 'true' || r.success === 'false');
      if (r.request) t.regex(JSON.parse(r.request).id, /^[0-9a-f-]{36}$/);
    }
    const one = (action: string, success = 'true') => rows.find((r) => r.action === action && r.success === success);
    t.like(JSON.parse(one('context.create')!.target), { type: 'context', name: 'audited', id: ctx.id });
    t.like(JSON.parse(one('context.create')!.scope), { type: 'organization', name: 'acme' });
    t.like(JSON.parse(one('context.create')!.actor), { type: 'user', name: 'admin' });
    t.truthy(one('context.create', 'false'), 'the refused duplicate is recorded as a failure');
    t.truthy(one('context.env_var.delete', 'false'));
    t.truthy(one('project.env_var.create', 'false'));
    t.truthy(one('workflow.job.approve', 'false'), 'approving twice is recorded as a failure');
    t.like(JSON.parse(one('context.env_var.store')!.payload), { name: 'TOKEN' });
    t.like(JSON.parse(one('workflow.job.start')!.target), { type: 'job', name: 'build' });
    t.like(JSON.parse(one('workflow.job.finish')!.payload), { job_status: 'success', job_name: 'build' });
    t.like(JSON.parse(one('user.logged_in')!.actor), { type: 'user', name: 'auditor' });
    t.is(one('workflow.job.start')!.request, '', 'not caused by an external request');
    // Each event is also an object in object storage.
    const dir = join(server.dataDir, 'objects', 'audit');
    const stored = readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)));
    t.is(stored.length, rows.length);
    const sample = JSON.parse(readFileSync(stored[0], 'utf8'));
    t.deepEqual(Object.keys(sample).sort(), [...FIELDS].sort());
  },
);

test.serial('time range filter and the CLI: roundhouse admin audit-log --from --to prints the CSV', async (t) => {
  const all = (await events()).rows;
  t.true(all.length > 10);
  const mid = all[Math.floor(all.length / 2)].occurred_at;
  const later = parseCsv((await csv(`?from=${encodeURIComponent(mid)}`)).text).slice(1);
  t.true(later.length > 0 && later.length < all.length);
  t.true(later.every((r) => r[4] >= mid.slice(0, 23)));
  t.is(parseCsv((await csv('?from=2999-01-01T00:00:00Z')).text).length, 1, 'only the header');
  const bad = await csv('?from=yesterday');
  t.is(bad.status, 400);
  t.regex(JSON.parse(bad.text).message, /ISO-8601/);

  const r = await exec(process.execPath, [
    BIN,
    'admin',
    'audit-log',
    '--from',
    '2000-01-01T00:00:00Z',
    '--to',
    '2999-01-01T00:00:00Z',
    '--host',
    server.url,
    '--token',
    ADMIN_TOKEN,
  ]);
  const rows = parseCsv(r.stdout);
  t.deepEqual(rows[0], FIELDS);
  t.true(rows.length - 1 >= all.length);
  const none = await exec(process.execPath, [
    BIN,
    'admin',
    'audit-log',
    '--to',
    '2000-01-01T00:00:00Z',
    '--host',
    server.url,
    '--token',
    ADMIN_TOKEN,
  ]);
  t.is(none.stdout, `${FIELDS.join(',')}\r\n`);
});

test.serial('canceling a running job records its workflow.job.finish with success false', async (t) => {
  await server.addProject(
    'gh/audit/cancel',
    configRepo(`version: 2.1
jobs:
  long:
    docker: [{image: x}]
    steps: [{run: echo started; sleep 60}]
workflows:
  w: {jobs: [long]}
`),
  );
  const p = await server.trigger('gh/audit/cancel');
  const job = await server.waitFor(async () => {
    const w = (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0];
    const j = w ? (await server.api('GET', `/api/v2/workflow/${w.id}/job`)).body.items[0] : undefined;
    return j?.status === 'running' && j;
  }, 'the job to run');
  t.is((await server.api('POST', `/api/v2/project/gh/audit/cancel/job/${job.job_number}/cancel`)).status, 202);
  const finish = await server.waitFor(async () => {
    const rows = (await events()).rows.filter(
      (r) => r.action === 'workflow.job.finish' && JSON.parse(r.target).id === job.id,
    );
    return rows[0];
  }, 'the finish event');
  t.is(finish.success, 'false');
  t.like(JSON.parse(finish.payload), { job_status: 'canceled' });
});
