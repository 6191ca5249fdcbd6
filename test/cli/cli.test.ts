import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { BIN, freePort, spawnServer } from '../server/process.js';

const exec = promisify(execFile);
let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await exec(process.execPath, [BIN, ...args], {
      env: { ...process.env, ROUNDHOUSE_HOST: '', ROUNDHOUSE_TOKEN: '', ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('project add with --host/--token, then list and trigger; the pipeline runs', async (t) => {
  const repo = configRepo('version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [{run: echo cli}]\n');
  const add = await cli(['project', 'add', 'gh/cli/app', '--repo', repo, '--host', server.url, '--token', ADMIN_TOKEN]);
  t.is(add.code, 0, add.stderr);
  t.like(JSON.parse(add.stdout), { slug: 'gh/cli/app', repo_url: repo, default_branch: 'main' });
  // ROUNDHOUSE_HOST / ROUNDHOUSE_TOKEN are the defaults.
  const env = { ROUNDHOUSE_HOST: server.url, ROUNDHOUSE_TOKEN: ADMIN_TOKEN };
  const list = await cli(['project', 'list'], env);
  t.true(JSON.parse(list.stdout).items.some((p: { slug: string }) => p.slug === 'gh/cli/app'));
  const trig = await cli(['pipeline', 'trigger', 'gh/cli/app', '--branch', 'main'], env);
  t.is(trig.code, 0, trig.stderr);
  const p = JSON.parse(trig.stdout);
  t.is(p.number, 1);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
});

test('CLI errors are one clear line and exit code 2', async (t) => {
  const noToken = await cli(['project', 'list', '--host', server.url]);
  t.is(noToken.code, 2);
  t.regex(noToken.stderr, /no API token: pass --token or set ROUNDHOUSE_TOKEN/);
  const bad = await cli(['project', 'list', '--host', server.url, '--token', 'wrong-token']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /HTTP 401\): You must log in first\./);
  const down = await cli(['project', 'list', '--host', 'http://127.0.0.1:1', '--token', 'x']);
  t.is(down.code, 2);
  t.regex(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
  const dup = await cli([
    'project',
    'add',
    'gh/cli/nope',
    '--repo',
    '/no/such/repo',
    '--host',
    server.url,
    '--token',
    ADMIN_TOKEN,
  ]);
  t.is(dup.code, 2);
  t.regex(dup.stderr, /Cannot read git repository \/no\/such\/repo/);
  const unknown = await cli(['frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command: frobnicate/);
  const flag = await cli(['project', 'list', '--nope']);
  t.is(flag.code, 2);
  t.regex(flag.stderr, /Unknown option '--nope'/);
});

test('roundhouse server: prints URL and admin token, runs the demo pipeline to success, keeps the token across restarts', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rh-cli-server-'));
  const port = await freePort();
  const first = await spawnServer({ ROUNDHOUSE_DATA_DIR: dataDir, ROUNDHOUSE_DEMO: '1' }, port);
  t.teardown(() => first.child.kill('SIGKILL'));
  const printed = async (re: RegExp, out: () => string) => {
    for (let i = 0; i < 200 && !re.test(out()); i++) await new Promise((r) => setTimeout(r, 50));
    return re.exec(out());
  };
  const token = (await printed(/admin token: (rh_[0-9a-f]+)/, first.stdout))?.[1];
  t.truthy(token, first.stdout());
  t.regex(first.stdout(), new RegExp(`Roundhouse is running at http://127\\.0\\.0\\.1:${port}`));
  const api = async (path: string) =>
    (await fetch(`${first.url}${path}`, { headers: { 'circle-token': token! } })).json();
  const end = Date.now() + 30000;
  let status = '';
  while (Date.now() < end) {
    const p = await api('/api/v2/project/gh/roundhouse/demo/pipeline/1');
    const wf = p.id ? (await api(`/api/v2/pipeline/${p.id}/workflow`)).items[0] : undefined;
    status = wf?.status ?? '';
    if (status && status !== 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(status, 'success');
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);
  const second = await spawnServer({ ROUNDHOUSE_DATA_DIR: dataDir, ROUNDHOUSE_DEMO: '1' }, port);
  t.teardown(() => second.child.kill('SIGKILL'));
  t.truthy(await printed(new RegExp(`admin token: ${token}`), second.stdout));
  t.notRegex(second.stdout(), /demo pipeline started/, 'the demo runs once, at first start');
  const bad = await exec(process.execPath, [BIN, 'server'], { env: { ...process.env, ROUNDHOUSE_PORT: 'abc' } }).catch(
    (e) => e,
  );
  t.is(bad.code, 2);
  t.regex(bad.stderr, /Invalid server setting ROUNDHOUSE_PORT/);
  second.child.kill('SIGTERM');
  await second.exited;
});
