/**
 * Issue 12, a person's side, in Chromium: a sign-in wait applies to the username the server
 * throttled (or to every username when it throttled the address); a notice from before a new
 * attempt does not linger; a device signed out from another of one's devices is told so;
 * signed-out devices are folded away and signing one out asks in the app's dialog; keyboard
 * focus rings reach 3:1 everywhere; the "Sent" label never covers a message at 360 px.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../../server/test/harness.js';
import { expectFocusRingsOnTab, openPage, overlaps, signInLive, type TrackedPage } from './polish-support.js';
import { appGet, launchBrowser, live, PASSWORD, shot } from './support.js';

const signInButton = (page: Page) => page.getByRole('button', { name: 'Sign in', exact: true });

/** One failed sign-in, answered (the form's error is cleared as each attempt starts). */
async function failSignIn(page: Page, username: string): Promise<number> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('not the password');
  const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/auth/login')), signInButton(page).click()]);
  await page.getByRole('alert').first().waitFor();
  return res.status();
}

describe('account polish (issue 12), in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let root: HttpClient;

  /** A fresh browser (its own device) signed in as `username`, so each test stands on its own. */
  async function signedIn(username: string): Promise<TrackedPage> {
    const tracked = await openPage(browser, server.url);
    await signInLive(tracked.page, username);
    return tracked;
  }

  beforeAll(async () => {
    server = await startTestServer({ env: { DEFAULT_CHANNEL: 'general', LOGIN_RATE_LIMIT_PER_USERNAME: '10' } });
    root = await server.register('alice', PASSWORD);
    for (const name of ['dave', 'erin', 'frank', 'grace', 'heidi']) await server.register(name, PASSWORD);
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('after 10 failed sign-ins for “nobody”, only “nobody” waits: another username signs in at once', async () => {
    const { page } = await openPage(browser, server.url);
    for (let i = 0; i < 10; i++) expect(await failSignIn(page, 'nobody')).toBe(401);
    expect(await failSignIn(page, 'nobody')).toBe(429);
    expect(await signInButton(page).isDisabled()).toBe(true);

    await page.getByLabel('Username').fill('dave');
    expect(await signInButton(page).isEnabled(), 'another username may sign in').toBe(true);
    expect(await page.getByRole('alert').filter({ hasText: 'Too many attempts' }).count()).toBe(0);
    await page.getByLabel('Username').fill('nobody');
    expect(await signInButton(page).isDisabled()).toBe(true);
    await page.getByRole('alert').filter({ hasText: /^Too many attempts for “nobody”\. Try again in \d+ minutes\.$/ }).waitFor();
    await shot(page, 'signin-throttled-username');

    await page.getByLabel('Username').fill('dave');
    await page.getByLabel('Password').fill(PASSWORD);
    await signInButton(page).click();
    await live(page);
    await page.context().close();
  });

  it('when the server throttles the address, every username waits', async () => {
    const strict = await startTestServer({ env: { LOGIN_RATE_LIMIT_PER_IP: '3' } });
    // Not an empty install (that opens on the first-run screen): sign-in is the first thing shown.
    // Registering is limited apart from sign-in, so this uses none of the address's 3 attempts.
    await strict.register('admin', PASSWORD);
    const other = await openPage(browser, strict.url);
    try {
      for (let i = 0; i < 3; i++) expect(await failSignIn(other.page, 'someone')).toBe(401);
      expect(await failSignIn(other.page, 'someone')).toBe(429);
      await other.page.getByLabel('Username').fill('anyone-else');
      await other.page.getByRole('alert').filter({ hasText: /^Too many attempts from this network\. Try again in \d+ minutes\.$/ }).waitFor();
      expect(await signInButton(other.page).isDisabled()).toBe(true);
    } finally {
      await other.page.context().close();
      await strict.close();
    }
  });

  it('re-enabled, a wrong password shows only “Wrong username or password”, not the old “disabled” notice', async () => {
    const { page } = await signedIn('erin');
    const erinId = (await appGet(page, '/api/auth/me')).user.id;
    expect((await root.post(`/api/admin/users/${erinId}/disable`)).status).toBe(200);
    const disabled = page.getByText('This account was disabled by an administrator.');
    await disabled.waitFor();
    expect((await root.post(`/api/admin/users/${erinId}/enable`)).status).toBe(200);

    expect(await failSignIn(page, 'erin')).toBe(401);
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
    expect(await disabled.count(), 'the old notice is gone').toBe(0);
    await shot(page, 'signin-fresh-error');
    await signInLive(page, 'erin');
    await page.context().close();
  });

  it('a device signed out from another of one’s devices is told so', async () => {
    const { page } = await signedIn('frank');
    const me = await appGet(page, '/api/auth/me');
    const phone = await server.login('frank', PASSWORD);
    expect((await phone.post(`/api/devices/${me.device.id}/revoke`)).status).toBe(200);
    await page.getByText('This device was signed out from another of your devices.').waitFor();
    await shot(page, 'revoked-by-self');
    await page.context().close();
  });

  it('My devices folds signed-out devices away, and signing one out asks in the app’s dialog', async () => {
    // grace has signed out of three devices, and has a phone still signed in.
    for (let i = 0; i < 3; i++) expect((await (await server.login('grace', PASSWORD)).post('/api/auth/logout')).status).toBe(204);
    await server.login('grace', PASSWORD, { deviceName: 'Phone' });
    const grace = await signedIn('grace');
    const { page } = grace;
    await page.getByRole('link', { name: 'My devices' }).click();
    await page.getByRole('heading', { name: 'My devices' }).waitFor();
    await page.locator('.device-card.current', { hasText: /Headless Chrome \d+ on Linux/ }).waitFor();
    const toggle = page.getByRole('button', { name: 'Show 3 signed-out devices' });
    await toggle.waitFor();
    expect(await page.locator('.device-card.revoked').count()).toBe(0);

    const phone = page.locator('.device-card:not(.current)', { hasText: 'Phone' });
    await phone.getByRole('button', { name: /^Sign out/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Sign out “Phone”?' });
    await dialog.waitFor();
    await shot(page, 'devices-signout-dialog');
    await dialog.getByRole('button', { name: 'Sign out' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Show 4 signed-out devices' }).click();
    expect(await page.locator('.device-card.revoked').count()).toBe(4);
    await shot(page, 'devices-signed-out-shown');
    expect(grace.nativeDialogs).toEqual([]);
    await page.context().close();
  });

  it('every keyboard focus ring is solid and at least 3:1 against its background, in the sidebar and in a dialog', async () => {
    const { page } = await signedIn('heidi');
    await page.getByRole('link', { name: /general/ }).click();
    await page.getByRole('heading', { name: 'general', level: 1 }).waitFor();
    await page.locator('body').click({ position: { x: 1, y: 1 } });
    const rings = await expectFocusRingsOnTab(page, 30);
    expect(rings.some((r) => /nav-item|footer-link|icon-button/.test(r.what) && r.background === 'rgb(21, 25, 43)'), 'a sidebar element was checked').toBe(true);
    expect(rings.some((r) => r.what.startsWith('textarea')), 'the composer was checked').toBe(true);
    // Sidebar link focused: the ring on the near-black sidebar.
    await page.getByRole('link', { name: /general/ }).focus();
    await shot(page, 'focus-ring-sidebar');

    // A dialog opened from the sidebar sits on white: its rings are the dark ones.
    await page.getByRole('button', { name: 'New channel' }).click();
    const dialog = page.getByRole('dialog', { name: /channel/i });
    await dialog.waitFor();
    const inDialog = await expectFocusRingsOnTab(page, 6);
    expect(inDialog.length).toBeGreaterThan(0);
    await shot(page, 'focus-ring-dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.context().close();
  });

  it('at 360 px, the hover “Sent” label does not cover the message', async () => {
    const { page } = await signedIn('dave');
    await page.getByRole('link', { name: /general/ }).click();
    await page.setViewportSize({ width: 360, height: 740 });
    const composer = page.getByRole('textbox', { name: /^Message / });
    const words = 'a message long enough to wrap across several lines on a narrow phone screen, right to its edge';
    for (const text of [`First: ${words}`, `Second: ${words}`]) {
      await composer.fill(text);
      await composer.press('Enter');
    }
    const own = page.locator('.message.own', { hasText: 'Second:' });
    await own.locator('.message-status[data-status="sent"]').waitFor();
    for (const message of [own, page.locator('.message.own', { hasText: 'First:' })]) {
      await message.hover();
      const label = message.locator('.message-status.sent .status-label');
      const labelBox = (await label.boundingBox())!;
      expect(labelBox.width, 'the label shows on hover').toBeGreaterThan(10);
      const status = (await message.locator('.message-status.sent').boundingBox())!;
      const body = (await message.locator('.message-body').boundingBox())!;
      expect(overlaps(status, body), `status ${JSON.stringify(status)} vs body ${JSON.stringify(body)}`).toBe(false);
      // Nor is it hidden under the hover toolbar (edit, delete).
      const tools = (await message.locator('.message-actions').boundingBox())!;
      expect(overlaps(status, tools), `status vs toolbar ${JSON.stringify(tools)}`).toBe(false);
    }
    await shot(page, 'sent-label-360');
    await page.context().close();
  });
});
