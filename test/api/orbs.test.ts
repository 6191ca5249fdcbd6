import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { BIN } from '../server/process.js';

const exec = promisify(execFile);
const BUNDLE = fileURLToPath(new URL('../../../shared/conformance/orbs/', import.meta.url));
if (!existsSync(join(BUNDLE, 'INDEX.tsv')))
  console.log(`SKIP orb bundle import test: no orb bundle at ${BUNDLE} (../shared/conformance/orbs is there in CI)`);
let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

async function cli(args: string[]) {
  try {
    const r = await exec(process.execPath, [BIN, ...args, '--host', server.url, '--token', ADMIN_TOKEN], {
      maxBuffer: 32 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A small orb source tree with an included script. */
function orbSource(version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rh-orb-'));
  mkdirSync(join(dir, 'commands'));
  mkdirSync(join(dir, 'jobs'));
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, '@orb.yml'), 'version: 2.1\ndescription: greeting orb\n');
  writeFileSync(join(dir, 'scripts', 'greet.sh'), `echo "hello from greeter ${version} to $WHO"\n`);
  writeFileSync(
    join(dir, 'commands', 'greet.yml'),
    'parameters:\n  who: {type: string, default: world}\nsteps:\n  - run:\n      name: Greet\n      environment: {WHO: << parameters.who >>}\n      command: <<include(scripts/greet.sh)>>\n',
  );
  writeFileSync(
    join(dir, 'jobs', 'hello.yml'),
    'docker: [{image: cimg/base:stable}]\nparameters:\n  who: {type: string, default: job}\nsteps:\n  - greet: {who: << parameters.who >>}\n',
  );
  return dir;
}

test.serial('orb pack, publish (immutable), list and info; pipelines use the registry', async (t) => {
  const src = orbSource('1.0.0');
  const packed = await cli(['orb', 'pack', src]);
  t.is(packed.code, 0, packed.stderr);
  t.regex(packed.stdout, /command: \|\n\s+echo "hello from greeter 1\.0\.0 to \$WHO"/);
  t.is((await cli(['orb', 'publish', src, 'acme/greeter@1.0.0'])).code, 0);
  t.is((await cli(['orb', 'publish', orbSource('1.1.0'), 'acme/greeter@1.1.0'])).code, 0);
  const again = await cli(['orb', 'publish', orbSource('9.9.9'), 'acme/greeter@1.0.0']);
  t.is(again.code, 2);
  t.regex(again.stderr, /already published; published versions never change/);
  const badRef = await cli(['orb', 'publish', src, 'acme/greeter@1.0']);
  t.regex(badRef.stderr, /must be <namespace>\/<orb>@<major\.minor\.patch>/);
  const list = JSON.parse((await cli(['orb', 'list'])).stdout);
  t.deepEqual(
    list.items.find((o: { name: string }) => o.name === 'acme/greeter'),
    { name: 'acme/greeter', versions: ['1.0.0', '1.1.0'], latest: '1.1.0' },
  );
  const info = JSON.parse((await cli(['orb', 'info', 'acme/greeter@1'])).stdout);
  t.is(info.resolved, 'acme/greeter@1.1.0');
  // Writes need an admin: a wrong token is refused.
  const anon = await server.api('POST', '/api/admin/orbs', { ref: 'acme/x@1.0.0', source: 'version: 2.1\n' }, null);
  t.is(anon.status, 401);

  // A pipeline whose config uses the orb runs the orb's job and command.
  await server.addProject(
    'gh/acme/orbuser',
    configRepo(`version: 2.1
orbs:
  greeter: acme/greeter@1
jobs:
  build:
    docker: [{image: x}]
    steps: [{greeter/greet: {who: build}}]
workflows:
  w:
    jobs: [build, {greeter/hello: {who: orb-job}}]
`),
  );
  const p = await server.trigger('gh/acme/orbuser');
  t.is(p.state, 'created');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
  const byName = Object.fromEntries(wf.jobs.map((j) => [j.name, j]));
  const build = await server.stepOutput('gh/acme/orbuser', byName.build.job_number!);
  t.is(build[2].name, 'Greet');
  t.regex(build[2].output, /hello from greeter 1\.1\.0 to build/);
  const hello = await server.stepOutput('gh/acme/orbuser', byName['greeter/hello'].job_number!);
  t.regex(hello[2].output, /hello from greeter 1\.1\.0 to orb-job/);
  const cfg = (await server.api('GET', `/api/v2/pipeline/${p.id}/config`)).body;
  t.notRegex(cfg.compiled, /orbs:|greeter\/greet/);
});

test.serial(
  'the compile endpoint answers the CircleCI CLI, and config validate/process work offline and against the server',
  async (t) => {
    const config =
      'version: 2.1\norbs:\n  g: acme/greeter@1.0.0\nparameters:\n  who: {type: string, default: nobody}\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [{g/greet: {who: << pipeline.parameters.who >>}}]\nworkflows:\n  w: {jobs: [build]}\n';
    const ok = await server.api('POST', '/api/v2/compile-config-with-defaults', {
      config_yaml: config,
      options: { pipeline_parameters: '{"who": "cli"}', pipeline_values: { 'pipeline.git.branch': 'main' } },
    });
    t.is(ok.status, 200);
    t.true(ok.body.valid);
    t.deepEqual(ok.body.errors, []);
    t.regex(ok.body['output-yaml'], /WHO: cli/);
    const bad = await server.api('POST', '/api/v2/compile-config-with-defaults', {
      config_yaml: 'version: 2.1\njobs:\n  build: {steps: []}\n',
    });
    t.false(bad.body.valid);
    t.regex(bad.body.errors[0].message, /config\.yml:3:3: job has no executor/);

    const dir = mkdtempSync(join(tmpdir(), 'rh-cfg-'));
    const file = join(dir, 'config.yml');
    writeFileSync(file, config);
    const processed = await cli(['config', 'process', file, '--pipeline-parameters', '{"who": "process"}']);
    t.is(processed.code, 0, processed.stderr);
    t.regex(processed.stdout, /^version: 2\n/);
    t.regex(processed.stdout, /WHO: process/);
    t.notRegex(processed.stdout, /orbs:|parameters:|<</);
    const valid = await cli(['config', 'validate', file]);
    t.is(valid.stdout, `Config file at ${file} is valid.\n`);
    writeFileSync(file, `${config}  extra: [\n`);
    const invalid = await cli(['config', 'validate', file]);
    t.is(invalid.code, 1);
    t.regex(invalid.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: .*\\[RH_CONFIG_YAML\\]`));
  },
);

(existsSync(join(BUNDLE, 'INDEX.tsv')) ? test.serial : test.skip)(
  'orb import --from an offline bundle publishes every version once',
  async (t) => {
    const first = await cli(['orb', 'import', '--from', BUNDLE]);
    t.is(first.code, 0, first.stderr);
    t.regex(first.stdout, /imported circleci\/node@7\.2\.1/);
    const second = await cli(['orb', 'import', '--from', BUNDLE]);
    t.regex(second.stdout, /0 orb version\(s\) imported, 13 already there/);
    const list = JSON.parse((await cli(['orb', 'list'])).stdout).items;
    t.deepEqual(list.find((o: { name: string }) => o.name === 'circleci/node').versions, ['5.0.2', '7.2.1']);
    // No public registry is reachable from here: the import says so plainly.
    const online = await cli([
      'orb',
      'import',
      'circleci/node@7.2.1',
      '--registry',
      'http://127.0.0.1:1/graphql-unstable',
    ]);
    t.is(online.code, 2);
    t.regex(online.stderr, /cannot reach the orb registry http:\/\/127\.0\.0\.1:1\/graphql-unstable/);
  },
);

test.serial(
  'orb import <ref> from a public registry, against a contract fake of its GraphQL API (the real one is unreachable here)',
  async (t) => {
    const { createServer } = await import('node:http');
    const seen: unknown[] = [];
    const fake = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const q = JSON.parse(body);
        seen.push(q.variables);
        if (!/orbVersion\(orbVersionRef: \$orbVersionRef\)/.test(q.query)) {
          res.writeHead(400).end(JSON.stringify({ errors: [{ message: 'fake: unexpected query' }] }));
          return;
        }
        const known =
          q.variables.orbVersionRef === 'acme/remote@volatile' || q.variables.orbVersionRef === 'acme/remote@2';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            data: {
              orbVersion: known
                ? { version: '2.3.4', source: 'version: 2.1\ncommands:\n  hi: {steps: [{run: echo remote}]}\n' }
                : null,
            },
          }),
        );
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    t.teardown(() => fake.close());
    const url = `http://127.0.0.1:${(fake.address() as { port: number }).port}/graphql-unstable`;
    const r = await cli(['orb', 'import', 'acme/remote', '--registry', url]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'imported acme/remote@2.3.4\n');
    t.deepEqual(seen, [{ orbVersionRef: 'acme/remote@volatile' }]);
    t.regex(
      (await cli(['orb', 'import', 'acme/remote@2', '--registry', url])).stdout,
      /already published acme\/remote@2\.3\.4/,
    );
    const missing = await cli(['orb', 'import', 'acme/other@1', '--registry', url]);
    t.regex(missing.stderr, /acme\/other@1 is not in the orb registry/);
    t.is((await server.api('GET', '/api/orbs/acme/remote/2')).body.ref, 'acme/remote@2.3.4');
  },
);

const SCHEMA = fileURLToPath(
  new URL('../../../shared/conformance/schema/circleci-yaml-language-server.schema.json', import.meta.url),
);
if (!existsSync(SCHEMA)) console.log(`SKIP config --schema test: ${SCHEMA} is not here (it is in CI)`);
(existsSync(SCHEMA) ? test.serial : test.skip)(
  'config validate --schema also checks against CircleCI’s published JSON schema, at the right lines',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rh-schema-'));
    const file = join(dir, 'config.yml');
    writeFileSync(
      file,
      'version: 2.1\njobs:\n  build:\n    docker:\n      - image: cimg/base:stable\n    parallelism: lots\n    steps:\n      - checkout\nworkflows:\n  w:\n    jobs: [build]\n',
    );
    const r = await cli(['config', 'validate', file, '--schema', SCHEMA]);
    t.is(r.code, 1);
    t.regex(r.stderr, /config\.yml:6:18: \/jobs\/build\/parallelism must match pattern .*\[RH_CONFIG_SCHEMA\]/);
    t.regex(r.stderr, /config\.yml:6:18: `parallelism` must be a positive integer \[RH_CONFIG_TYPE\]/);
    writeFileSync(
      file,
      'version: 2.1\njobs:\n  build:\n    docker:\n      - image: cimg/base:stable\n    steps:\n      - checkout\nworkflows:\n  w:\n    jobs: [build]\n',
    );
    t.is((await cli(['config', 'validate', file, '--schema', SCHEMA])).code, 0);
  },
);
