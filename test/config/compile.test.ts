import test from 'ava';
import { parse } from 'yaml';
import { errors, ok } from '../helpers/compile.js';
import { compileConfig, parseDuration } from '../../runtime/src/config/compile.js';
import { filterAllows, patternMatches } from '../../runtime/src/config/filters.js';

test('version 2.0 config with a workflows version key compiles; without workflows the build job runs', async (t) => {
  const r = await ok(`version: 2
jobs:
  build:
    docker:
      - image: circleci/node:14
        environment: {NODE_ENV: test}
      - image: postgres:13
        name: db
    working_directory: /app
    steps:
      - checkout
      - run: npm test
workflows:
  version: 2
  main:
    jobs: [build]
`);
  t.is(r.plan.version, '2.0');
  t.deepEqual(r.plan.workflows, [
    { name: 'main', jobs: [{ name: 'build', job: 'build', type: 'build', requires: [], context: [] }] },
  ]);
  const job = r.plan.jobs.build;
  t.is(job.working_directory, '/app');
  t.deepEqual(
    job.executor.images.map((i) => i.image),
    ['circleci/node:14', 'postgres:13'],
  );
  t.is(job.executor.images[1].name, 'db');
  t.deepEqual(
    job.steps.map((s) => s.type),
    ['checkout', 'run'],
  );

  const bare = await ok('version: 2\njobs:\n  build:\n    machine: true\n    steps: [{run: make}]\n');
  t.deepEqual(
    bare.plan.workflows[0].jobs.map((j) => j.name),
    ['build'],
  );
  t.deepEqual(await errors('version: 2\njobs:\n  test:\n    machine: true\n    steps: [{run: make}]\n'), [
    '.circleci/config.yml:2:1: config has no `workflows` and no job named `build` to run [RH_CONFIG_NO_WORKFLOWS]',
  ]);
});

