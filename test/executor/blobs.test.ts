import test from 'ava';
import { commit, configRepo } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - checkout
      - restore_cache:
          keys:
            - deps-{{ .Branch }}-{{ checksum "lock.txt" }}
            - deps-{{ .Branch }}-
      - run: |
          if [ -f deps/installed ]; then echo "deps from cache: $(cat deps/installed)"; else mkdir -p deps && cat lock.txt > deps/installed && echo "deps installed"; fi
      - save_cache:
          key: deps-{{ .Branch }}-{{ checksum "lock.txt" }}
          paths: [deps, missing-dir]
      - run: mkdir -p out/sub && echo "built by $CIRCLE_JOB" > out/sub/artifact.txt && echo extra > out/extra.log
      - persist_to_workspace:
          root: out
          paths: [sub, "*.log"]
  test:
    docker: [{image: x}]
    steps:
      - attach_workspace: {at: /tmp/ws}
      - run: cat /tmp/ws/sub/artifact.txt /tmp/ws/extra.log
  fresh:
    docker: [{image: x}]
    steps:
      - attach_workspace: {at: ws}
      - run: 'if [ -d ws ]; then echo has-ws; else echo no-ws; fi'
workflows:
  w:
    jobs: [build, {test: {requires: [build]}}, fresh]
`;

test('caches: restore by exact key or newest prefix, save once per key; workspaces flow downstream only', async (t) => {
  const repo = configRepo(CONFIG, { 'lock.txt': 'v1\n' });
  await server.addProject('gh/blobs/app', repo);
  const run = async () => {
    const p = await server.trigger('gh/blobs/app');
    const [wf] = await server.waitForPipeline(p.id);
    t.is(wf.status, 'success', JSON.stringify(wf.jobs));
    const byName = Object.fromEntries(wf.jobs.map((j) => [j.name, j]));
    return {
      build: await server.stepOutput('gh/blobs/app', byName.build.job_number!),
      test: await server.stepOutput('gh/blobs/app', byName.test.job_number!),
      fresh: await server.stepOutput('gh/blobs/app', byName.fresh.job_number!),
    };
  };
  const first = await run();
  const step = (steps: { name: string; output: string }[], name: string) => steps.find((s) => s.name === name)!.output;
  t.regex(step(first.build, 'Restoring cache'), /No cache is found for keys: deps-main-\S+, deps-main-/);
  t.regex(first.build.map((s) => s.output).join(''), /deps installed/);
  t.regex(
    step(first.build, 'Saving cache'),
    /Warning: could not find path .*missing-dir[\s\S]*Stored cache to deps-main-/,
  );
  t.regex(step(first.test, 'Attaching workspace'), /Attaching 1 workspace layer/);
  t.regex(first.test.map((s) => s.output).join(''), /built by build\nextra\n/);
  t.regex(first.fresh.map((s) => s.output).join(''), /No workspace was persisted upstream of this job[\s\S]*no-ws/);

  // Same lock file: exact key hit, and the key is not saved again.
  const second = await run();
  t.regex(step(second.build, 'Restoring cache'), /Found a cache at key deps-main-/);
  t.regex(second.build.map((s) => s.output).join(''), /deps from cache: v1/);
  t.regex(step(second.build, 'Saving cache'), /Skipping cache generation, cache already exists for key: deps-main-/);

  // A new lock file: the exact key misses, the prefix finds the newest cache.
  commit(repo, { 'lock.txt': 'v2\n' }, 'bump');
  const third = await run();
  t.regex(third.build.map((s) => s.output).join(''), /deps from cache: v1/);
  t.regex(step(third.build, 'Saving cache'), /Stored cache to deps-main-/);
});
