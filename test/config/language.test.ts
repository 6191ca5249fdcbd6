import test from 'ava';
import { parse } from 'yaml';
import { errors, ok } from '../helpers/compile.js';
import { evaluate, truthy } from '../../runtime/src/config/logic.js';
import type { OrbSource, RunStep } from '../../runtime/src/config/types.js';

const commands = (r: Awaited<ReturnType<typeof ok>>, job: string) =>
  r.plan.jobs[job].steps.map((s) => (s.type === 'run' ? (s as RunStep).command : s.type));

test('commands with parameters, steps parameters, and nested commands expand into plain steps', async (t) => {
  const config = (splice: string) => `version: 2.1
commands:
  greet:
    parameters:
      who: {type: string, default: world}
      loud: {type: boolean, default: false}
    steps:
      - run: echo "hello << parameters.who >>"
      - when:
          condition: << parameters.loud >>
          steps: [{run: echo LOUD}]
  wrap:
    parameters:
      inner: {type: steps}
    steps:
      - run: echo before
      - ${splice}
      - run: echo after
jobs:
  build:
    docker: [{image: x}]
    steps:
      - greet
      - greet: {who: roundhouse, loud: true}
      - wrap:
          inner:
            - greet: {who: inner}
workflows:
  w: {jobs: [build]}
`;
  const want = [
    'echo "hello world"',
    'echo "hello roundhouse"',
    'echo LOUD',
    'echo before',
    'echo "hello inner"',
    'echo after',
  ];
  // Both ways orbs splice a steps parameter: the bare reference, and a `steps:` step.
  for (const splice of ['<< parameters.inner >>', 'steps: << parameters.inner >>']) {
    const r = await ok(config(splice));
    t.deepEqual(commands(r, 'build'), want, splice);
    t.notRegex(r.compiled, /<<|commands:|parameters/);
  }
});

test('job and executor parameters; executor parameter types; pipeline values and parameters', async (t) => {
  const r = await ok(
    `version: 2.1
parameters:
  deploy: {type: boolean, default: false}
  region: {type: enum, enum: [eu, us], default: eu}
executors:
  node:
    parameters:
      tag: {type: string, default: "18.0"}
    docker: [{image: "cimg/node:<< parameters.tag >>"}]
    environment: {FROM: executor}
jobs:
  test:
    parameters:
      tag: {type: string}
      runner: {type: executor, default: node}
      shards: {type: integer, default: 1}
    executor:
      name: node
      tag: << parameters.tag >>
    parallelism: << parameters.shards >>
    environment: {FROM: job}
    steps:
      - run: echo "<< pipeline.git.branch >> << pipeline.parameters.region >> << pipeline.number >>"
      - unless:
          condition: << pipeline.parameters.deploy >>
          steps: [{run: echo no-deploy}]
workflows:
  w:
    when:
      not: {equal: [nightly, << pipeline.git.branch >>]}
    jobs:
      - test: {tag: "20.1", shards: 3, name: test-20}
      - test: {tag: "22.0", name: test-22}
  nightly:
    when: {equal: [nightly, << pipeline.git.branch >>]}
    jobs: [{test: {tag: "1"}}]
`,
    { branch: 'main', pipeline: { number: 7, parameters: { region: 'us' } } },
  );
  t.deepEqual(
    r.plan.workflows.map((w) => w.name),
    ['w'],
  );
  const jobs = r.plan.workflows[0].jobs;
  t.deepEqual(
    jobs.map((j) => j.name),
    ['test-20', 'test-22'],
  );
  const j20 = r.plan.jobs[jobs[0].job];
  const j22 = r.plan.jobs[jobs[1].job];
  t.is(j20.executor.images[0].image, 'cimg/node:20.1');
  t.is(j22.executor.images[0].image, 'cimg/node:22.0');
  t.is(j20.parallelism, 3);
  t.deepEqual(j20.environment, { FROM: 'job' });
  t.deepEqual(commands(r, jobs[0].job), ['echo "main us 7"', 'echo no-deploy']);
  // Bad pipeline parameters and arguments are errors that say which.
  const bad = await errors(
    `version: 2.1
parameters:
  region: {type: enum, enum: [eu, us], default: eu}
jobs:
  test:
    parameters:
      tag: {type: string}
      n: {type: integer, default: 1}
    docker: [{image: x}]
    steps: [{run: echo << parameters.tag >> << parameters.nope >>}]
workflows:
  w:
    jobs:
      - test: {n: many, extra: 1}
`,
    { pipeline: { parameters: { region: 'mars', other: 1 } } },
  );
  t.true(bad.some((e) => /unexpected argument `other`/.test(e)));
  t.true(bad.some((e) => /argument `region` must be one of \["eu","us"\], got "mars"/.test(e)));
  t.true(bad.some((e) => /missing argument `tag`/.test(e)));
  t.true(bad.some((e) => /argument `n` must be an integer, got "many"/.test(e)));
  t.true(bad.some((e) => /unexpected argument `extra`/.test(e)));
  t.true(bad.some((e) => /unknown reference << parameters.nope >>/.test(e)));
});

