// The web UI as a user sees it: real Debian chromium driven by playwright-core against the whole platform.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { configRepo } from '../helpers/git.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const job = (name: string, command: string, extra = '') => `  ${name}:
    docker:
      - image: cimg/base:stable${extra}
    steps:
      - run:
          name: ${name} step
          command: ${JSON.stringify(command)}
`;
const config = (jobs: string, workflow: string) => `version: 2.1
jobs:
${jobs}workflows:
  main:
    jobs:
${workflow}`;

const CONFIGS = {
  // Two layers: build, then test.
  'gh/ui/happy': config(
    job('build', 'echo building') + job('test', 'echo testing'),
    '      - build\n      - test:\n          requires: [build]\n',
  ),
  'gh/ui/live': config(job('slow', 'for i in 1 2 3 4 5; do echo line-$i; sleep 0.4; done'), '      - slow\n'),
  'gh/ui/flaky': config(
    job('setup', 'echo set up') + job('flaky', 'echo boom >&2; exit 3'),
    '      - setup\n      - flaky:\n          requires: [setup]\n',
  ),
  'gh/ui/cancel': config(job('forever', 'echo started; sleep 60; echo never'), '      - forever\n'),
  'gh/ui/results': `version: 2.1
jobs:
  report:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: |
          mkdir -p out results
          echo "<h1>coverage</h1>" > out/coverage.html
          printf '<testsuite name="s"><testcase classname="math" name="adds"/><testcase classname="math" name="divides"><failure message="expected 2">got 3</failure></testcase></testsuite>' > results/junit.xml
      - store_artifacts: {path: out}
      - store_test_results: {path: results}
workflows:
  main:
    jobs: [report]
`,
  'gh/ui/parallel': config(
    job('split', 'echo "this is node $CIRCLE_NODE_INDEX"').replace('    steps:', '    parallelism: 2\n    steps:'),
    '      - split\n',
  ),
  // Line 8 is indented wrongly.
  'gh/ui/broken': `version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - run: echo hi
     oops: bad-indent
workflows:
  main:
    jobs: [build]
