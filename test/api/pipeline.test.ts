import test from 'ava';
import { commit, configRepo, git } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

let n = 0;
const project = async (config: string, extra: Record<string, string> = {}) => {
  const repo = configRepo(config, extra);
  const slug = `gh/acme/p${++n}`;
  await server.addProject(slug, repo);
  return { slug, repo };
};

const DAG = `version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    environment:
      JOB_VAR: from-job
    steps:
      - checkout
      - run:
          name: multi-line
          command: |
            echo "first line"
            echo "JOB_VAR=$JOB_VAR STEP_VAR=$STEP_VAR"
            echo "branch=$CIRCLE_BRANCH job=$CIRCLE_JOB num=$CIRCLE_BUILD_NUM user=$CIRCLE_PROJECT_USERNAME repo=$CIRCLE_PROJECT_REPONAME"
            test -f README.md && echo "checked out"
          environment:
            STEP_VAR: from-step
  test:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: echo "sha=$CIRCLE_SHA1 ci=$CI circleci=$CIRCLECI wd=$CIRCLE_WORKING_DIRECTORY"
  lint:
    machine: true
    steps:
      - run: echo linting
  deploy:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: echo deploying
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
      - lint: {requires: [build]}
      - deploy: {requires: [test, lint]}
`;

test('a 2.1 pipeline with dependent and parallel jobs runs to success, reported as CircleCI does', async (t) => {
  const { slug, repo } = await project(DAG, { 'README.md': 'hi\n' });
  const sha = git(repo, 'rev-parse', 'HEAD');
  const p = await server.trigger(slug, { branch: 'main' });
  t.is(p.state, 'created');
  t.is(p.number, 1);
  t.regex(p.id, /^[0-9a-f-]{36}$/);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
  t.deepEqual(wf.jobs.map((j) => [j.name, j.status]).sort(), [
    ['build', 'success'],
    ['deploy', 'success'],
    ['lint', 'success'],
    ['test', 'success'],
  ]);
  const byName = Object.fromEntries(wf.jobs.map((j) => [j.name, j]));
  t.deepEqual(byName.deploy.dependencies.sort(), [byName.test.id, byName.lint.id].sort());
  t.is(byName.build.job_number, 1);
  // Pipeline by id, by number, and in the project's list agree.
  const byId = (await server.api('GET', `/api/v2/pipeline/${p.id}`)).body;
  const byNumber = (await server.api('GET', `/api/v2/project/${slug}/pipeline/1`)).body;
  t.deepEqual(byId, byNumber);
  t.is(byId.vcs.revision, sha);
  t.is(byId.vcs.branch, 'main');
  t.is(byId.trigger.type, 'api');
  t.is(byId.trigger.actor.login, 'admin');
  t.deepEqual(byId.errors, []);
  const list = (await server.api('GET', `/api/v2/project/${slug}/pipeline`)).body;
  t.is(list.items[0].id, p.id);
  // Workflow by id.
  const w = (await server.api('GET', `/api/v2/workflow/${wf.id}`)).body;
  t.is(w.pipeline_id, p.id);
  t.is(w.pipeline_number, 1);
  t.is(w.project_slug, slug);
  t.truthy(w.stopped_at);
  // Canceling a finished workflow changes nothing.
  t.is((await server.api('POST', `/api/v2/workflow/${wf.id}/cancel`)).status, 202);
  t.is((await server.api('GET', `/api/v2/workflow/${wf.id}`)).body.status, 'success');
  // Output: env vars by precedence, built-ins, multi-line commands, checkout.
  const steps = await server.stepOutput(slug, byName.build.job_number!);
  t.deepEqual(
    steps.map((s) => s.name),
    ['Spin up environment', 'Preparing environment variables', 'Checkout code', 'multi-line'],
  );
  const run = steps[3];
  t.is(run.status, 'success');
  t.is(run.exit_code, 0);
  t.regex(run.output, /first line\nJOB_VAR=from-job STEP_VAR=from-step\n/);
  t.regex(run.output, /branch=main job=build num=1 user=acme repo=p\d+\n/);
  t.regex(run.output, /checked out/);
  t.regex(steps[0].output, /docker executor is not available here/);
  const testOut = await server.stepOutput(slug, byName.test.job_number!);
  t.regex(testOut[2].output, new RegExp(`sha=${sha} ci=true circleci=true wd=~/project`));
  // Job details.
  const job = (await server.api('GET', `/api/v2/project/${slug}/job/${byName.build.job_number}`)).body;
  t.is(job.status, 'success');
  t.is(job.name, 'build');
  t.is(job.number, byName.build.job_number);
  t.deepEqual(job.latest_workflow, { id: wf.id, name: 'main' });
  t.deepEqual(job.executor, { type: 'docker', resource_class: 'medium' });
  t.is(job.pipeline.id, p.id);
  t.true(job.duration >= 0);
  // Config, source and compiled.
  const cfg = (await server.api('GET', `/api/v2/pipeline/${p.id}/config`)).body;
  t.is(cfg.source, DAG);
  t.regex(cfg.compiled, /^version: 2\n/);
  t.notRegex(cfg.compiled, /executors:|requires: \[/);
});

test('a failing step fails its job; later steps are skipped except when: always/on_fail; dependents are not run', async (t) => {
  const { slug } = await project(`version: 2.1
jobs:
  a:
    docker: [{image: x}]
    steps:
      - run: echo before
      - run:
          name: boom
          command: |
            echo about to fail >&2
            exit 3
      - run: echo should-not-run
      - run: {name: on-fail, command: echo cleanup, when: on_fail}
      - run: {name: always, command: echo always, when: always}
      - run: {name: on-success, command: echo nope, when: on_success}
  b:
    docker: [{image: x}]
    steps: [{run: echo b}]
  c:
    docker: [{image: x}]
    steps: [{run: echo c}]
  side:
    docker: [{image: x}]
    steps: [{run: sleep 0.3}]
workflows:
  w:
    jobs: [a, side, {b: {requires: [a]}}, {c: {requires: [b]}}]
`);
  const p = await server.trigger(slug);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'failed');
  const s = Object.fromEntries(wf.jobs.map((j) => [j.name, j]));
  t.is(s.a.status, 'failed');
  t.is(s.side.status, 'success');
  t.is(s.b.status, 'not_run');
  t.is(s.c.status, 'not_run');
  t.is(s.b.job_number, undefined);
  const steps = await server.stepOutput(slug, s.a.job_number!);
  t.deepEqual(
    steps.slice(2).map((x) => [x.name, x.status, x.exit_code]),
    [
      ['echo before', 'success', 0],
      ['boom', 'failed', 3],
      ['on-fail', 'success', 0],
      ['always', 'success', 0],
    ],
  );
  t.regex(steps[3].output, /about to fail\n[\s\S]*Exited with code 3/);
  const v11 = (await server.api('GET', `/api/v1.1/project/github/acme/${slug.split('/')[2]}/${s.a.job_number}`)).body;
  t.is(v11.status, 'failed');
  t.is(v11.outcome, 'failed');
  t.is(v11.lifecycle, 'finished');
});

