import test from 'ava';
import { configRepo, git } from '../helpers/git.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';

let server: TestServer;
let sshd: Sshd | string;
test.before(async () => {
  sshd = await startSshd();
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.close();
  if (typeof sshd !== 'string') sshd?.close();
});

test("checkout over SSH with the project's checkout key (a real sshd): config read and job checkout both use the deploy key; the key never shows", async (t) => {
  if (typeof sshd === 'string') {
    t.log(`SKIPPED: ${sshd}`);
    t.pass();
    return;
  }
  const repo = configRepo(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - checkout
      - run: echo "user $(whoami) at $(git rev-parse HEAD)"; ls ~/.ssh; cat ~/.ssh/id_rsa_checkout
workflows:
  w: {jobs: [build]}
`);
  const url = `ssh://root@127.0.0.1:${sshd.port}${repo}`;
  // Added before any key exists: the project is created unread.
  await server.addProject('gh/ssh/app', url);
  const none = await server.api('POST', '/api/v2/project/gh/ssh/app/pipeline', {});
  const erroredWithoutKey = (await server.api('GET', `/api/v2/pipeline/${none.body.id}`)).body;
  t.not(
    none.status === 201 && erroredWithoutKey.state === 'created',
    true,
    'without the key the repository cannot be read',
  );

  const key = await server.api('POST', '/api/v2/project/gh/ssh/app/checkout-key', { type: 'deploy-key' });
  t.is(key.status, 201, JSON.stringify(key.body));
  sshd.authorize(key.body['public-key']);

  const p = await server.trigger('gh/ssh/app');
  const [wf] = await server.waitForPipeline(p.id);
  const out = (await server.stepOutput('gh/ssh/app', wf.jobs[0].job_number!)).map((s) => s.output).join('');
  t.is(wf.status, 'success', out);
  t.regex(out, new RegExp(`Cloning git repository ssh://root@127\\.0\\.0\\.1:${sshd.port}`));
  t.regex(out, new RegExp(`user circleci at ${git(repo, 'rev-parse', 'HEAD')}`));
  t.regex(out, /id_rsa_checkout\nknown_hosts/);
  // The key itself (printed by the step) is masked.
  t.regex(out, /known_hosts\n\*{8}/);
  t.notRegex(out, /PRIVATE KEY/);
});