`,
};

interface Ctx {
  server: TestServer;
  browser: BrowserContext;
  page: Page;
  shots: string;
  pageErrors: string[];
}
let ctx: Ctx | undefined;

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.log(`UI tests skipped: ${CHROMIUM} does not exist (apt-get install -y chromium)`);
  test.skip(`web UI in chromium (skipped: ${CHROMIUM} not installed)`, () => {});
} else {
  // Kept outside ctx so that whatever was started is stopped even when the before hook fails half way.
  let server: TestServer | undefined;
  let browser: BrowserContext | undefined;
  const dirs: string[] = [];

  test.before(async () => {
    server = await startTestServer({ ROUNDHOUSE_EXECUTOR_SLOTS: '3' });
    for (const [slug, yaml] of Object.entries(CONFIGS)) await server.addProject(slug, configRepo(yaml));
    const profile = await mkdtemp(join(tmpdir(), 'rh-chromium-'));
    const shots = await mkdtemp(join(tmpdir(), 'rh-shots-'));
    dirs.push(profile);
    if (!process.env.RH_KEEP_SHOTS) dirs.push(shots);
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1200, height: 800 },
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(15000);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => {
      pageErrors.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    ctx = { server, browser, page, shots, pageErrors };
  });

  test.after.always(async () => {
    await browser?.close().catch(() => undefined);
    await server?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test.afterEach(async (t) => {
    // Uncaught script errors or alert() boxes are bugs a user would see.
    t.deepEqual(ctx?.pageErrors.splice(0), []);
  });

  const statusOf = (page: Page, sel: string) =>
    page.locator(`${sel} [data-status]`).first().getAttribute('data-status');
  /** Jobs in the pipeline page's graph as name → status. */
  const graph = (page: Page, workflowSel = '.workflow') =>
    page
      .locator(`${workflowSel} .job`)
      .evaluateAll((els) =>
        Object.fromEntries(
          els.map((e) => [
            e.querySelector('strong')?.textContent,
            e.querySelector('[data-status]')?.getAttribute('data-status'),
          ]),
        ),
      );
  const waitGraph = async (page: Page, want: Record<string, string>, workflowSel = '.workflow') => {
    const sorted = (o: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(o).sort()));
    const end = Date.now() + 15000;
    let got: Record<string, unknown> = {};
    while (Date.now() < end) {
      got = await graph(page, workflowSel).catch(() => ({}));
      if (sorted(got) === sorted(want)) return;
      await page.waitForTimeout(50);
    }
    throw new Error(`graph ${workflowSel} shows ${sorted(got)}, expected ${sorted(want)}`);
  };
  const pipelineOf = async (slug: string, number: number) =>
    (await ctx!.server.api('GET', `/api/v2/project/${slug}/pipeline/${number}`)).body;
  /** Triggers through the API and opens the pipeline page by URL, as a user following a link would. */
  const openTriggered = async (slug: string) => {
    const p = await ctx!.server.trigger(slug);
    // The token parameter keeps each test runnable alone (--match); the app drops it from the address.
    await ctx!.page.goto(`${ctx!.server.url}/pipelines/${slug}/${p.number}?token=${ADMIN_TOKEN}`);
    return p;
  };

  test.serial('log in, open a project, trigger a pipeline and watch its workflow graph succeed', async (t) => {
    const { page, server } = ctx!;
    await page.goto(`${server.url}/?token=${ADMIN_TOKEN}`);
    await page.locator('#who', { hasText: 'admin (admin)' }).waitFor();
    t.is(new URL(page.url()).search, '', 'the token is taken out of the address bar');
    t.is(await page.evaluate(() => localStorage.getItem('roundhouse-token')), ADMIN_TOKEN);
    await page.locator('h2', { hasText: 'Projects' }).waitFor();
    const links = await page.locator('#main table a').allTextContents();
    t.deepEqual(links.sort(), Object.keys(CONFIGS).sort());

    await page.click('a[href="/projects/gh/ui/happy"]');
    await page.waitForURL(`${server.url}/projects/gh/ui/happy`);
    await page.fill('#branch', 'main');
    await page.click('#trigger-btn');
    await page.waitForURL(`${server.url}/pipelines/gh/ui/happy/1`);
    await page.locator('h2', { hasText: 'Pipeline #1' }).waitFor();
    await page.locator('.workflow .job').first().waitFor();
    // Updates arrive by themselves (server-sent events), no reload.
    await waitGraph(page, { build: 'success', test: 'success' });
    // The graph and the workflow badge come from separate requests: wait for the badge too.
    await page.locator('.workflow h3 [data-status="success"]').waitFor();
    // A finished workflow offers a rerun; "from failed" only where something failed.
    t.is(await page.locator('.workflow button[data-act="rerun"]').count(), 1);
    t.is(await page.locator('.workflow button[data-act="rerun-failed"]').count(), 0);
    t.is(await page.locator('.workflow').count(), 1);
    t.regex((await page.locator('.workflow h3').first().textContent()) ?? '', /^main /, 'the workflow is named');
    // Two layers: build left of test.
    // (Measured in one go: a live refresh may redraw the graph at any moment.)
    const [b, tt] = await page.evaluate(() =>
      ['build', 'test'].map((name) => {
        const el = [...document.querySelectorAll('.job')].find((e) => e.querySelector('strong')?.textContent === name);
        const r = el!.getBoundingClientRect();
        return { left: r.left, right: r.right };
      }),
    );
    t.true(b.right <= tt.left, 'test is drawn to the right of build, the job it requires');
    // The API agrees with what the page shows.
    const p = await pipelineOf('gh/ui/happy', 1);
    const [wf] = await server.waitForPipeline(p.id);
    t.deepEqual(Object.fromEntries(wf.jobs.map((j) => [j.name, j.status])), await graph(page));

    // Back on the project page, the pipeline is listed with its workflow status.
    await page.click('#crumbs a[href="/projects/gh/ui/happy"]');
    await page.locator('tr[data-pipeline="1"] [data-status="success"]').waitFor();
    t.is(await page.locator('tr[data-pipeline="1"]').locator('td').nth(2).textContent(), 'main');
  });

  test.serial('job output appears live while the job runs', async (t) => {
    const { page, server, shots } = ctx!;
    const streams: string[] = [];
    const onRequest = (r: { url(): string }) => r.url().includes('/api/ui/jobs/') && streams.push(r.url());
    page.on('request', onRequest);
    const p = await openTriggered('gh/ui/live');
    // Open the job from the graph as soon as it has a number (queued or just started).
    const link = page.locator('a.job', { hasText: 'slow' });
    await link.waitFor();
    await link.click();
    await page.waitForURL(/\/workflows\/[^/]+\/jobs\/\d+$/);
    await page.locator('#job-status [data-status]').waitFor();
    const output = page.locator('details.step[data-step] pre.output');
    // A first line is on screen while the job still runs and before the last line was printed.
    await page.waitForFunction(() => {
      const text = [...document.querySelectorAll('details.step pre.output')].map((e) => e.textContent).join('');
      const status = document.querySelector('#job-status [data-status]')?.getAttribute('data-status');
      return text.includes('line-1') && !text.includes('line-5') && status === 'running';
    });
    t.is(await statusOf(page, '#job-status'), 'running');
    t.false(await page.locator('#cancel-job').isDisabled(), 'a running job can be canceled');
    // The rest follows on the same page without reload, and the status ends in success.
    await page.locator('#job-status [data-status="success"]').waitFor();
    await page.waitForFunction(() =>
      [...document.querySelectorAll('details.step pre.output')].some((e) => e.textContent?.includes('line-5')),
    );
    const text = (await output.allTextContents()).join('');
    t.is(text.match(/line-\d/g)?.join(' '), 'line-1 line-2 line-3 line-4 line-5', 'each line exactly once, in order');
    const step = page.locator('details.step', { hasText: 'slow step' });
    t.is(await statusOf(page, 'details.step:has-text("slow step") summary'), 'success');
    t.true(await step.evaluate((e) => (e as HTMLDetailsElement).open));
    t.true(await page.locator('#cancel-job').isDisabled(), 'a finished job cannot be canceled');
    await page.screenshot({ path: join(shots, 'live-job.png'), fullPage: true });
    t.log(`screenshot: ${join(shots, 'live-job.png')} (kept only with RH_KEEP_SHOTS=1)`);
    const [wf] = await server.waitForPipeline(p.id);
    t.is(wf.status, 'success');
    page.off('request', onRequest);
    // The page followed the job over one stream; it was not rebuilt (and re-subscribed) on every change.
    t.is(streams.length, 1, streams.join('\n'));
  });

  test.serial('a failed job shows failed, and "Rerun from failed" starts a new workflow', async (t) => {
    const { page, server } = ctx!;
    const p = await openTriggered('gh/ui/flaky');
    await waitGraph(page, { setup: 'success', flaky: 'failed' });
    await page.locator('.workflow h3 [data-status="failed"]').waitFor();
    // The failed job's own page says so, and shows what it printed on stderr.
    await page.click('a.job:has-text("flaky")');
    await page.locator('#job-status [data-status="failed"]').waitFor();
    await page.locator('details.step pre.output .err', { hasText: 'boom' }).waitFor();
    t.is(await statusOf(page, 'details.step:has-text("flaky step") summary'), 'failed');

    await page.goBack();
    await page.waitForURL(`${server.url}/pipelines/gh/ui/flaky/${p.number}`);
    const first = page.locator('.workflow').first();
    await first.locator('[data-status="failed"]').first().waitFor();
    const firstId = await first.getAttribute('data-workflow');
    await first.locator('button[data-act="rerun-failed"]').click();
    await page.locator('.workflow').nth(1).waitFor();
    const wfs = (await server.api('GET', `/api/v2/pipeline/${p.id}/workflow`)).body.items as { id: string }[];
    t.is(wfs.length, 2);
    const rerunId = wfs.find((w) => w.id !== firstId)!.id;
    const rerun = `.workflow[data-workflow="${rerunId}"]`;
    // The new workflow carries the succeeded job over and runs the failed one again (and it fails again).
    await waitGraph(page, { setup: 'success', flaky: 'failed' }, rerun);
    const jobs = (await server.api('GET', `/api/v2/workflow/${rerunId}/job`)).body.items;
    const before = (await server.api('GET', `/api/v2/workflow/${firstId}/job`)).body.items;
    const num = (list: { name: string; job_number: number }[], name: string) =>
      list.find((j) => j.name === name)?.job_number;
    t.is(num(jobs, 'setup'), num(before, 'setup'), 'setup was carried over, not run again');
    t.not(num(jobs, 'flaky'), num(before, 'flaky'), 'flaky ran again as a new job');
    t.is(await page.locator('.workflow').count(), 2);
  });

  test.serial('the cancel button stops a running job', async (t) => {
    const { page, server } = ctx!;
    const p = await openTriggered('gh/ui/cancel');
    await page.locator('a.job', { hasText: 'forever' }).click();
    await page.locator('details.step pre.output', { hasText: 'started' }).waitFor();
    t.is(await statusOf(page, '#job-status'), 'running');
    const started = Date.now();
    await page.click('#cancel-job');
    await page.locator('#job-status [data-status="canceled"]').waitFor();
    t.true(Date.now() - started < 10000, 'canceled promptly, not after the 60 s sleep');
    t.true(await page.locator('#cancel-job').isDisabled());
    t.false((await page.locator('details.step pre.output').allTextContents()).join('').includes('never'));
    const [wf] = await server.waitForPipeline(p.id, 15000);
    t.is(wf.status, 'canceled');
    t.is(wf.jobs[0].status, 'canceled');
  });

  test.serial('an invalid config shows its error with the line number on the pipeline page', async (t) => {
    const { page, server } = ctx!;
    await page.goto(`${server.url}/projects/gh/ui/broken?token=${ADMIN_TOKEN}`);
    await page.fill('#branch', 'main');
    // Someone else triggers meanwhile: the list updates live and the form keeps what the user typed.
    await server.trigger('gh/ui/broken');
    await page.locator('tr[data-pipeline="1"] [data-status="errored"]').waitFor();
    t.is(await page.inputValue('#branch'), 'main');
    await page.click('#trigger-btn');
    await page.waitForURL(`${server.url}/pipelines/gh/ui/broken/2`);
    const errors = page.locator('#pipeline-errors');
    await errors.waitFor();
    const text = (await errors.textContent()) ?? '';
    t.regex(text, /\.circleci\/config\.yml:8:\d+: .*\[RH_CONFIG_YAML\]/);
    t.is(await statusOf(page, 'h2'), 'errored');
    t.is(await page.locator('.workflow').count(), 0);
    t.is((await pipelineOf('gh/ui/broken', 2)).vcs.branch, 'main');
    // The project page lists the pipeline as errored.
    await page.click('#crumbs a[href="/projects/gh/ui/broken"]');
    await page.locator('tr[data-pipeline="2"] [data-status="errored"]').waitFor();
  });

  test.serial('a parallel job shows one node at a time, with tabs for the others', async (t) => {
    const { page, server } = ctx!;
    const p = await server.trigger('gh/ui/parallel');
    const [wf] = await server.waitForPipeline(p.id);
    const n = wf.jobs[0].job_number;
    await page.goto(
      `${server.url}/pipelines/gh/ui/parallel/${p.number}/workflows/${wf.id}/jobs/${n}?token=${ADMIN_TOKEN}`,
    );
    await page.locator('.nodes strong', { hasText: 'Node 0' }).waitFor();
    await page.locator('pre.output', { hasText: 'this is node 0' }).waitFor();
    t.is(await page.locator('pre.output', { hasText: 'this is node 1' }).count(), 0);
    await page.click('.nodes a[data-node="1"]');
    await page.locator('.nodes strong', { hasText: 'Node 1' }).waitFor();
    await page.locator('pre.output', { hasText: 'this is node 1' }).waitFor();
    t.is(await page.locator('pre.output', { hasText: 'this is node 0' }).count(), 0);
    t.is(new URL(page.url()).search, '?node=1');
  });

  test.serial("a finished job lists its artifacts (opening with the user's token) and its test results", async (t) => {
    const { page, server } = ctx!;
    const p = await server.trigger('gh/ui/results');
    const [wf] = await server.waitForPipeline(p.id);
    const n = wf.jobs[0].job_number;
    await page.goto(
      `${server.url}/pipelines/gh/ui/results/${p.number}/workflows/${wf.id}/jobs/${n}?token=${ADMIN_TOKEN}`,
    );
    const link = page.locator('#results .artifacts a', { hasText: 'out/coverage.html' });
    await link.waitFor();
    await page.locator('.tests-summary', { hasText: '2 tests: 1 passed, 1 failed, 0 skipped' }).waitFor();
    t.regex((await page.locator('.test-failure summary').textContent()) ?? '', /math › divides/);
    // The link works in the browser as it is (the API token travels in the query), served as text.
    const res = await page.request.get(
      (await link.getAttribute('href'))!.startsWith('http')
        ? (await link.getAttribute('href'))!
        : `${server.url}${await link.getAttribute('href')}`,
    );
    t.is(res.status(), 200);
    t.is(res.headers()['content-type'], 'text/plain; charset=utf-8');
    t.is(await res.text(), '<h1>coverage</h1>\n');
  });
}
