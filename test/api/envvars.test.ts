import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

const SECRET = 'hunter2-super-secret-value';

test('project environment variables: set, listed masked, injected into jobs, masked in output even when split, deleted', async (t) => {
  await server.addProject(
    'gh/env/app',
    configRepo(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    environment: {FROM_JOB: job-wins}
    steps:
      - run: echo "token=$DEPLOY_TOKEN short=$SHORT flag=$FLAG override=$FROM_JOB"
      - run: "printf 'split: hunter2-su'; sleep 0.3; printf 'per-secret-value done\\\\n'"
      - run: echo "$DEPLOY_TOKEN" | rev | rev
workflows:
  w: {jobs: [build]}
`),
  );
  const set = async (name: string, value: string) =>
    server.api('POST', '/api/v2/project/gh/env/app/envvar', { name, value });
  const created = await set('DEPLOY_TOKEN', SECRET);
  t.is(created.status, 201);
  t.deepEqual(created.body, { name: 'DEPLOY_TOKEN', value: 'xxxxalue' });
  await set('SHORT', 'abc');
  await set('FLAG', 'true');
  await set('FROM_JOB', 'project-loses');
  t.is((await set('1BAD', 'x')).status, 400);
  const list = (await server.api('GET', '/api/v2/project/gh/env/app/envvar')).body.items;
  t.deepEqual(
    list.map((v: { name: string }) => v.name),
    ['DEPLOY_TOKEN', 'FLAG', 'FROM_JOB', 'SHORT'],
  );
  t.false(JSON.stringify(list).includes(SECRET), 'values are never readable back');
  t.is((await server.api('GET', '/api/v2/project/gh/env/app/envvar/DEPLOY_TOKEN')).body.value, 'xxxxalue');
  // Encrypted at rest: the plain value is nowhere in the database file.
  t.false(readFileSync(join(server.dataDir, 'roundhouse.db')).includes(Buffer.from(SECRET)));

  const p = await server.trigger('gh/env/app');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
  const out = await server.stepOutput('gh/env/app', wf.jobs[0].job_number!);
  t.is(out[2].output, 'token=******** short=abc flag=true override=job-wins\n');
  t.is(out[3].output, 'split: ******** done\n');
  t.is(out[4].output, '********\n');
  t.false(JSON.stringify(out).includes(SECRET));

  t.is((await server.api('DELETE', '/api/v2/project/gh/env/app/envvar/DEPLOY_TOKEN')).status, 200);
  t.is((await server.api('GET', '/api/v2/project/gh/env/app/envvar/DEPLOY_TOKEN')).status, 404);
});