test('matrix: names as CircleCI names them, exclude, alias, << matrix.* >> in names and requires', async (t) => {
  const r = await ok(`version: 2.1
jobs:
  build:
    parameters:
      version: {type: string}
      platform: {type: string}
    docker: [{image: x}]
    steps: [{run: echo << parameters.platform >> << parameters.version >>}]
  deploy:
    parameters:
      version: {type: string}
    docker: [{image: x}]
    steps: [{run: echo deploy << parameters.version >>}]
  report:
    docker: [{image: x}]
    steps: [{run: echo done}]
workflows:
  w:
    jobs:
      - build:
          matrix:
            parameters:
              version: ["0.1", "0.2"]
              platform: [macos, linux]
            exclude:
              - {version: "0.2", platform: macos}
      - deploy:
          name: deploy-v<< matrix.version >>
          matrix:
            alias: deploys
            parameters:
              version: ["0.1", "0.2"]
          requires: [build-linux-<< matrix.version >>]
      - report: {requires: [build, deploys]}
`);
  const jobs = r.plan.workflows[0].jobs;
  // Values in the order written, parameters in name order (platform before version), as CircleCI's reference shows.
  t.deepEqual(
    jobs.map((j) => j.name),
    ['build-macos-0.1', 'build-linux-0.1', 'build-linux-0.2', 'deploy-v0.1', 'deploy-v0.2', 'report'],
  );
  t.deepEqual(jobs.find((j) => j.name === 'deploy-v0.2')!.requires, ['build-linux-0.2']);
  t.deepEqual(jobs.find((j) => j.name === 'report')!.requires, [
    'build-macos-0.1',
    'build-linux-0.1',
    'build-linux-0.2',
    'deploy-v0.1',
    'deploy-v0.2',
  ]);
  t.deepEqual(commands(r, jobs[0].job), ['echo macos 0.1']);
  t.notRegex(r.compiled, /matrix|<</);
});

test('pre-steps and post-steps wrap the job; inline orbs with their own imports resolve by name', async (t) => {
  const r = await ok(`version: 2.1
orbs:
  tools:
    orbs:
      base:
        commands:
          hello: {steps: [{run: echo base-hello}]}
    executors:
      small: {docker: [{image: small:1}], resource_class: small}
    commands:
      setup:
        parameters: {what: {type: string, default: all}}
        steps:
          - base/hello
          - run: echo setup << parameters.what >>
    jobs:
      lint:
        executor: small
        steps: [setup, {run: echo lint}]
jobs:
  build:
    executor: tools/small
    steps: [{tools/setup: {what: build}}]
workflows:
  w:
    jobs:
      - build:
          pre-steps: [{run: echo pre}]
          post-steps: [{run: echo post}]
      - tools/lint
`);
  t.deepEqual(commands(r, 'build'), ['echo pre', 'echo base-hello', 'echo setup build', 'echo post']);
  t.deepEqual(commands(r, 'tools/lint'), ['echo base-hello', 'echo setup all', 'echo lint']);
  t.is(r.plan.jobs['tools/lint'].executor.resource_class, 'small');
  const compiled = parse(r.compiled);
  t.deepEqual(Object.keys(compiled.jobs).sort(), ['build', 'tools/lint']);
});

test('registry orbs resolve through the orb source with exact, x.y, x and volatile versions', async (t) => {
  const published: Record<string, string> = {
    'acme/hello@1.0.0': 'version: 2.1\ncommands:\n  say: {steps: [{run: echo v1.0.0}]}\n',
    'acme/hello@1.2.0': 'version: 2.1\ncommands:\n  say: {steps: [{run: echo v1.2.0}]}\n',
    'acme/hello@1.2.5': 'version: 2.1\ncommands:\n  say: {steps: [{run: echo v1.2.5}]}\n',
    'acme/hello@2.0.0': 'version: 2.1\ncommands:\n  say: {steps: [{run: echo v2.0.0}]}\n',
  };
  const { matchVersion } = await import('../../runtime/src/orbs/versions.js');
  const source: OrbSource = {
    async resolve(ref) {
      const [name, want] = ref.split('@');
      const versions = Object.keys(published)
        .filter((k) => k.startsWith(`${name}@`))
        .map((k) => k.split('@')[1]);
      const v = matchVersion(versions, want);
      return v ? { ref: `${name}@${v}`, yaml: published[`${name}@${v}`] } : undefined;
    },
  };
  const run = async (version: string) => {
    const r = await ok(
      `version: 2.1\norbs:\n  h: acme/hello@${version}\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [h/say]\n`,
      { orbs: source },
    );
    return commands(r, 'build')[0];
  };
  t.is(await run('1.0.0'), 'echo v1.0.0');
  t.is(await run('1.2'), 'echo v1.2.5');
  t.is(await run('1'), 'echo v1.2.5');
  t.is(await run('volatile'), 'echo v2.0.0');
  const missing = await errors(
    'version: 2.1\norbs:\n  h: acme/hello@3\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [h/say]\n',
    { orbs: source },
  );
  t.deepEqual(missing, [
    '.circleci/config.yml:3:6: orb acme/hello@3 not found in the orb registry [RH_CONFIG_ORB_NOT_FOUND]',
  ]);
  const badRef = await errors(
    'version: 2.1\norbs:\n  h: hello\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\n',
    { orbs: source },
  );
  t.regex(badRef[0], /orb reference `hello` must look like namespace\/orb@version/);
});

