import { basename, dirname } from 'node:path';
import test from 'ava';
import { commit, configRepo, git } from '../helpers/git.js';
import { serveGitHttp } from '../helpers/git-http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.close());

test('checkout over git smart HTTP: the pipeline commit on its branch, a tag, and a checkout path; CIRCLE_* match', async (t) => {
  const repo = configRepo(
    `version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - checkout
      - checkout: {path: ~/second}
      - run: |
          echo "head $(git rev-parse HEAD) branch $(git rev-parse --abbrev-ref HEAD) sha $CIRCLE_SHA1"
          echo "tag=\${CIRCLE_TAG:-none} branch=\${CIRCLE_BRANCH:-none}"
          cat version.txt
          git -C ~/second log -1 --format=%s
workflows:
  w:
    jobs:
      - build: {filters: {tags: {only: /.*/}}}
`,
    { 'version.txt': 'one\n' },
  );
  const http = await serveGitHttp(dirname(repo));
  t.teardown(() => http.close());
  const url = `${http.url}/${basename(repo)}/.git`;
  await server.addProject('gh/http/app', url);
  const first = git(repo, 'rev-parse', 'HEAD');
  commit(repo, { 'version.txt': 'two\n' }, 'second commit');
  const second = git(repo, 'rev-parse', 'HEAD');

  // A pipeline on the branch checks out its own commit, the newest.
  const p = await server.trigger('gh/http/app', { branch: 'main' });
  const [wf] = await server.waitForPipeline(p.id);
  const out = (await server.stepOutput('gh/http/app', wf.jobs[0].job_number!)).map((s) => s.output).join('');
  t.is(wf.status, 'success', out);
  t.regex(out, new RegExp(`Cloning git repository ${url.replace(/[.]/g, '\\.')}`));
  t.regex(out, new RegExp(`head ${second} branch main sha ${second}`));
  t.regex(out, /tag=none branch=main\ntwo\nsecond commit/);
  t.true(
    http.requests.some((r) => r.includes('git-upload-pack')),
    'fetched through smart HTTP',
  );

  // A tag on the first commit: the tag's commit, CIRCLE_TAG set, no branch.
  git(repo, 'tag', 'v1.0.0', first);
  const tp = await server.trigger('gh/http/app', { tag: 'v1.0.0' });
  const [twf] = await server.waitForPipeline(tp.id);
  const tout = (await server.stepOutput('gh/http/app', twf.jobs[0].job_number!)).map((s) => s.output).join('');
  t.is(twf.status, 'success', tout);
  t.regex(tout, new RegExp(`head ${first} .* sha ${first}`));
  t.regex(tout, /tag=v1\.0\.0 branch=none\none/);
});
