import { generateKeyPairSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { configRepo } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

const jobOutput = async (slug: string, n: number) =>
  (await server.stepOutput(slug, n)).map((s) => `## ${s.name} (${s.status})\n${s.output}`).join('\n');

test('additional SSH keys: added through API v1.1 (encrypted, listed by fingerprint), put in ~/.ssh by add_ssh_keys, masked in output', async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  await server.addProject(
    'gh/keys/app',
    configRepo(`version: 2.1
jobs:
  deploy:
    docker: [{image: x}]
    steps:
      - add_ssh_keys
      - run: |
          ls ~/.ssh
          cat ~/.ssh/config
          stat -c '%a' ~/.ssh/id_rsa_*
          cat ~/.ssh/id_rsa_*
  wrong:
    docker: [{image: x}]
    steps:
      - add_ssh_keys: {fingerprints: ["00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"]}
workflows:
  w: {jobs: [deploy, wrong]}
`),
  );
  const base = '/api/v1.1/project/github/keys/app/ssh-key';
  const bad = await server.api('POST', base, { hostname: 'git.example.com', private_key: 'not a key' });
  t.is(bad.status, 400);
  t.regex(bad.body.message, /not a private key/);
  const added = await server.api('POST', base, { hostname: 'git.example.com', private_key: privateKey });
  t.is(added.status, 201);
  t.regex(added.body.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  t.regex(added.body.public_key, /^ssh-rsa AAAA/);
  const listed = await server.api('GET', base);
  t.deepEqual(
    listed.body.map((k: { fingerprint: string; hostname: string }) => [k.fingerprint, k.hostname]),
    [[added.body.fingerprint, 'git.example.com']],
  );
  t.false(JSON.stringify(listed.body).includes('PRIVATE'));
  // The stored value is encrypted.
  const rows = await server.store.projectSshKeys((await server.store.projectBySlug('gh/keys/app'))!.id);
  t.false(rows[0].private_key_enc.includes('PRIVATE KEY'));

  const p = await server.trigger('gh/keys/app');
  const wfs = await server.waitForPipeline(p.id);
  const jobs = Object.fromEntries(wfs[0].jobs.map((j) => [j.name, j]));
  const out = await jobOutput('gh/keys/app', jobs.deploy.job_number!);
  t.is(jobs.deploy.status, 'success', out);
  const fp = added.body.fingerprint.replace(/:/g, '');
  t.regex(out, new RegExp(`Added SSH key ${added.body.fingerprint} for git.example.com`));
  t.regex(out, new RegExp(`config\\nid_rsa_${fp}`));
  t.regex(out, /Host git\.example\.com\n {2}IdentityFile \/home\/circleci\/\.ssh\/id_rsa_/);
  t.regex(out, /^600$/m);
  t.regex(out, /\*{8}/);
  t.false(out.includes(privateKey.split('\n')[1]), 'the key never appears in output');

  t.is(jobs.wrong.status, 'failed');
  t.regex(await jobOutput('gh/keys/app', jobs.wrong.job_number!), /No SSH key with fingerprint 00:11:22/);

  t.is((await server.api('DELETE', base, { fingerprint: added.body.fingerprint })).status, 200);
  t.is((await server.api('DELETE', base, { fingerprint: added.body.fingerprint })).status, 404);
  t.deepEqual((await server.api('GET', base)).body, []);
});

const podman = spawnSync('podman', ['--version']).status === 0;
test("setup_remote_docker: a Docker engine of the job's own answers on DOCKER_HOST, and is gone after the job", async (t) => {
  if (!podman) {
    t.log('SKIPPED: podman is not installed (apt-get install podman runc)');
    t.pass();
    return;
  }
  await server.addProject(
    'gh/remote/app',
    configRepo(`version: 2.1
jobs:
  image:
    docker: [{image: x}]
    steps:
      - setup_remote_docker
      - run: |
          echo "host $DOCKER_HOST"
          node -e "require('http').get({socketPath: process.env.DOCKER_HOST.slice(7), path: '/v1.41/version'}, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log('engine', r.statusCode, JSON.parse(b).ApiVersion)); })"
workflows:
  w: {jobs: [image]}
`),
  );
  const p = await server.trigger('gh/remote/app');
  const [wf] = await server.waitForPipeline(p.id, 60000);
  const out = await jobOutput('gh/remote/app', wf.jobs[0].job_number!);
  t.is(wf.status, 'success', out);
  t.regex(out, /Remote Docker engine ready: DOCKER_HOST=unix:\/\/\/tmp\/\.rh-docker\.sock/);
  t.regex(out, /engine 200 1\.\d+/);
  // The engine went with the job.
  const ps = spawnSync('pgrep', ['-f', `${server.dataDir}/jobs/.*-docker`], { encoding: 'utf8' });
  t.is(ps.stdout.trim(), '');
});