test('run steps: string and map forms, defaults, when, durations, deploy as run', async (t) => {
  const r = await ok(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    shell: /bin/sh -e
    environment: {A: 1, B: true, C: ~}
    steps:
      - run: echo one
      - run:
          name: two
          command: echo two
          environment: {X: y}
          working_directory: sub
          shell: /bin/bash
          no_output_timeout: 20m
          when: always
          background: true
      - deploy: echo legacy
workflows:
  w: {jobs: [build]}
`);
  const job = r.plan.jobs.build;
  t.deepEqual(job.environment, { A: '1', B: 'true', C: '' });
  t.is(job.shell, '/bin/sh -e');
  t.like(job.steps[0], {
    type: 'run',
    name: 'echo one',
    command: 'echo one',
    when: 'on_success',
    no_output_timeout: 600,
    background: false,
  });
  t.like(job.steps[1], {
    name: 'two',
    environment: { X: 'y' },
    working_directory: 'sub',
    shell: '/bin/bash',
    no_output_timeout: 1200,
    when: 'always',
    background: true,
  });
  t.like(job.steps[2], { type: 'run', command: 'echo legacy' });
  t.is(parseDuration('1h'), 3600);
  t.is(parseDuration('45s'), 45);
  t.is(parseDuration('90'), 90);
  t.is(parseDuration('ten minutes'), undefined);
});

test('executors: reusable executors merge environment with the job winning; job keys override', async (t) => {
  const r = await ok(`version: 2.1
executors:
  node:
    docker: [{image: cimg/node:20.0}]
    environment: {A: exec, B: exec}
    working_directory: /exec
    resource_class: large
jobs:
  build:
    executor: node
    environment: {B: job}
    steps: [checkout]
  other:
    executor: {name: node}
    working_directory: /job
    steps: [checkout]
workflows:
  w: {jobs: [build, other]}
`);
  t.deepEqual(r.plan.jobs.build.environment, { A: 'exec', B: 'job' });
  t.is(r.plan.jobs.build.working_directory, '/exec');
  t.is(r.plan.jobs.build.executor.resource_class, 'large');
  t.is(r.plan.jobs.other.working_directory, '/job');
  t.deepEqual(await errors('version: 2.1\njobs:\n  build:\n    executor: nope\n    steps: [checkout]\n'), [
    '.circleci/config.yml:4:15: executor `nope` is not defined in `executors` [RH_CONFIG_EXECUTOR_NOT_FOUND]',
  ]);
});

test('workflow jobs: requires, name overrides, contexts; the compiled config is plain version 2', async (t) => {
  const r = await ok(`version: 2.1
jobs:
  test:
    docker: [{image: x}]
    steps: [{run: make test}]
  deploy:
    docker: [{image: x}]
    steps: [{run: make deploy}]
workflows:
  ci:
    jobs:
      - test: {name: test-a}
      - test: {name: test-b}
      - deploy:
          requires: [test-a, test-b]
          context: [aws, slack]
`);
  const jobs = r.plan.workflows[0].jobs;
  t.deepEqual(
    jobs.map((j) => [j.name, j.job, j.requires]),
    [
      ['test-a', 'test', []],
      ['test-b', 'test', []],
      ['deploy', 'deploy', ['test-a', 'test-b']],
    ],
  );
  t.deepEqual(jobs[2].context, ['aws', 'slack']);
  const compiled = parse(r.compiled);
  t.is(compiled.version, 2);
  t.deepEqual(compiled.workflows.ci.jobs[2], { deploy: { requires: ['test-a', 'test-b'], context: ['aws', 'slack'] } });
  t.deepEqual(compiled.workflows.ci.jobs[0], { test: { name: 'test-a' } });
  t.deepEqual(Object.keys(compiled), ['version', 'jobs', 'workflows']);
  // The compiled config compiles again to the same plan.
  const again = await ok(r.compiled);
  t.deepEqual(again.plan.workflows, r.plan.workflows);
  // (the plan is stored as JSON, so compare it as JSON)
  t.deepEqual(JSON.parse(JSON.stringify(again.plan.jobs)), JSON.parse(JSON.stringify(r.plan.jobs)));
});

test('every error of a file is reported at once, each with file:line:column and a stable code', async (t) => {
  const list = await errors(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    stepz: []
  test:
    steps: [{run: x}]
  lint:
    docker: [{image: x}]
    steps:
      - frobnicate
      - run: {command: x, when: sometimes}
workflows:
  w:
    jobs:
      - build
      - nope
      - lint: {requires: [ghost]}
`);
  t.deepEqual(list, [
    '.circleci/config.yml:3:3: job `build` needs a list of `steps` [RH_CONFIG_STEPS]',
    '.circleci/config.yml:5:5: unknown key `stepz` in job `build` [RH_CONFIG_UNKNOWN_KEY]',
    '.circleci/config.yml:6:3: job has no executor: give it `docker`, `machine`, `macos` or `executor` [RH_CONFIG_EXECUTOR]',
    '.circleci/config.yml:11:9: unknown step `frobnicate` (no built-in step or command of that name) [RH_CONFIG_UNKNOWN_STEP]',
    '.circleci/config.yml:12:33: `when` must be on_success, on_fail or always [RH_CONFIG_RUN]',
    '.circleci/config.yml:17:9: workflow `w` uses job `nope`, which is not defined in `jobs` [RH_CONFIG_JOB_NOT_FOUND]',
    '.circleci/config.yml:18:26: job `lint` requires `ghost`, which is not in workflow `w` [RH_CONFIG_REQUIRES_UNKNOWN]',
  ]);
});

test('requires cycles and duplicate job names are errors', async (t) => {
  const cyc = await errors(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: x}]}
  b: {docker: [{image: x}], steps: [{run: x}]}
workflows:
  w:
    jobs:
      - a: {requires: [b]}
      - b: {requires: [a]}
`);
  t.is(cyc.length, 1);
  t.regex(cyc[0], /:8:7: workflow `w` has a requires cycle: a -> b -> a \[RH_CONFIG_REQUIRES_CYCLE\]/);
  const dup = await errors(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: x}]}
workflows:
  w:
    jobs: [a, a]
`);
  t.regex(dup[0], /job name `a` appears twice in workflow `w`; give one a `name:` \[RH_CONFIG_DUPLICATE_JOB\]/);
});