test('workflow rerun from_failed carries successful jobs over and reruns the failed ones and their dependents', async (t) => {
  const { slug, repo } = await project(`version: 2.1
jobs:
  ok:
    docker: [{image: x}]
    steps: [{run: echo ok}]
  flaky:
    docker: [{image: x}]
    steps:
      - checkout
      - run: test -f fixed
  after:
    docker: [{image: x}]
    steps: [{run: echo after}]
workflows:
  w:
    jobs: [ok, flaky, {after: {requires: [ok, flaky]}}]
`);
  const p = await server.trigger(slug);
  const [first] = await server.waitForPipeline(p.id);
  t.is(first.status, 'failed');
  // Reruns use the pipeline's commit, so a new commit does not fix the rerun.
  commit(repo, { fixed: '' }, 'fix');
  const r = await server.api('POST', `/api/v2/workflow/${first.id}/rerun`, { from_failed: true });
  t.is(r.status, 202);
  t.truthy(r.body.workflow_id);
  const wfs = await server.waitForPipeline(p.id);
  t.is(wfs.length, 2);
  const second = wfs.find((w) => w.id === r.body.workflow_id)!;
  t.is(second.name, 'w');
  const firstJobs = Object.fromEntries(first.jobs.map((j) => [j.name, j]));
  const jobs = Object.fromEntries(second.jobs.map((j) => [j.name, j]));
  t.is(jobs.ok.status, 'success');
  t.is(jobs.ok.job_number, firstJobs.ok.job_number, 'carried-over job keeps its number');
  t.is(jobs.flaky.status, 'failed');
  t.not(jobs.flaky.job_number, firstJobs.flaky.job_number);
  t.is(jobs.after.status, 'not_run');
  // A full rerun of a new pipeline on the fixed commit succeeds.
  const p2 = await server.trigger(slug);
  const [w2] = await server.waitForPipeline(p2.id);
  t.is(w2.status, 'success');
  // Rerun of a successful workflow with from_failed has nothing to do.
  const none = await server.api('POST', `/api/v2/workflow/${w2.id}/rerun`, { from_failed: true });
  t.is(none.status, 400);
  const full = await server.api('POST', `/api/v2/workflow/${w2.id}/rerun`, {});
  t.is(full.status, 202);
  const all = await server.waitForPipeline(p2.id);
  t.is(all.find((w) => w.id === full.body.workflow_id)!.status, 'success');
});

