/**
 * End to end, the first run of a fresh install (issue 12): the first visitor is told that the
 * account they make is the administrator, makes it, and lands in #general; later visitors get
 * sign-in, told plainly when registration is closed or by invitation, and an invited person
 * registers with the code and lands in #general too. An empty test server (DEFAULT_CHANNEL on),
 * Debian's Chromium via playwright-core. Screenshots go to test-results/screenshots/.
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { live, launchBrowser, PASSWORD, shot } from './support.js';

const WAIT = { timeout: 20_000 };

describe('first run and registration states, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  let contexts: BrowserContext[] = [];

  async function newPage(width = 1280, height = 800): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width, height } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => console.error('[page error]', e.message));
    return page;
  }

  async function noSideScroll(page: Page): Promise<void> {
    const w = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
    expect(w.doc).toBeLessThanOrEqual(w.view);
  }

  beforeAll(async () => {
    server = await startTestServer({ env: { DEFAULT_CHANNEL: 'general' } });
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    contexts = [];
    await browser?.close();
    await server?.close();
  });

  it('greets the first visitor with the set-up screen, makes them the administrator and opens #general', async () => {
    const phone = await newPage(360, 740);
    await phone.goto(server.url);
    await phone.getByRole('heading', { name: 'Set up Relay', level: 1 }).waitFor(WAIT);
    await phone.getByText('The account you create now is the administrator').waitFor(WAIT);
    await shot(phone, 'first-run-mobile');
    await noSideScroll(phone);

    const page = await newPage();
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Set up Relay', level: 1 }).waitFor(WAIT);
    expect(await page.getByText('Welcome back').count()).toBe(0);
    await shot(page, 'first-run');
    await noSideScroll(page);

    // The two passwords must agree before anything is sent.
    await page.getByLabel('Username').fill('founder');
    await page.getByLabel('Display name').fill('The Founder');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill('something else');
    await page.getByRole('button', { name: 'Create the administrator account' }).click();
    await page.getByText('The two passwords are not the same.').waitFor(WAIT);
    expect((await server.client().get('/api/setup')).body.needsAdmin).toBe(true);

    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create the administrator account' }).click();
    // Lands in #general, as its first member, with the Admin area offered.
    await page.getByRole('heading', { name: 'general', level: 1 }).waitFor(WAIT);
    await live(page);
    expect(new URL(page.url()).pathname).toMatch(/^\/c\/[0-9a-f-]+$/);
    await page.getByText('Public · 1 member').waitFor(WAIT);
    await page.getByRole('link', { name: 'Admin' }).waitFor(WAIT);
    const { rows } = await server.ctx.pool.query(`SELECT role, display_name FROM users WHERE username = 'founder'`);
    expect(rows).toEqual([{ role: 'admin', display_name: 'The Founder' }]);
    expect((await server.client().get('/api/setup')).body).toEqual({ needsAdmin: false, registration: 'open' });
    await shot(page, 'first-run-landed');

    // The phone opened before the administrator existed: it does not make a second one, it says so.
    await phone.getByLabel('Username').fill('latecomer');
    await phone.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await phone.getByLabel('Repeat the password').fill(PASSWORD);
    await phone.getByRole('button', { name: 'Create the administrator account' }).click();
    await phone.getByRole('alert').filter({ hasText: 'Someone has just set up this server' }).waitFor(WAIT);
    await phone.getByRole('button', { name: 'Go to sign in' }).click();
    await phone.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor(WAIT);
    const { rows: accounts } = await server.ctx.pool.query(`SELECT username FROM users`);
    expect(accounts).toEqual([{ username: 'founder' }]);
  });

  it('a later visitor gets sign-in; a new account lands in #general', async () => {
    const page = await newPage();
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor(WAIT);
    expect(await page.getByTestId('registration-note').count()).toBe(0);
    await page.getByRole('tab', { name: 'Register' }).click();
    await page.getByLabel('Username').fill('newcomer');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'general', level: 1 }).waitFor(WAIT);
    await page.getByText('Public · 2 members').waitFor(WAIT);
  });

  it('says when registration is closed, and when it is by invitation; an invited person registers with the code', async () => {
    const admin = await server.login('founder', PASSWORD);
    expect((await admin.post('/api/admin/registration', { mode: 'closed' })).status).toBe(200);

    const page = await newPage();
    await page.goto(server.url);
    const note = page.getByTestId('registration-note');
    await note.waitFor(WAIT);
    expect(await note.textContent()).toContain('Registration is closed on this server');
    // Nothing to register with: only sign-in is offered.
    expect(await page.getByRole('tab', { name: 'Register' }).isVisible()).toBe(false);
    await shot(page, 'signin-registration-closed');

    const { code } = (await admin.post('/api/admin/invites')).body.invite as { code: string };
    await page.reload();
    await note.waitFor(WAIT);
    expect(await note.textContent()).toContain('by invitation only');
    await page.getByRole('tab', { name: 'Register' }).click();
    await page.getByLabel('Invite code').fill(code);
    await page.getByLabel('Username').fill('invited');
    await page.getByLabel('Password').fill(PASSWORD);
    await shot(page, 'signin-registration-invite');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'general', level: 1 }).waitFor(WAIT);

    // The code is spent: registration is closed again, and the screen says so.
    const other = await newPage(360, 740);
    await other.goto(server.url);
    await other.getByTestId('registration-note').filter({ hasText: 'Registration is closed' }).waitFor(WAIT);
    await noSideScroll(other);
  });
});
