import test from 'ava';
import { artifactType } from '../../runtime/src/api/artifact-routes.js';
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

test('artifacts land in object storage, are listed by the API and served with the safe-type rules; JUnit results are parsed', async (t) => {
  await server.addProject(
    'gh/blobs/artifacts',
    configRepo(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - run: |
          mkdir -p out/reports results
          echo "plain log" > out/build.log
          echo "<script>alert(1)</script>" > out/reports/index.html
          printf '\\x00\\x01binary' > out/blob.bin
          cat > results/junit.xml <<'XML'
          <testsuites><testsuite name="suite" file="spec.js">
            <testcase classname="math" name="adds" time="0.25"/>
            <testcase classname="math" name="divides" time="0.5"><failure message="expected 2 got 3">trace</failure></testcase>
            <testcase classname="math" name="later"><skipped/></testcase>
          </testsuite></testsuites>
          XML
      - store_artifacts: {path: out, destination: build-output}
      - store_artifacts: {path: out/build.log}
      - store_test_results: {path: results}
workflows:
  w: {jobs: [build]}
`),
  );
  const p = await server.trigger('gh/blobs/artifacts');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
  const n = wf.jobs[0].job_number!;
  const list = (await server.api('GET', `/api/v2/project/gh/blobs/artifacts/${n}/artifacts`)).body;
  t.deepEqual(
    list.items.map((i: { path: string; node_index: number }) => [i.path, i.node_index]),
    [
      ['build-output/blob.bin', 0],
      ['build-output/build.log', 0],
      ['build-output/reports/index.html', 0],
      ['out/build.log', 0],
    ],
  );
  const get = (path: string) => {
    const url = list.items.find((i: { path: string }) => i.path === path).url;
    return fetch(url, { headers: { 'circle-token': 'test-admin-token-0123456789' } });
  };
  const log = await get('build-output/build.log');
  t.is(log.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.is(await log.text(), 'plain log\n');
  const html = await get('build-output/reports/index.html');
  t.is(html.headers.get('content-type'), 'text/plain; charset=utf-8', 'html is shown as text, never rendered');
  t.is(html.headers.get('x-content-type-options'), 'nosniff');
  const bin = await get('build-output/blob.bin');
  t.is(bin.headers.get('content-type'), 'application/octet-stream');
  t.regex(bin.headers.get('content-disposition') ?? '', /attachment; filename="blob\.bin"/);
  t.is((await fetch(list.items[0].url)).status, 401, 'artifacts need a token');
  // API v1.1, as older scripts read them: the build's artifacts, the latest build's, and its tests.
  const v11 = (await server.api('GET', `/api/v1.1/project/github/blobs/artifacts/${n}/artifacts`)).body;
  t.deepEqual(
    v11.map((a: { path: string; pretty_path: string; node_index: number }) => [a.path, a.pretty_path, a.node_index]),
    list.items.map((i: { path: string }) => [i.path, i.path, 0]),
  );
  const latest = await server.api(
    'GET',
    '/api/v1.1/project/github/blobs/artifacts/latest/artifacts?branch=main&filter=successful',
  );
  t.deepEqual(latest.body, v11);
  t.is((await server.api('GET', '/api/v1.1/project/github/blobs/artifacts/latest/artifacts?branch=nope')).status, 404);
  t.is((await server.api('GET', '/api/v1.1/project/github/blobs/artifacts/latest/artifacts?filter=odd')).status, 400);
  const v11tests = (await server.api('GET', `/api/v1.1/project/github/blobs/artifacts/${n}/tests`)).body.tests;
  t.deepEqual(v11tests.map((c: { name: string; result: string }) => `${c.name}:${c.result}`).sort(), [
    'adds:success',
    'divides:failure',
    'later:skipped',
  ]);
  const tests = (await server.api('GET', `/api/v2/project/gh/blobs/artifacts/${n}/tests`)).body;
  t.deepEqual(
    tests.items.map(
      (c: {
        name: string;
        result: string;
        classname: string;
        run_time: number;
        message: string | null;
        file: string;
      }) => [c.classname, c.name, c.result, c.run_time, c.message, c.file],
    ),
    [
      ['math', 'adds', 'success', 0.25, null, 'spec.js'],
      ['math', 'divides', 'failure', 0.5, 'expected 2 got 3', 'spec.js'],
      ['math', 'later', 'skipped', 0, null, 'spec.js'],
    ],
  );
  t.is(tests.items[0].source, 'junit.xml');
});

test('the circleci command in jobs: tests glob and split (by name, filesize, timings), env subst, step halt', async (t) => {
  await server.addProject(
    'gh/blobs/agent',
    configRepo(
      `version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - checkout
      - run: circleci tests glob "spec/**/*_spec.rb" "lib/*.rb"
      - run: circleci tests glob "spec/**/*_spec.rb" | circleci tests split --split-by=filesize
      - run: CIRCLE_NODE_TOTAL=2 CIRCLE_NODE_INDEX=1 circleci tests split a b c d
      - run: CIRCLE_NODE_TOTAL=2 CIRCLE_NODE_INDEX=0 circleci tests split --split-by=timings --time-default=100s --show-counts x y z
      - run: CIRCLE_NODE_TOTAL=2 CIRCLE_NODE_INDEX=0 circleci tests split --split-by=timings --timings-type=classname slow fast1 fast2
      - run: echo 'branch=$CIRCLE_BRANCH job=\${CIRCLE_JOB}' | circleci env subst
      - store_test_results: {path: results}
      - run: circleci step halt
      - run: echo never
workflows:
  w: {jobs: [build]}
`,
      {
        'spec/models/user_spec.rb': 'x'.repeat(50),
        'spec/models/deep/post_spec.rb': 'x',
        'spec/helper.rb': '',
        'lib/a.rb': '',
        'results/junit.xml':
          '<testsuite name="s"><testcase classname="slow" name="a" time="10"/><testcase classname="fast1" name="b" time="1"/><testcase classname="fast2" name="c" time="1"/></testsuite>',
      },
    ),
  );
  const run = async () => {
    const p = await server.trigger('gh/blobs/agent');
    const [wf] = await server.waitForPipeline(p.id);
    t.is(wf.status, 'success');
    return server.stepOutput('gh/blobs/agent', wf.jobs[0].job_number!);
  };
  const first = await run();
  const out = first.map((s) => s.output);
  t.is(out[3], 'lib/a.rb\nspec/models/deep/post_spec.rb\nspec/models/user_spec.rb\n');
  t.is(out[4], 'spec/models/deep/post_spec.rb spec/models/user_spec.rb\n');
  t.is(out[5], 'b d\n');
  t.regex(out[6], /Total items: 3, this node: 2 \(node 0 of 2\)/);
  t.regex(out[6], /^x z$/m);
  t.regex(out[7], /No timing found[\s\S]*fast1/);
  t.is(out[8], 'branch=main job=build\n');
  t.regex(out[10], /This job will stop after this step[\s\S]*Halted by `circleci step halt`/);
  t.false(first.some((s) => s.name === 'echo never'));
  // The next run splits by the timings the first run's test results recorded: `slow` alone on node 0.
  const second = await run();
  t.is(second[7].output, 'slow\n');
});

test('artifact types: markup and scripts as text unless the operator serves unsafe types (ROUNDHOUSE_ARTIFACTS_SERVE_UNSAFE)', async (t) => {
  t.deepEqual(artifactType('r/index.html'), { type: 'text/plain; charset=utf-8', download: false });
  t.deepEqual(artifactType('r/app.js'), { type: 'text/plain; charset=utf-8', download: false });
  t.deepEqual(artifactType('r/index.html', true), { type: 'text/html; charset=utf-8', download: false });
  t.deepEqual(artifactType('r/style.css', true), { type: 'text/css; charset=utf-8', download: false });
  t.deepEqual(artifactType('r/a.png', true), { type: 'image/png', download: false });
  t.deepEqual(artifactType('r/a.exe', true), { type: 'application/octet-stream', download: true });
  const unsafe = await startTestServer({ ROUNDHOUSE_ARTIFACTS_SERVE_UNSAFE: 'true' });
  t.teardown(() => unsafe.close());
  await unsafe.addProject(
    'gh/unsafe/app',
    configRepo(`version: 2.1
jobs:
  b:
    docker: [{image: x}]
    steps:
      - run: mkdir -p out && echo "<h1>report</h1>" > out/index.html
      - store_artifacts: {path: out}
workflows:
  w: {jobs: [b]}
`),
  );
  const p = await unsafe.trigger('gh/unsafe/app');
  const [wf] = await unsafe.waitForPipeline(p.id);
  const items = (await unsafe.api('GET', `/api/v2/project/gh/unsafe/app/${wf.jobs[0].job_number}/artifacts`)).body
    .items;
  const res = await fetch(items[0].url, { headers: { 'circle-token': 'test-admin-token-0123456789' } });
  t.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
  t.is(res.headers.get('x-content-type-options'), 'nosniff');
});