test('YAML problems: syntax errors with their line, anchors and merge keys, alias bombs bounded', async (t) => {
  t.regex(
    (await errors('version: 2.1\njobs:\n  build: [\n'))[0],
    /^\.circleci\/config\.yml:4:1: Flow sequence .* \[RH_CONFIG_YAML\]$/,
  );
  t.regex((await errors('version: 2.1\njobs:\n  a: 1\n  a: 2\n'))[0], /:4:3: Map keys must be unique/);
  // Anchors under keys CircleCI ignores (`references:`, `defaults:` ...), merge keys, and anchors redefined later.
  const anchors = await ok(`version: 2.1
references:
  defaults: &defaults
    docker: [{image: x}]
    working_directory: /anchored
  env: &env {A: first}
  env2: &env {A: second}
jobs:
  build:
    <<: *defaults
    environment: *env
    steps: [checkout]
workflows:
  w: {jobs: [build]}
`);
  t.is(anchors.plan.jobs.build.working_directory, '/anchored');
  t.deepEqual(anchors.plan.jobs.build.environment, { A: 'second' });
  const bomb = ['version: 2.1', 'a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++)
    bomb.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(',')}]`,
    );
  const started = Date.now();
  const r = await compileConfig(bomb.join('\n'));
  t.false(r.ok);
  t.true(Date.now() - started < 2000);
  if (!r.ok) t.regex(r.errors[0].message, /alias|Excessive/i);
  const deep = await compileConfig(`version: 2.1\njobs: ${'['.repeat(200)}${']'.repeat(200)}\n`);
  t.false(deep.ok);
});

test('an orb that cannot be resolved is named in the error; setup configs are marked', async (t) => {
  const list = await errors(`version: 2.1
orbs:
  node: circleci/node@5
jobs:
  build:
    docker: [{image: x}]
    steps:
      - node/install-packages
      - save_cache: {key: k, paths: [x]}
workflows:
  w: {jobs: [build, node/test]}
`);
  t.deepEqual(list, [
    '.circleci/config.yml:3:9: orb circleci/node@5 cannot be resolved: no orb registry is available [RH_CONFIG_ORB_NOT_FOUND]',
  ]);
  const setup = await ok('version: 2.1\nsetup: true\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\n');
  t.true(setup.plan.setup);
  t.regex(
    (await errors('version: 2\nsetup: true\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\n'))[0],
    /setup workflows need version 2\.1/,
  );
});

test('filters: regexes match whole names, strings match exactly; tags run only jobs with tag filters', async (t) => {
  t.true(patternMatches('/feature\\/.*/', 'feature/x'));
  t.false(patternMatches('/feature/', 'feature/x'), 'a regex must match the whole name');
  t.true(patternMatches('main', 'main'));
  t.false(patternMatches('main', 'main2'));
  t.true(filterAllows(undefined, 'anything'));
  t.false(filterAllows({ only: ['main'] }, 'dev'));
  t.false(filterAllows({ ignore: ['/dev.*/'] }, 'develop'));
  t.true(filterAllows({ only: ['/.*/'], ignore: ['wip'] }, 'main'));
  const config = `version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: x}]}
  b: {docker: [{image: x}], steps: [{run: x}]}
  c: {docker: [{image: x}], steps: [{run: x}]}
workflows:
  w:
    jobs:
      - a: {filters: {branches: {only: [main, /release\\/.*/]}, tags: {only: /^v.*/}}}
      - b: {requires: [a]}
      - c: {filters: {branches: {ignore: main}}}
`;
  const names = async (ctx: object) => (await ok(config, ctx)).plan.workflows.flatMap((w) => w.jobs.map((j) => j.name));
  t.deepEqual(await names({ branch: 'main' }), ['a', 'b']);
  t.deepEqual(await names({ branch: 'release/1.0' }), ['a', 'b', 'c']);
  t.deepEqual(await names({ branch: 'dev' }), ['c']);
  // b has no tag filter, so it does not run for tags, although it requires a.
  t.deepEqual(await names({ tag: 'v1' }), ['a']);
  t.deepEqual(await names({ tag: 'nightly' }), []);
  t.regex((await errors(config.replace('/^v.*/', '"/(/"')))[0], /invalid regular expression \/\(\//);
});