test('cancel a workflow stops its running job and leaves the rest canceled or not run', async (t) => {
  const { slug } = await project(`version: 2.1
jobs:
  long:
    docker: [{image: x}]
    steps: [{run: "echo started; sleep 30"}]
  next:
    docker: [{image: x}]
    steps: [{run: echo next}]
workflows:
  w:
    jobs: [long, {next: {requires: [long]}}]
`);
  const p = await server.trigger(slug);
  const wfId = await server.waitFor(
    async () => (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0]?.id,
    'workflow',
  );
  await server.waitFor(async () => {
    const jobs = (await server.api('GET', `/api/v2/workflow/${wfId}/job`)).body.items;
    return jobs.find((j: { name: string; status: string }) => j.name === 'long' && j.status === 'running');
  }, 'long job to run');
  const started = Date.now();
  const r = await server.api('POST', `/api/v2/workflow/${wfId}/cancel`);
  t.is(r.status, 202);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'canceled');
  const jobs = Object.fromEntries(wf.jobs.map((j) => [j.name, j.status]));
  t.deepEqual(jobs, { long: 'canceled', next: 'not_run' });
  t.true(Date.now() - started < 10000, 'cancel does not wait for the sleep');
  const w = (await server.api('GET', `/api/v2/workflow/${wfId}`)).body;
  t.is(w.canceled_by, 'admin');
  // Canceling again, or canceling a finished workflow, changes nothing.
  t.is((await server.api('POST', `/api/v2/workflow/${wfId}/cancel`)).status, 202);
});

test('cancel one job by number: the job is canceled and its workflow ends canceled', async (t) => {
  const { slug } = await project(`version: 2.1
jobs:
  long:
    docker: [{image: x}]
    steps: [{run: sleep 30}]
workflows:
  w:
    jobs: [long]
`);
  const p = await server.trigger(slug);
  const wfId = await server.waitFor(
    async () => (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0]?.id,
    'workflow',
  );
  const job = await server.waitFor(
    async () =>
      (await server.api('GET', `/api/v2/workflow/${wfId}/job`)).body.items.find(
        (j: { status: string }) => j.status === 'running',
      ),
    'running job',
  );
  const r = await server.api('POST', `/api/v2/project/${slug}/job/${job.job_number}/cancel`);
  t.is(r.status, 202);
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'canceled');
  t.is((await server.api('GET', `/api/v2/project/${slug}/job/${job.job_number}`)).body.status, 'canceled');
  // Canceling a finished job is a conflict, not a crash.
  t.is((await server.api('POST', `/api/v2/project/${slug}/job/${job.job_number}/cancel`)).status, 409);
});

