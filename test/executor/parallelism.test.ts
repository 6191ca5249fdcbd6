import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

const CONFIG = `version: 2.1
jobs:
  test:
    docker: [{image: x}]
    parallelism: 3
    steps:
      - checkout
      - run: echo "node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL"
      - run: |
          mkdir -p results out
          circleci tests glob "spec/*.txt" | circleci tests split > mine.txt
          echo "mine: $(tr '\\n' ' ' < mine.txt)"
          n=$CIRCLE_NODE_INDEX
          printf '<testsuite name="s%s"><testcase classname="c" name="t%s" file="f%s" time="0.5"/></testsuite>' $n $n $n > results/r.xml
          echo "from node $n" > out/node-$n.txt
      - store_test_results: {path: results}
      - store_artifacts: {path: out, destination: report}
      - persist_to_workspace: {root: out, paths: ["*.txt"]}
  collect:
    docker: [{image: x}]
    steps:
      - attach_workspace: {at: ws}
      - run: cat ws/node-0.txt ws/node-1.txt ws/node-2.txt && echo "total $CIRCLE_NODE_TOTAL"
workflows:
  w:
    jobs: [test, {collect: {requires: [test]}}]
`;

test('parallelism: N sandboxes with their node index split the tests; results, artifacts and workspace layers of every node arrive', async (t) => {
  const specs = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`spec/s${i}.txt`, `${i}\n`]));
  await server.addProject('gh/par/app', configRepo(CONFIG, specs));
  const p = await server.trigger('gh/par/app');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success', JSON.stringify(wf.jobs));
  const test_ = wf.jobs.find((j) => j.name === 'test')!;
  const collect = wf.jobs.find((j) => j.name === 'collect')!;

  // API v2: one parallel run per node.
  const job = (await server.api('GET', `/api/v2/project/gh/par/app/job/${test_.job_number}`)).body;
  t.is(job.parallelism, 3);
  t.deepEqual(job.parallel_runs, [
    { index: 0, status: 'success' },
    { index: 1, status: 'success' },
    { index: 2, status: 'success' },
  ]);

  // API v1.1: every step has one action per node; each node saw its own index and a disjoint share.
  const shares: string[][] = [];
  for (const node of [0, 1, 2]) {
    const out = (await server.stepOutput('gh/par/app', test_.job_number!, node)).map((s) => s.output).join('');
    t.regex(out, new RegExp(`node ${node} of 3`));
    t.regex(out, new RegExp(`parallel node ${node} of 3`));
    shares.push(/mine: (.*)/.exec(out)![1].trim().split(' ').filter(Boolean));
  }
  t.deepEqual(shares.flat().sort(), Object.keys(specs).sort());
  t.true(
    shares.every((s) => s.length === 2),
    JSON.stringify(shares),
  );

  const tests = (await server.api('GET', `/api/v2/project/gh/par/app/${test_.job_number}/tests`)).body.items;
  t.deepEqual(tests.map((c: { name: string }) => c.name).sort(), ['t0', 't1', 't2']);
  const arts = (await server.api('GET', `/api/v2/project/gh/par/app/${test_.job_number}/artifacts`)).body.items;
  t.deepEqual(arts.map((a: { path: string; node_index: number }) => `${a.node_index}:${a.path}`).sort(), [
    '0:report/node-0.txt',
    '1:report/node-1.txt',
    '2:report/node-2.txt',
  ]);
  const url = arts.find((a: { node_index: number }) => a.node_index === 2).url;
  const body = await (await fetch(url, { headers: { 'circle-token': ADMIN_TOKEN } })).text();
  t.is(body, 'from node 2\n');

  // Finished steps' output lives in object storage, one object per step and node, not in the database.
  const stored = readdirSync(join(server.dataDir, 'objects', 'output', test_.id));
  t.deepEqual(stored.sort(), ['0', '1', '2']);
  t.true(readdirSync(join(server.dataDir, 'objects', 'output', test_.id, '1')).includes('2.jsonl'));
  t.deepEqual(await server.store.output(test_.id), []);

  // Downstream, the workspace holds every node's layer.
  const out = (await server.stepOutput('gh/par/app', collect.job_number!)).map((s) => s.output).join('');
  t.regex(out, /from node 0\nfrom node 1\nfrom node 2\ntotal 1/);
});

test('parallelism: one failing node fails the job and is the failed run; the others still finish', async (t) => {
  await server.addProject(
    'gh/par/fail',
    configRepo(`version: 2.1
jobs:
  t:
    docker: [{image: x}]
    parallelism: 2
    steps:
      - run: '[ "$CIRCLE_NODE_INDEX" = 0 ] || { echo node one fails; exit 3; }'
      - run: {name: always, command: echo "cleanup $CIRCLE_NODE_INDEX", when: always}
workflows:
  w: {jobs: [t]}
`),
  );
  const p = await server.trigger('gh/par/fail');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'failed');
  const n = wf.jobs[0].job_number!;
  const job = (await server.api('GET', `/api/v2/project/gh/par/fail/job/${n}`)).body;
  t.is(job.status, 'failed');
  t.deepEqual(job.parallel_runs, [
    { index: 0, status: 'success' },
    { index: 1, status: 'failed' },
  ]);
  const one = (await server.stepOutput('gh/par/fail', n, 1)).map((s) => s.output).join('');
  t.regex(one, /node one fails[\s\S]*Exited with code 3[\s\S]*cleanup 1/);
  const zero = (await server.stepOutput('gh/par/fail', n, 0)).map((s) => s.output).join('');
  t.regex(zero, /cleanup 0/);
});