test('logic statements and CircleCI falsy values', (t) => {
  for (const v of [false, null, undefined, 0, Number.NaN, '']) t.false(truthy(v), String(v));
  for (const v of [true, 1, 'false', 'x', [], {}]) t.true(truthy(v), JSON.stringify(v));
  t.true(evaluate({ and: [true, { or: [false, 'yes'] }, { not: false }] }));
  t.false(evaluate({ equal: ['main', 'dev'] }));
  t.true(evaluate({ equal: [{ a: [1] }, { a: [1] }] }));
  t.true(evaluate({ matches: { pattern: '^v\\d+$', value: 'v12' } }));
  t.false(evaluate({ matches: { pattern: 'v\\d', value: 'xv12' } }), 'matches is anchored');
  t.throws(() => evaluate({ and: 'nope' }), { message: /`and` takes a list/ });
});

test('recursion and expansion blow-ups end in an error, fast', async (t) => {
  const started = Date.now();
  const rec = await errors(`version: 2.1
commands:
  loop: {steps: [loop]}
jobs:
  build: {docker: [{image: x}], steps: [loop]}
`);
  t.true(rec.some((e) => /nest deeper than 32 levels/.test(e)));
  const wide = await errors(`version: 2.1
jobs:
  build:
    parameters: {a: {type: string}, b: {type: string}, c: {type: string}}
    docker: [{image: x}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - build:
          matrix:
            parameters:
              a: [1,2,3,4,5,6,7,8,9,10]
              b: [1,2,3,4,5,6,7,8,9,10]
              c: [1,2,3,4,5,6,7,8,9,10]
`);
  t.true(wide.some((e) => /matrix expands to more than 256 jobs/.test(e)));
  t.true(Date.now() - started < 3000);
});

test('approval jobs and scheduled workflows compile; scheduled workflows do not run on pushes', async (t) => {
  const r = await ok(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [checkout]}
  deploy: {docker: [{image: x}], steps: [checkout]}
workflows:
  ci:
    jobs:
      - build
      - hold: {type: approval, requires: [build]}
      - deploy: {requires: [hold]}
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main]}}
    jobs: [build]
`);
  t.deepEqual(
    r.plan.workflows.map((w) => w.name),
    ['ci'],
  );
  t.deepEqual(
    r.plan.workflows[0].jobs.map((j) => [j.name, j.type]),
    [
      ['build', 'build'],
      ['hold', 'approval'],
      ['deploy', 'build'],
    ],
  );
  t.deepEqual(r.plan.schedules, [
    { workflow: 'nightly', cron: '0 3 * * *', branches: { only: ['main'], ignore: undefined } },
  ]);
});

test('flexible requires name the statuses a requirement may end in; executor resource classes are checked', async (t) => {
  const r = await ok(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [checkout]}
  cleanup: {docker: [{image: x}], steps: [checkout]}
workflows:
  w:
    jobs:
      - a
      - cleanup: {requires: [{a: [success, failed]}]}
`);
  t.deepEqual(r.plan.workflows[0].jobs[1].requireStatuses, { a: ['success', 'failed'] });
  t.deepEqual(r.plan.workflows[0].jobs[1].requires, ['a']);
  t.regex(r.compiled, /requires:\n\s+- a:\n\s+- success\n\s+- failed/);
  const bad = await errors(
    'version: 2.1\njobs:\n  foo: {docker: [{image: x}], steps: [checkout]}\n  bar: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs:\n      - foo\n      - bar:\n          requires:\n            - foo: invalid_job_status\n',
  );
  t.deepEqual(bad, [
    '.circleci/config.yml:11:20: `requires` status `invalid_job_status` is not one of success, failed, canceled, not_run [RH_CONFIG_REQUIRES_STATUS]',
  ]);
  const dual = await errors(
    'version: 2.1\njobs:\n  build:\n    machine: {image: ubuntu-2204:current, resource_class: small}\n    resource_class: small\n    steps: [checkout]\n',
  );
  t.regex(dual[0], /`resource_class` is given both inside `machine` and beside it/);
  const win = await errors(
    'version: 2.1\njobs:\n  build:\n    machine: {image: ubuntu-2204:current}\n    resource_class: windows.2xlarge\n    steps: [checkout]\n',
  );
  t.regex(win[0], /resource class `windows\.2xlarge` does not fit machine image `ubuntu-2204:current`/);
});
