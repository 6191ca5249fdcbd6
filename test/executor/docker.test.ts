import { createServer, type Server } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { type Podman, startPodman, TEST_IMAGE } from '../helpers/podman.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// Real Podman (runc) through its Docker-compatible socket, driven with dockerode; the image is built
// locally from busybox (no registry is reachable here).
let podman: Podman | string;
let server: TestServer;
let ecr: Server;
const ecrCalls: { target?: string; authorization?: string }[] = [];

test.before(async () => {
  podman = await startPodman();
  if (typeof podman === 'string') return;
  // A local stand-in for the ECR API (GetAuthorizationToken only), named as the fake it is.
  ecr = createServer((req, res) => {
    ecrCalls.push({ target: String(req.headers['x-amz-target']), authorization: String(req.headers.authorization) });
    req.resume().on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(
        JSON.stringify({
          authorizationData: [
            {
              authorizationToken: Buffer.from('AWS:ecr-password-from-fake').toString('base64'),
              proxyEndpoint: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
              expiresAt: Date.now() / 1000 + 3600,
            },
          ],
        }),
      );
    });
  });
  await new Promise<void>((r) => ecr.listen(0, '127.0.0.1', r));
  server = await startTestServer({
    ROUNDHOUSE_DOCKER_HOST: podman.socket,
    ROUNDHOUSE_DOCKER_NETWORK: 'none',
    ROUNDHOUSE_ECR_ENDPOINT: `http://127.0.0.1:${(ecr.address() as { port: number }).port}`,
  });
});
test.after.always(async () => {
  await server?.close();
  ecr?.close();
  if (typeof podman !== 'string') await podman?.close();
});

const skipWithout = (t: { log: (m: string) => void; pass: () => void }) => {
  if (typeof podman === 'string') {
    t.log(`SKIPPED: ${podman}`);
    t.pass();
    return true;
  }
  return false;
};

/** Containers of this server's executor still present on the engine. */
const leftovers = async () =>
  (typeof podman === 'string' ? [] : await podman.docker.listContainers({ all: true })).filter(
    (c) => c.Labels['io.roundhouse.workdir'] === join(server.dataDir, 'jobs'),
  );

const CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: ${TEST_IMAGE}
        user: circleci
        environment: {FROM_IMAGE: primary, LEVEL: image}
      - image: ${TEST_IMAGE}
        name: web
        command: [httpd, -f, -p, "8080", -h, /etc]
    resource_class: small
    environment: {LEVEL: job}
    steps:
      - checkout
      - run: |
          echo "user $(id -un) home $HOME pwd $(pwd)"
          cat README.md
          echo "level $LEVEL from $FROM_IMAGE node $CIRCLE_NODE_INDEX/$CIRCLE_NODE_TOTAL job $CIRCLE_JOB"
          echo "secret is $DEPLOY_TOKEN"
          set -o | grep pipefail
          mkdir -p deps out results && echo cached > deps/x && echo artifact > out/a.txt
          printf '<testsuite name="s"><testcase classname="c" name="in-docker" time="0.1"/></testsuite>' > results/r.xml
      - run:
          name: step environment wins
          environment: {LEVEL: step}
          command: echo "level $LEVEL"
      - run:
          name: service on localhost
          command: for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://localhost:8080/passwd 2>/dev/null | head -1 && exit 0; sleep 0.2; done; exit 1
      - run:
          name: limits
          command: cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes
      - run: circleci tests glob "spec/*.txt" | circleci tests split --split-by=name
      - save_cache: {key: 'deps-{{ checksum "README.md" }}', paths: [deps]}
      - store_artifacts: {path: out, destination: docker-out}
      - store_test_results: {path: results}
      - persist_to_workspace: {root: out, paths: [a.txt]}
  after:
    docker: [{image: ${TEST_IMAGE}, user: circleci}]
    steps:
      - attach_workspace: {at: ws}
      - restore_cache: {keys: [deps-]}
      - run: cat ws/a.txt deps/x && echo "shell $(tr '\\0' ' ' < /proc/$$/cmdline)" && whoami
      - run: circleci step halt
      - run: echo never-after-halt
workflows:
  w:
    jobs: [build, {after: {requires: [build]}}]
