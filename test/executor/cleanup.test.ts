import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

const processes = (pattern: string) =>
  spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
const jobDirs = () => readdirSync(join(server.dataDir, 'jobs')).filter((d) => !d.startsWith('slot-'));
const mounts = () =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(server.dataDir));

test.serial(
  'local driver: nothing of a job remains after it ends — daemonised processes, background steps, directories, mounts',
  async (t) => {
    await server.addProject(
      'gh/clean/done',
      configRepo(`version: 2.1
jobs:
  leaky:
    docker: [{image: x}]
    steps:
      - run: {command: sleep 7771, background: true}
      - run: (setsid nohup sleep 7772 >/dev/null 2>&1 &) ; mkdir -p /tmp/scratch ~/cache && echo left > /tmp/scratch/f && echo ok
workflows:
  w: {jobs: [leaky]}
`),
    );
    const p = await server.trigger('gh/clean/done');
    const [wf] = await server.waitForPipeline(p.id);
    t.is(wf.status, 'success');
    await server.waitFor(async () => processes('sleep 777[12]').length === 0, 'job processes to be gone', 5000);
    t.deepEqual(jobDirs(), []);
    t.deepEqual(mounts(), []);
  },
);

test.serial('local driver: cancel kills a running job within seconds and leaves nothing behind', async (t) => {
  await server.addProject(
    'gh/clean/cancel',
    configRepo(`version: 2.1
jobs:
  long:
    docker: [{image: x}]
    steps:
      - run: {command: sleep 7773, background: true}
      - run: echo started; sleep 7774
workflows:
  w: {jobs: [long]}
`),
  );
  const p = await server.trigger('gh/clean/cancel');
  const wfId = await server.waitFor(async () => {
    const w = (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0];
    return w && processes('sleep 7774').length > 0 && w.id;
  }, 'the job to be running');
  const started = Date.now();
  t.is((await server.api('POST', `/api/v2/workflow/${wfId}/cancel`)).status, 202);
  await server.waitFor(async () => processes('sleep 777[34]').length === 0, 'job processes to be killed', 10000);
  t.true(Date.now() - started < 10000);
  await server.waitFor(async () => jobDirs().length === 0, 'the job directory to be removed', 5000);
  t.deepEqual(mounts(), []);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'canceled');
});