test('invalid YAML or config errors the pipeline with the message and line', async (t) => {
  const { slug } = await project('version: 2.1\njobs:\n  build:\n    docker: [{image: x}\n    steps: []\n');
  const p = await server.trigger(slug);
  t.is(p.state, 'errored');
  const body = (await server.api('GET', `/api/v2/pipeline/${p.id}`)).body;
  t.is(body.state, 'errored');
  t.is(body.errors[0].type, 'config');
  t.regex(body.errors[0].message, /^\.circleci\/config\.yml:\d+:\d+: /);
  t.deepEqual((await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items, []);

  const { slug: s2 } = await project(
    'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [{run: echo}]\nworkflows:\n  w:\n    jobs: [build, {test: {requires: [build]}}]\n',
  );
  const p2 = await server.trigger(s2);
  const b2 = (await server.api('GET', `/api/v2/pipeline/${p2.id}`)).body;
  t.is(b2.state, 'errored');
  t.true(b2.errors.some((e: { message: string }) => /config\.yml:8:\d+: .*`test`.*not defined/.test(e.message)));
});

test('a repository without config errors the pipeline; unknown branches are a clear 400', async (t) => {
  const repo = configRepo('x');
  git(repo, 'rm', '-q', '.circleci/config.yml');
  git(repo, 'commit', '-qm', 'no config');
  await server.addProject('gh/acme/noconfig', repo);
  const p = await server.trigger('gh/acme/noconfig');
  t.is(p.state, 'errored');
  const body = (await server.api('GET', `/api/v2/pipeline/${p.id}`)).body;
  t.regex(body.errors[0].message, /No configuration was found in \.circleci\/config\.yml/);
  const bad = await server.api('POST', '/api/v2/project/gh/acme/noconfig/pipeline', { branch: 'nope' });
  t.is(bad.status, 400);
  t.regex(bad.body.message, /nope not found/);
});

test('branch and tag triggers: filters decide which jobs run; CIRCLE_TAG is set for tags', async (t) => {
  const { slug, repo } = await project(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps: [{run: 'echo "branch=[$CIRCLE_BRANCH] tag=[$CIRCLE_TAG]"'}]
  release:
    docker: [{image: x}]
    steps: [{run: echo release}]
workflows:
  w:
    jobs:
      - build:
          filters: {tags: {only: /.*/}}
      - release:
          requires: [build]
          filters:
            tags: {only: /^v\\d+\\.\\d+$/}
            branches: {ignore: /.*/}
`);
  git(repo, 'tag', 'v1.2');
  git(repo, 'checkout', '-q', '-b', 'feature/x');
  const onBranch = await server.trigger(slug, { branch: 'feature/x' });
  const [wb] = await server.waitForPipeline(onBranch.id);
  t.deepEqual(
    wb.jobs.map((j) => j.name),
    ['build'],
  );
  const onTag = await server.trigger(slug, { tag: 'v1.2' });
  const [wt] = await server.waitForPipeline(onTag.id);
  t.deepEqual(wt.jobs.map((j) => j.name).sort(), ['build', 'release']);
  t.is(wt.status, 'success');
  const build = wt.jobs.find((j) => j.name === 'build')!;
  const out = await server.stepOutput(slug, build.job_number!);
  t.regex(out[2].output, /branch=\[\] tag=\[v1\.2\]/);
  const pl = (await server.api('GET', `/api/v2/pipeline/${onTag.id}`)).body;
  t.is(pl.vcs.tag, 'v1.2');
  t.is(pl.vcs.branch, undefined);
  t.is((await server.api('POST', `/api/v2/project/${slug}/pipeline`, { branch: 'main', tag: 'v1.2' })).status, 400);
});

test('auth: Circle-Token header and HTTP basic work; a bad or missing token is 401; unknown things are 404 JSON', async (t) => {
  const { slug } = await project(DAG);
  const basic = await fetch(`${server.url}/api/v2/me`, {
    headers: { authorization: `Basic ${Buffer.from(`${'test-admin-token-0123456789'}:`).toString('base64')}` },
  });
  t.is(basic.status, 200);
  t.like(await basic.json(), { login: 'admin', name: 'Administrator' });
  const me = await server.api('GET', '/api/v2/me');
  t.is(me.status, 200);
  t.regex(me.body.id, /^[0-9a-f-]{36}$/);
  t.is((await server.api('GET', '/api/v2/me', undefined, null)).status, 401);
  const bad = await server.api('GET', `/api/v2/project/${slug}/pipeline`, undefined, 'wrong-token');
  t.is(bad.status, 401);
  t.deepEqual(bad.body, { message: 'You must log in first.' });
  t.is((await server.api('POST', `/api/v2/project/${slug}/pipeline`, {}, null)).status, 401);
  const missing = await server.api('GET', '/api/v2/project/gh/nobody/nothing/pipeline');
  t.is(missing.status, 404);
  t.is(missing.body.message, 'Project not found.');
  t.is((await server.api('GET', '/api/v2/pipeline/00000000-0000-0000-0000-000000000000')).status, 404);
  t.is((await server.api('GET', '/api/v2/workflow/00000000-0000-0000-0000-000000000000/job')).status, 404);
  t.is((await server.api('GET', `/api/v2/project/${slug}/job/99999`)).status, 404);
  // Project slugs may come URL-encoded, and with the long vcs name.
  t.is((await server.api('GET', `/api/v2/project/${encodeURIComponent(slug)}`)).status, 200);
  t.is((await server.api('GET', `/api/v2/project/${slug.replace(/^gh\//, 'github/')}`)).body.slug, slug);
  // Bad request bodies get a 400 that says what is wrong.
  const unknownKey = await server.api('POST', `/api/v2/project/${slug}/pipeline`, { branchh: 'main' });
  t.is(unknownKey.status, 400);
  t.regex(unknownKey.body.message, /additional properties/i);
});

test('project add: admin API validates slug and repository and rejects duplicates', async (t) => {
  const repo = configRepo(DAG);
  const bad = await server.api('POST', '/api/admin/projects', { slug: 'nope', repo });
  t.is(bad.status, 400);
  t.regex(bad.body.message, /<vcs>\/<org>\/<repo>/);
  const missing = await server.api('POST', '/api/admin/projects', { slug: 'gh/acme/missing', repo: '/does/not/exist' });
  t.is(missing.status, 400);
  t.regex(missing.body.message, /Cannot read git repository \/does\/not\/exist/);
  const ok = await server.api('POST', '/api/admin/projects', { slug: 'github/acme/added', repo });
  t.is(ok.status, 201);
  t.like(ok.body, { slug: 'gh/acme/added', default_branch: 'main', repo_url: repo });
  t.is((await server.api('POST', '/api/admin/projects', { slug: 'gh/acme/added', repo })).status, 409);
  const list = (await server.api('GET', '/api/admin/projects')).body.items;
  t.true(list.some((p: { slug: string }) => p.slug === 'gh/acme/added'));
});

test('pipelines of a project page through next_page_token and filter by branch', async (t) => {
  const { slug, repo } = await project(
    'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [{run: "true"}]\n',
  );
  git(repo, 'branch', 'other');
  for (let i = 0; i < 22; i++) await server.trigger(slug, i === 0 ? { branch: 'other' } : {});
  const page1 = (await server.api('GET', `/api/v2/project/${slug}/pipeline`)).body;
  t.is(page1.items.length, 20);
  t.is(page1.items[0].number, 22);
  t.truthy(page1.next_page_token);
  const page2 = (await server.api('GET', `/api/v2/project/${slug}/pipeline?page-token=${page1.next_page_token}`)).body;
  t.deepEqual(
    page2.items.map((p: { number: number }) => p.number),
    [2, 1],
  );
  t.is(page2.next_page_token, null);
  const other = (await server.api('GET', `/api/v2/project/${slug}/pipeline?branch=other`)).body;
  t.deepEqual(
    other.items.map((p: { number: number }) => p.number),
    [1],
  );
  const mine = (await server.api('GET', `/api/v2/project/${slug}/pipeline/mine`)).body;
  t.is(mine.items.length, 20);
});

test('trigger bodies are JSON whatever the content type; an empty body triggers the default branch; bad JSON is a 400', async (t) => {
  const { slug } = await project(DAG);
  const post = (body: string | undefined, type?: string) =>
    fetch(`${server.url}/api/v2/project/${slug}/pipeline`, {
      method: 'POST',
      headers: { 'circle-token': 'test-admin-token-0123456789', ...(type ? { 'content-type': type } : {}) },
      body,
    });
  const form = await post('{"branch":"main"}', 'application/x-www-form-urlencoded');
  t.is(form.status, 201);
  const empty = await post(undefined);
  t.is(empty.status, 201);
  t.is((await empty.json()).state, 'created');
  const bad = await post('{branch', 'application/json');
  t.is(bad.status, 400);
  t.deepEqual(await bad.json(), { message: 'Body is not valid JSON.' });
});

test('an approval job holds the workflow (on_hold) until approved; then its dependents run', async (t) => {
  const { slug } = await project(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: echo build}]}
  deploy: {docker: [{image: x}], steps: [{run: echo deploy}]}
workflows:
  w:
    jobs:
      - build
      - hold: {type: approval, requires: [build]}
      - deploy: {requires: [hold]}
`);
  const p = await server.trigger(slug);
  const wfId = await server.waitFor(
    async () => (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items[0]?.id,
    'workflow',
  );
  const w = await server.waitFor(async () => {
    const wf = (await server.api('GET', `/api/v2/workflow/${wfId}`)).body;
    return wf.status === 'on_hold' && wf;
  }, 'workflow on hold');
  t.is(w.status, 'on_hold');
  const jobs = (await server.api('GET', `/api/v2/workflow/${wfId}/job`)).body.items;
  const hold = jobs.find((j: { name: string }) => j.name === 'hold');
  t.like(hold, { type: 'approval', status: 'on_hold', approval_request_id: hold.id });
  t.is(hold.job_number, undefined);
  t.is(jobs.find((j: { name: string }) => j.name === 'deploy').status, 'blocked');
  t.is((await server.api('POST', `/api/v2/workflow/${wfId}/approve/00000000-0000-0000-0000-000000000000`)).status, 404);
  const r = await server.api('POST', `/api/v2/workflow/${wfId}/approve/${hold.approval_request_id}`);
  t.is(r.status, 202);
  const [done] = await server.waitForPipeline(p.id);
  t.is(done.status, 'success');
  const after = Object.fromEntries(done.jobs.map((j) => [j.name, j]));
  t.is(after.hold.status, 'success');
  t.is((after.hold as unknown as { approved_by: string }).approved_by, 'admin');
  t.is(after.deploy.status, 'success');
  t.is((await server.api('POST', `/api/v2/workflow/${wfId}/approve/${hold.approval_request_id}`)).status, 409);
});

test('setup workflows: the setup job continues the pipeline once with the real config and parameters', async (t) => {
  const continued = `version: 2.1
parameters:
  target: {type: string, default: none}
jobs:
  deploy:
    docker: [{image: x}]
    steps: [{run: 'echo "deploying << pipeline.parameters.target >>"'}]
workflows:
  after-setup: {jobs: [deploy]}
`;
  const { slug } = await project(
    `version: 2.1
setup: true
jobs:
  generate:
    docker: [{image: x}]
    steps:
      - run:
          name: Continue the pipeline
          command: |
            node -e '
              const base = new URL(process.env.CIRCLE_BUILD_URL).origin;
              const body = { "continuation-key": process.env.CIRCLE_CONTINUATION_KEY, configuration: require("fs").readFileSync(".circleci/continued.yml", "utf8"), parameters: { target: "production" } };
              fetch(base + "/api/v2/pipeline/continue", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
                .then(async (r) => { console.log(r.status, await r.text()); process.exit(r.ok ? 0 : 1); });
            '
workflows:
  setup:
    jobs: [{generate: {pre-steps: [checkout]}}]
`,
    { '.circleci/continued.yml': continued },
  );
  const p = await server.trigger(slug);
  const wfs = await server.waitFor(async () => {
    const list = await server.waitForPipeline(p.id);
    return list.length === 2 && list.every((w) => w.status !== 'running') && list;
  }, 'setup and continued workflows');
  const setup = wfs.find((w) => w.name === 'setup')!;
  const after = wfs.find((w) => w.name === 'after-setup')!;
  t.is(setup.status, 'success');
  t.is((setup as unknown as { tag: string }).tag, 'setup');
  t.is(after.status, 'success');
  const out = await server.stepOutput(slug, after.jobs[0].job_number!);
  t.regex(out[2].output, /deploying production/);
  const cfg = (await server.api('GET', `/api/v2/pipeline/${p.id}/config`)).body;
  t.is(cfg.source, continued);
  // The key works once, and a wrong key is not found.
  const setupOut = await server.stepOutput(slug, setup.jobs[0].job_number!);
  t.regex(setupOut[3].output, /^200 \{"message":"Pipeline continued\."\}/);
  const again = await server.api(
    'POST',
    '/api/v2/pipeline/continue',
    { 'continuation-key': 'nope', configuration: continued },
    null,
  );
  t.is(again.status, 404);
});

test('scheduled workflows run on their schedule only: a push runs the others, the schedule runs just them', async (t) => {
  const { slug } = await project(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: echo build}]}
  nightly: {docker: [{image: x}], steps: [{run: 'echo "nightly on $CIRCLE_BRANCH"'}]}
workflows:
  ci: {jobs: [build]}
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main]}}
    jobs: [nightly]
`);
  const push = await server.trigger(slug);
  t.deepEqual(
    (await server.waitForPipeline(push.id)).map((w) => w.name),
    ['ci'],
  );
  // Other projects of this server may have schedules too: look only at this one's pipelines.
  const ours = async (fired: { id: string }[]) => {
    const out: { id: string; trigger: { actor: { login: string } } }[] = [];
    for (const f of fired) {
      const pl = (await server.api('GET', `/api/v2/pipeline/${f.id}`)).body;
      if (pl.project_slug === slug) out.push(pl);
    }
    return out;
  };
  t.deepEqual(await ours(await server.conductor.runSchedules(new Date('2026-11-28T03:01:00Z'))), []);
  const fired = await ours(await server.conductor.runSchedules(new Date('2026-11-28T03:00:20Z')));
  t.is(fired.length, 1);
  t.is(fired[0].trigger.actor.login, 'scheduler');
  const wfs = await server.waitForPipeline(fired[0].id);
  t.deepEqual(
    wfs.map((w) => [w.name, w.status]),
    [['nightly', 'success']],
  );
  const out = await server.stepOutput(slug, wfs[0].jobs[0].job_number!);
  t.regex(out[2].output, /nightly on main/);
  // The same minute does not fire twice.
  t.deepEqual(await ours(await server.conductor.runSchedules(new Date('2026-11-28T03:00:40Z'))), []);
});

test('flexible requires: a cleanup job that allows failed runs after a failure; one that needs success does not', async (t) => {
  const { slug } = await project(`version: 2.1
jobs:
  flaky: {docker: [{image: x}], steps: [{run: exit 1}]}
  cleanup: {docker: [{image: x}], steps: [{run: echo cleaning}]}
  deploy: {docker: [{image: x}], steps: [{run: echo deploy}]}
workflows:
  w:
    jobs:
      - flaky
      - cleanup: {requires: [{flaky: [success, failed]}]}
      - deploy: {requires: [flaky]}
`);
  const p = await server.trigger(slug);
  const [wf] = await server.waitForPipeline(p.id);
  t.deepEqual(Object.fromEntries(wf.jobs.map((j) => [j.name, j.status])), {
    flaky: 'failed',
    cleanup: 'success',
    deploy: 'not_run',
  });
  t.is(wf.status, 'failed');
});
