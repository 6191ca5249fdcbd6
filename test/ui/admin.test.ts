// Admin pages and logins in real chromium (playwright-core) against the whole platform.
// GitHub is a FAKE (its OAuth authorize page sends the browser straight back with a code).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type FakeGitHub, githubEnv, startFakeGitHub } from '../helpers/fake-github.js';
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

if (!existsSync(CHROMIUM)) {
  console.log(`admin UI tests skipped: ${CHROMIUM} does not exist (apt-get install -y chromium)`);
  test.skip(`admin UI in chromium (skipped: ${CHROMIUM} not installed)`, () => {});
} else {
  let server: TestServer | undefined;
  let gh: FakeGitHub | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  const dirs: string[] = [];
  const pageErrors: string[] = [];

  test.before(async () => {
    gh = await startFakeGitHub();
    server = await startTestServer(githubEnv(gh));
    const profile = await mkdtemp(join(tmpdir(), 'rh-chromium-'));
    dirs.push(profile);
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      acceptDownloads: true,
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });
  test.after.always(async () => {
    await browser?.close().catch(() => undefined);
    await server?.close();
    await gh?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  test.afterEach((t) => {
    t.deepEqual(pageErrors.splice(0), []);
  });

  const logInAsAdmin = async () => {
    await browser!.clearCookies();
    await page.goto(server!.url);
    await page.locator('#tok').fill(ADMIN_TOKEN);
    await page.locator('#login button').click();
    await page.locator('#who', { hasText: 'admin (admin)' }).waitFor();
  };

  test.serial('GitHub login in the browser (fake GitHub), then log out', async (t) => {
    await page.goto(server!.url);
    gh!.authorizeAs({ id: 501, login: 'octo-dev', name: 'Octo Dev', orgs: [{ org: 'acme' }] });
    await page.locator('#github-button').click();
    await page.locator('#who', { hasText: 'octo-dev' }).waitFor();
    t.is(await page.locator('#admin-link').count(), 0, 'no admin link for a member');
    const cookies = await browser!.cookies();
    const session = cookies.find((c) => c.name === 'rh_session');
    t.truthy(session);
    t.true(session!.httpOnly);
    t.is(session!.sameSite, 'Lax');
    await page.locator('#logout').click();
    await page.locator('#login-error', { hasText: 'Logged out.' }).waitFor();
    await page.goto(server!.url);
    await page.locator('#tok').waitFor();
  });

  test.serial(
    'Admin → Users: active, inactive and suspended lists; suspend, activate and approve from the page',
    async (t) => {
      await logInAsAdmin();
      await page.locator('#admin-link').click();
      await page.waitForURL(`${server!.url}/admin/users`);
      await page.locator('#users-active tr[data-login="octo-dev"]').waitFor();
      await page.locator('#users-active button[data-login="octo-dev"]', { hasText: 'Suspend' }).click();
      await page.locator('#users-suspended tr[data-login="octo-dev"]').waitFor();
      t.is(await page.locator('#users-active tr[data-login="octo-dev"]').count(), 0);
      t.is(
        (await server!.api('GET', '/api/admin/users')).body.items.find((u: { login: string }) => u.login === 'octo-dev')
          .state,
        'suspended',
      );
      await page.locator('#users-suspended button[data-login="octo-dev"]', { hasText: 'Activate' }).click();
      await page.locator('#users-active tr[data-login="octo-dev"]').waitFor();
      await page.locator('#approve-login').fill('new-hire');
      await page.locator('#approve button').click();
      await page.locator('#users-inactive tr[data-login="new-hire"]').waitFor();
      t.regex((await page.locator('#users-inactive h3').textContent()) ?? '', /Inactive \(1\)/);
    },
  );

  test.serial(
    'Admin → System settings: Suspend New Users and the Required Org Membership List are saved and take effect',
    async (t) => {
      await logInAsAdmin();
      await page.goto(`${server!.url}/admin/settings`);
      await page.locator('#suspend-new-users').check();
      await page.locator('#required-orgs').fill('acme, Initech');
      await page.locator('#save-settings').click();
      await page.locator('#settings-status', { hasText: 'Saved.' }).waitFor();
      t.is(await page.locator('#required-orgs').inputValue(), 'acme,initech');
      t.deepEqual((await server!.api('GET', '/api/admin/settings')).body, {
        suspend_new_users: true,
        required_org_membership: 'acme,initech',
      });
      // A new GitHub user now lands suspended, and the login page says why.
      await browser!.clearCookies();
      await page.goto(server!.url);
      gh!.authorizeAs({ id: 502, login: 'late-comer', orgs: [{ org: 'acme' }] });
      await page.locator('#github-button').click();
      await page.locator('#login-error', { hasText: 'waiting for an administrator' }).waitFor();
      await logInAsAdmin();
      await page.goto(`${server!.url}/admin/users`);
      await page.locator('#users-suspended tr[data-login="late-comer"]').waitFor();
      await page.goto(`${server!.url}/admin/settings`);
      await page.locator('#suspend-new-users').uncheck();
      await page.locator('#required-orgs').fill('');
      await page.locator('#save-settings').click();
      await page.locator('#settings-status', { hasText: 'Saved.' }).waitFor();
      t.deepEqual((await server!.api('GET', '/api/admin/settings')).body, {
        suspend_new_users: false,
        required_org_membership: '',
      });
    },
  );

  test.serial('Admin → Audit log: latest events shown, CSV downloaded with the guide’s columns', async (t) => {
    await logInAsAdmin();
    await page.goto(`${server!.url}/admin/audit-log`);
    await page.locator('#audit-preview tr[data-action="user.logged_in"]').first().waitFor();
    t.true((await page.locator('#audit-preview tr[data-action="user.create"]').count()) >= 1);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#audit-download').click()]);
    const file = await download.path();
    const text = readFileSync(file!, 'utf8');
    t.true(text.startsWith('action,actor,target,payload,occurred_at,metadata,id,version,scope,success,request\r\n'));
    t.regex(text, /^user\.logged_out,/m);
    t.is(download.suggestedFilename(), 'audit-log.csv');
  });
}