`;

test.serial(
  'docker driver on Podman: primary and service containers, environment, limits, checkout, caches, workspaces, artifacts, tests; nothing left after',
  async (t) => {
    if (skipWithout(t)) return;
    const repo = configRepo(CONFIG, { 'README.md': 'hello from the repo\n', 'spec/a.txt': '', 'spec/b.txt': '' });
    await server.addProject('gh/dock/app', repo);
    t.is(
      (await server.api('POST', '/api/v2/project/gh/dock/app/envvar', { name: 'DEPLOY_TOKEN', value: 'tok-1234567' }))
        .status,
      201,
    );
    const p = await server.trigger('gh/dock/app');
    const [wf] = await server.waitForPipeline(p.id, 120000);
    const byName = Object.fromEntries(wf.jobs.map((j) => [j.name, j]));
    const build = await server.stepOutput('gh/dock/app', byName.build.job_number!);
    const all = build.map((s) => `## ${s.name} (${s.status})\n${s.output}`).join('\n');
    const after = (await server.stepOutput('gh/dock/app', byName.after.job_number!)).map((s) => s.output).join('');
    t.is(wf.status, 'success', `${all}\n#### after\n${after}`);
    t.regex(all, /driver docker/);
    t.regex(
      all,
      /Docker: image localhost\/rh-busybox:1 \(user circleci, home \/home\/circleci\), 1 service container\(s\); 1 vCPU, 2 GiB, network none/,
    );
    t.regex(all, /git is not installed in this image: the executor fetches the commit instead/);
    t.regex(all, /user circleci home \/home\/circleci pwd \/home\/circleci\/project/);
    t.regex(all, /hello from the repo/);
    t.regex(all, /level job from primary node 0\/1 job build/);
    t.regex(all, /secret is \*{8}/);
    t.notRegex(all, /tok-1234567/);
    t.regex(all, /pipefail\s+on/);
    t.regex(all, /level step/);
    t.regex(all, /root:x:0:0:root/);
    t.regex(all, /^2147483648$/m);
    t.regex(all, /spec\/a\.txt\s+spec\/b\.txt/);
    t.regex(all, /Stored cache to deps-/);

    t.regex(after, /Halted by `circleci step halt`/);
    t.notRegex(after, /never-after-halt/);
    t.regex(after, /artifact\ncached\nshell \/bin\/sh -eo pipefail \/tmp\/\.roundhouse\/\.rh-step-\d+ \ncircleci/);

    const arts = (await server.api('GET', `/api/v2/project/gh/dock/app/${byName.build.job_number}/artifacts`)).body
      .items;
    t.deepEqual(
      arts.map((a: { path: string }) => a.path),
      ['docker-out/a.txt'],
    );
    const tests = (await server.api('GET', `/api/v2/project/gh/dock/app/${byName.build.job_number}/tests`)).body.items;
    t.deepEqual(
      tests.map((c: { name: string }) => c.name),
      ['in-docker'],
    );

    // Nothing of the jobs remains: no containers, no job directories.
    t.deepEqual(await leftovers(), []);
    t.deepEqual(
      readdirSync(join(server.dataDir, 'jobs')).filter((d) => !d.startsWith('slot-')),
      [],
    );
  },
);

test.serial('docker driver: cancel kills the job within seconds and removes its containers', async (t) => {
  if (skipWithout(t)) return;
  await server.addProject(
    'gh/dock/cancel',
    configRepo(`version: 2.1
jobs:
  long:
    docker: [{image: ${TEST_IMAGE}}, {image: ${TEST_IMAGE}, command: [sleep, "600"]}]
    steps:
      - run: echo started; sleep 600
workflows:
  w: {jobs: [long]}
`),
  );
  const p = await server.trigger('gh/dock/cancel');
  const wfId = await server.waitFor(
    async () => {
      const w = (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0];
      const jobs = w ? (await server.api('GET', `/api/v2/workflow/${w.id}/job`)).body.items : [];
      return jobs[0]?.status === 'running' && (await leftovers()).length === 2 && w.id;
    },
    'the job to run in two containers',
    60000,
  );
  const started = Date.now();
  t.is((await server.api('POST', `/api/v2/workflow/${wfId}/cancel`)).status, 202);
  await server.waitFor(async () => (await leftovers()).length === 0, 'containers to be removed', 20000);
  t.true(Date.now() - started < 15000, `took ${Date.now() - started} ms`);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'canceled');
});

test.serial(
  'docker driver: registry auth from project variables and ECR login through the AWS SDK (ECR is a local fake); secrets stay out of output',
  async (t) => {
    if (skipWithout(t)) return;
    await server.addProject(
      'gh/dock/auth',
      configRepo(`version: 2.1
jobs:
  private:
    docker:
      - image: registry.invalid/team/app:1
        auth: {username: bot, password: $REGISTRY_PASSWORD}
    steps: [{run: echo never}]
  ecr:
    docker:
      - image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1
        aws_auth: {aws_access_key_id: AKIAFAKEKEY000000001, aws_secret_access_key: $AWS_SECRET}
    steps: [{run: echo never}]
workflows:
  w: {jobs: [private, ecr]}
`),
    );
    await server.api('POST', '/api/v2/project/gh/dock/auth/envvar', {
      name: 'REGISTRY_PASSWORD',
      value: 'registry-pass-987',
    });
    await server.api('POST', '/api/v2/project/gh/dock/auth/envvar', {
      name: 'AWS_SECRET',
      value: 'aws-secret-key-654',
    });
    const p = await server.trigger('gh/dock/auth');
    const [wf] = await server.waitForPipeline(p.id, 60000);
    t.is(wf.status, 'failed');
    for (const j of wf.jobs) {
      t.is(j.status, 'infrastructure_fail', j.name);
      const out = (await server.stepOutput('gh/dock/auth', j.job_number!)).map((s) => s.output).join('');
      t.regex(out, /could not pull image/);
      t.notRegex(out, /registry-pass-987|aws-secret-key-654|ecr-password-from-fake/);
      if (j.name === 'private')
        t.regex(out, /Pulling image registry\.invalid\/team\/app:1 \(as bot on registry\.invalid\)/);
      else
        t.regex(out, /Pulling image 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/app:1 \(as AWS on 123456789012/);
    }
    t.is(ecrCalls.length, 1);
    t.is(ecrCalls[0].target, 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken');
    t.regex(ecrCalls[0].authorization ?? '', /Credential=AKIAFAKEKEY000000001\/\d+\/us-east-1\/ecr\/aws4_request/);
    t.deepEqual(await leftovers(), []);
  },
);

test('an unreachable Docker engine stops the server at start with a clear error', async (t) => {
  const err = await t.throwsAsync(startTestServer({ ROUNDHOUSE_DOCKER_HOST: '/nonexistent/docker.sock' }));
  t.regex(err?.message ?? '', /ROUNDHOUSE_DOCKER_HOST: cannot reach the Docker engine at \/nonexistent\/docker\.sock/);
});
