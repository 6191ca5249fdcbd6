import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ExecutorAgent } from '../../runtime/src/executor/agent.js';
import { DockerDriver } from '../../runtime/src/executor/docker.js';
import type { JobDriver } from '../../runtime/src/executor/driver.js';
import { LocalDriver } from '../../runtime/src/executor/local.js';
import { bwrapWorks } from '../../runtime/src/executor/sandbox.js';
import { wrapperScript } from '../../runtime/src/executor/shell.js';
import type { ClaimedJob } from '../../runtime/src/protocol/executor.js';
import { FakeDriver } from '../helpers/fake-driver.js';
import { configRepo } from '../helpers/git.js';
import { type Podman, startPodman, TEST_IMAGE } from '../helpers/podman.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A job as an executor receives it, enough for a driver. */
const job = (image: string): ClaimedJob => ({
  id: `contract-${Math.random().toString(36).slice(2, 10)}`,
  token: 't',
  number: 1,
  name: 'contract',
  attempt: 1,
  web_url: 'http://x',
  project: { slug: 'gh/x/y', org: 'x', repo: 'y', repo_url: '/nonexistent' },
  pipeline: { id: 'p', number: 1, branch: 'main', revision: 'abc', actor: 'a' },
  workflow: { id: 'w', name: 'w' },
  plan: {
    executor: { type: 'docker', images: [{ image }], resource_class: 'small' },
    environment: {},
    working_directory: '~/project',
    parallelism: 1,
    steps: [],
  },
  environment: {},
  heartbeat_seconds: 3,
});

let podman: Podman | string;
const work = mkdtempSync(join(tmpdir(), 'rh-contract-'));
test.before(async () => {
  podman = await startPodman();
});
test.after.always(async () => {
  if (typeof podman !== 'string') await podman?.close();
  rmSync(work, { recursive: true, force: true });
});

/**
 * The lifecycle contract of driver.ts, checked the same way on every driver: set up, start a step,
 * stream both outputs, wait for the exit code, time out a silent step, copy files out, run a
 * background step, tear down without leftovers.
 */
const drivers: [string, () => Promise<JobDriver | string> | JobDriver | string][] = [
  ['fake (test double)', () => new FakeDriver()],
  [
    'local (bubblewrap)',
    () => (bwrapWorks() ? new LocalDriver('bwrap', join(work, 'local')) : 'bubblewrap is not available'),
  ],
  [
    'docker (Podman)',
    () =>
      typeof podman === 'string'
        ? podman
        : DockerDriver.create({ host: podman.socket, network: 'none', workDir: join(work, 'docker') }),
  ],
];

