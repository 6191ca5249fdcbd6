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

test('checkout over HTTPS-style basic auth with the project checkout token: conductor and job authenticate; the token stays out of output', async (t) => {
  const token = 'ghs_checkoutToken1234567890';
  const repo = configRepo(
    `version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - checkout
      - run: cat notes.txt; git config --get-regexp extraheader || echo "no stored credentials"; echo "var $ROUNDHOUSE_CHECKOUT_TOKEN"
workflows:
  w: {jobs: [build]}
`,
    { 'notes.txt': 'private repo\n' },
  );
  const http = await serveGitHttp(dirname(repo), token);
  t.teardown(() => http.close());
  const url = `${http.url}/${basename(repo)}/.git`;
  // Without the token the repository cannot be read, so the project is refused.
  const refused = await server.api('POST', '/api/admin/projects', { slug: 'gh/http/private', repo: url });
  t.is(refused.status, 400, JSON.stringify(refused.body));
  const added = await server.api('POST', '/api/admin/projects', {
    slug: 'gh/http/private',
    repo: url,
    checkout_token: token,
  });
  t.is(added.status, 201, JSON.stringify(added.body));
  // Kept as a project variable: listed masked.
  const vars = (await server.api('GET', '/api/v2/project/gh/http/private/envvar')).body.items;
  t.deepEqual(
    vars.map((v: { name: string }) => v.name),
    ['ROUNDHOUSE_CHECKOUT_TOKEN'],
  );
  t.false(JSON.stringify(vars).includes(token));

  const p = await server.trigger('gh/http/private');
  const [wf] = await server.waitForPipeline(p.id);
  const out = (await server.stepOutput('gh/http/private', wf.jobs[0].job_number!)).map((s) => s.output).join('');
  t.is(wf.status, 'success', out);
  t.regex(out, /private repo\nno stored credentials\nvar \*{8}/);
  t.false(out.includes(token));
  t.false(out.includes(Buffer.from(`x-access-token:${token}`).toString('base64')));
});
