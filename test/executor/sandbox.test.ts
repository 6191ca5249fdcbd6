import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { bwrapWorks, chooseSandbox } from '../../runtime/src/executor/sandbox.js';
import { configRepo } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const noBwrap = bwrapWorks() ? undefined : 'bubblewrap is not installed or cannot create namespaces on this machine';
if (noBwrap) console.log(`SKIP bubblewrap sandbox tests: ${noBwrap}`);
const bwrapTest = noBwrap ? test.skip : test;

let bw: TestServer;
let plain: TestServer;
test.before(async () => {
  if (!noBwrap) bw = await startTestServer({ ROUNDHOUSE_SANDBOX: 'bwrap' });
  plain = await startTestServer({ ROUNDHOUSE_SANDBOX: 'none' });
});
test.after.always(async () => {
  await bw?.close();
  await plain?.close();
});

/** Every file name under dir, recursively. */
const allFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(join(dir, e.name)) : [e.name]));

let n = 0;
async function runJob(server: TestServer, job: string) {
  const slug = `gh/sandbox/p${++n}`;
  await server.addProject(
    slug,
    configRepo(`version: 2.1\njobs:\n  build:\n${job}\nworkflows:\n  w:\n    jobs: [build]\n`),
  );
  const p = await server.trigger(slug);
  const [wf] = await server.waitForPipeline(p.id);
  const job0 = wf.jobs[0];
  return { id: job0.id, status: job0.status, steps: await server.stepOutput(slug, job0.job_number!) };
}

bwrapTest(
  'bubblewrap: the system is read-only, only the job directory is writable, the server data is invisible',
  async (t) => {
    const { id, status, steps } = await runJob(
      bw,
      `    docker: [{image: x}]
    steps:
      - run: |
          if touch /usr/rh-escape 2>/dev/null; then echo "usr writable"; else echo "usr read-only"; fi
          if touch /etc/rh-escape 2>/dev/null; then echo "etc writable"; else echo "etc read-only"; fi
          if [ -e "${bw?.dataDir}" ]; then echo "data visible"; else echo "data hidden"; fi
          touch ~/ok /tmp/ok ~/project/marker-$CIRCLE_WORKFLOW_JOB_ID && echo "home and tmp writable"
          echo "home=$HOME pwd=$(pwd) uid=$(id -u) host=$(hostname)"
          echo "pids=$(ls /proc | grep -c '^[0-9]')"`,
    );
    t.is(status, 'success');
    const out = steps[2].output;
    t.regex(out, /usr read-only\netc read-only\ndata hidden\nhome and tmp writable\n/);
    t.regex(out, /home=\/home\/circleci pwd=\/home\/circleci\/project uid=1000 host=roundhouse/);
    // A fresh pid namespace: the job sees its own few processes, not the host's.
    const pids = Number(/pids=(\d+)/.exec(out)![1]);
    t.true(pids < 10, `saw ${pids} processes`);
    t.regex(steps[0].output, /Sandbox: bubblewrap/);
    // The job directory is gone once the job ends.
    t.false(allFiles(join(bw.dataDir, 'jobs')).includes(`marker-${id}`));
  },
);

bwrapTest('bubblewrap: files, BASH_ENV exports and background processes carry across steps of one job', async (t) => {
  const { status, steps } = await runJob(
    bw,
    `    docker: [{image: x}]
    working_directory: /srv/app
    steps:
      - run: echo 'export FROM_BASH_ENV=yes' >> "$BASH_ENV"; echo data > file.txt; pwd
      - run: {name: bg, command: "sleep 0.5; echo ready > /tmp/bg-ready; sleep 30", background: true}
      - run: echo "env=$FROM_BASH_ENV file=$(cat file.txt)"
      - run: for i in $(seq 50); do [ -f /tmp/bg-ready ] && break; sleep 0.1; done; cat /tmp/bg-ready
      - run: {name: sh, command: 'echo "shell=$0"', shell: /bin/sh -e}`,
  );
  t.is(status, 'success');
  t.regex(steps[2].output, /^\/srv\/app\n/);
  t.regex(steps[4].output, /env=yes file=data/);
  t.regex(steps[5].output, /ready/);
  t.regex(steps[6].output, /shell=\/tmp\/\.rh-step-\d+/);
});

test('no_output_timeout ends a silent step, fails the job, and says so', async (t) => {
  const { status, steps } = await runJob(
    plain,
    `    docker: [{image: x}]
    steps:
      - run: {name: silent, command: "echo begin; sleep 20", no_output_timeout: 1s}`,
  );
  t.is(status, 'failed');
  t.is(steps[2].status, 'timedout');
  t.regex(steps[2].output, /begin\n[\s\S]*Too long with no output \(exceeded 0m1s\)/);
});

test('without a sandbox, jobs still run, in a per-job directory, and the output and UI say they are not sandboxed', async (t) => {
  const { id, status, steps } = await runJob(
    plain,
    `    machine: true
    steps:
      - run: echo "home=$HOME"; touch ~/marker-$CIRCLE_WORKFLOW_JOB_ID && echo wrote`,
  );
  t.is(status, 'success');
  t.regex(steps[0].output, /WARNING: NOT SANDBOXED/);
  t.regex(steps[2].output, new RegExp(`home=${plain.dataDir}/jobs/[^/]+/home\\nwrote`));
  const info = (await plain.api('GET', '/api/ui/info')).body;
  t.true(info.notices.some((m: string) => /NOT sandboxed/.test(m)));
  t.false(allFiles(join(plain.dataDir, 'jobs')).includes(`marker-${id}`));
});

test.serial('ROUNDHOUSE_SANDBOX=bwrap refuses to start without bubblewrap; auto falls back to none', (t) => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    t.is(chooseSandbox('auto'), 'none');
    t.throws(() => chooseSandbox('bwrap'), { message: /bubblewrap is not installed/ });
    t.is(chooseSandbox('none'), 'none');
  } finally {
    process.env.PATH = path;
  }
});