for (const [name, make] of drivers) {
  test.serial(
    `driver contract, ${name}: set up → step → stream → wait → timeout → pull → background → tear down`,
    async (t) => {
      const driver = await make();
      if (typeof driver === 'string') {
        t.log(`SKIPPED: ${driver}`);
        t.pass();
        return;
      }
      const said: string[] = [];
      const env = await driver.setUp(job(TEST_IMAGE), 0, (s) => said.push(s));
      try {
        const cwd = env.resolve('~/project');
        t.true(cwd.startsWith(env.home));
        const run = async (idx: number, script: string, timeout = 60) => {
          const file = `${env.tmp}/s-${idx}`;
          writeFileSync(env.hostPath(file), script);
          const wrapper = `${env.tmp}/w-${idx}`;
          writeFileSync(
            env.hostPath(wrapper),
            wrapperScript(cwd, { ...env.baseEnv, GREETING: 'hi' }, ['/bin/sh'], file),
          );
          const out: string[] = [];
          const r = await env.shell.run(idx, wrapper, timeout, (s, d) => out.push(`${s}:${d}`));
          return { ...r, out: out.join('') };
        };
        const a = await run(1, 'echo "$GREETING from $(pwd)"; echo oops >&2; echo made > made.txt; exit 3');
        t.is(a.code, 3);
        t.false(a.timedOut);
        t.true(a.out.includes(`out:hi from ${cwd}\n`), a.out);
        t.true(a.out.includes('err:oops\n'), a.out);
        const started = Date.now();
        const b = await run(2, 'echo start; sleep 30; echo never', 1);
        t.true(b.timedOut);
        t.true(Date.now() - started < 10000);
        const c = await run(3, 'cat made.txt');
        t.is(c.code, 0, 'the shell keeps working after a timeout');
        const pulled = await env.pull(`${cwd}/made.txt`);
        t.truthy(pulled);
        t.is(readFileSync(pulled!, 'utf8'), 'made\n');
        t.is(await env.pull(`${cwd}/absent`), undefined);
        const bgOut: string[] = [];
        const bg = env.background(['/bin/sh', '-c', 'echo from background; exit 4'], cwd, env.baseEnv, (_s, d) =>
          bgOut.push(d),
        );
        t.is(await bg.done, 4);
        t.regex(bgOut.join(''), /from background/);
      } finally {
        await env.tearDown();
      }
      if (driver instanceof DockerDriver && typeof podman !== 'string') {
        const left = await podman.docker.listContainers({
          all: true,
          filters: { label: [`io.roundhouse.workdir=${join(work, 'docker')}`] },
        });
        t.deepEqual(left, []);
      }
      // Nothing of the node remains in the driver's work directory.
      const dir =
        driver instanceof LocalDriver
          ? join(work, 'local')
          : driver instanceof DockerDriver
            ? join(work, 'docker')
            : (driver as FakeDriver).root;
      t.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
      await driver.close();
    },
  );
}

let server: TestServer;
test.serial(
  'the executor with the test double: every node is set up and torn down before the job is reported; a failed set up is an infrastructure failure',
  async (t) => {
    server = await startTestServer({ ROUNDHOUSE_EXECUTOR_SLOTS: '0', ROUNDHOUSE_EXECUTOR_TOKEN: 'contract-token' });
    t.teardown(() => server.close());
    const fake = new FakeDriver();
    const agent = new ExecutorAgent({
      server: server.url,
      token: 'contract-token',
      id: 'contract',
      sandbox: 'none',
      workDir: join(work, 'agent'),
      docker: fake,
      waitSeconds: 1,
    });
    agent.start();
    t.teardown(() => agent.stop());
    await server.addProject(
      'gh/fake/app',
      configRepo(`version: 2.1
jobs:
  two:
    docker: [{image: anything}]
    parallelism: 2
    steps: [{run: echo "node $CIRCLE_NODE_INDEX"}]
workflows:
  w: {jobs: [two]}
`),
    );
    const p = await server.trigger('gh/fake/app');
    const [wf] = await server.waitForPipeline(p.id);
    t.is(wf.status, 'success');
    const j = wf.jobs[0];
    t.deepEqual(fake.calls.map((c) => `${c.call}:${c.node}`).sort(), [
      'setUp:0',
      'setUp:1',
      'tearDown:0',
      'tearDown:1',
    ]);
    const row = (await server.store.job(j.id))!;
    for (const c of fake.calls.filter((x) => x.call === 'tearDown')) t.true(c.at <= Date.parse(row.stopped_at!));
    t.regex(
      (await server.stepOutput('gh/fake/app', j.job_number!, 1)).map((s) => s.output).join(''),
      /fake driver: no isolation[\s\S]*node 1/,
    );

    fake.failSetUp = 'the engine is on fire';
    const q = await server.trigger('gh/fake/app');
    const [wf2] = await server.waitForPipeline(q.id);
    t.is(wf2.jobs[0].status, 'infrastructure_fail');
    t.regex(
      (await server.stepOutput('gh/fake/app', wf2.jobs[0].job_number!)).map((s) => s.output).join(''),
      /Roundhouse executor error: the engine is on fire/,
    );
    await fake.close();
  },
);
