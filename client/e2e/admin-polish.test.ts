/**
 * Issue 12, the admin's side, in Chromium: the Users table with a device's 300-character user
 * agent fits at 1280 and 360 px; the admin's own row is online when /admin is opened directly
 * and the list follows people live (a new account, a disabled one); every question is the
 * app's dialog, never `confirm()`; a device an admin signs out is told so; signed-out devices
 * are folded away; the audit log names devices and people. The built app on a real test server
 * (Postgres; #general on, as in a real install), one browser context per person.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../../server/test/harness.js';
import { nodeRealtime, waitForState } from '../test/node-realtime.js';
import { expectInViewport, expectNoSidewaysScroll, LONG_UA, openPage, signInLive, type TrackedPage } from './polish-support.js';
import { launchBrowser, live, PASSWORD, shot } from './support.js';

describe('admin polish (issue 12), in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let root: HttpClient;
  let bob: HttpClient;
  let admin: TrackedPage;
  const stoppers: Array<() => void> = [];

  const row = (page: Page, username: string) => page.locator(`tr[data-username="${username}"]`);
  const status = (page: Page, username: string) => row(page, username).locator('td[data-label="Status"]');

  beforeAll(async () => {
    server = await startTestServer({ env: { DEFAULT_CHANNEL: 'general' } });
    root = await server.register('alice', PASSWORD);
    bob = await server.register('bob', PASSWORD);
    // bob signs in from a machine with a very long user agent, and has signed out of three others.
    const res = await server.client().post('/api/auth/login', { username: 'bob', password: PASSWORD }, { 'user-agent': LONG_UA });
    expect(res.status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const old = await server.login('bob', PASSWORD);
      expect((await old.post('/api/auth/logout')).status).toBe(204);
    }
    browser = await launchBrowser();
    admin = await openPage(browser, server.url);
    await signInLive(admin.page, 'alice');
  }, 180_000);

  afterAll(async () => {
    for (const stop of stoppers) stop();
    await browser?.close();
    await server?.close();
  });

  it('opened directly, /admin shows the admin herself online, and follows new and disabled accounts live', async () => {
    const { page } = admin;
    await page.goto(`${server.url}/admin`);
    await page.getByRole('heading', { name: 'Administration' }).waitFor();
    await live(page);
    await status(page, 'alice').getByText('Online').waitFor();

    // carol registers and connects elsewhere: her row appears, online, without a reload.
    const carol = await server.register('carol', PASSWORD);
    const { rt } = nodeRealtime(server.url, carol);
    stoppers.push(() => rt.disconnect());
    rt.connect();
    await waitForState(rt, 'live');
    await status(page, 'carol').getByText('Online').waitFor();

    // Another admin session disables carol: her sockets close, and the row says so live.
    expect((await root.post(`/api/admin/users/${carol.userId}/disable`)).status).toBe(200);
    await status(page, 'carol').getByText('Disabled').waitFor();
    await shot(page, 'admin-live-users');
  });

  it('with a 300-character user agent expanded, nothing scrolls sideways and every button is on screen (1280 and 360 px)', async () => {
    const { page } = admin;
    const bobRow = row(page, 'bob');
    await bobRow.getByRole('button', { name: 'Devices' }).click();
    const devices = page.locator('.devices-row');
    await devices.getByText(LONG_UA.slice(0, 40)).waitFor();

    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 360, height: 740 },
    ]) {
      await page.setViewportSize(viewport);
      await devices.getByText(LONG_UA.slice(0, 40)).waitFor();
      await expectNoSidewaysScroll(page, ['section.page', '.admin-table']);
      await expectInViewport(page, page.getByRole('heading', { name: 'Administration' }));
      await expectInViewport(page, bobRow.getByRole('button', { name: 'Disable' }));
      const signOuts = devices.getByRole('button', { name: /^Sign out/ });
      expect(await signOuts.count()).toBe(2);
      for (let i = 0; i < 2; i++) await expectInViewport(page, signOuts.nth(i));
      await devices.locator('.ua').first().scrollIntoViewIfNeeded();
      await shot(page, `admin-devices-${viewport.width}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await live(page);

    // Signed-out devices are folded away until asked for.
    const toggle = devices.getByRole('button', { name: 'Show 3 signed-out devices' });
    await toggle.waitFor();
    expect(await devices.locator('.device-card.revoked').count()).toBe(0);
    await toggle.click();
    expect(await devices.locator('.device-card.revoked').count()).toBe(3);
    await devices.getByRole('button', { name: 'Hide 3 signed-out devices' }).click();
    expect(await devices.locator('.device-card.revoked').count()).toBe(0);
  });

  it('an admin signs out a device with the app’s dialog (never confirm()); the device is told an administrator did it', async () => {
    const bobBrowser = await openPage(browser, server.url);
    await signInLive(bobBrowser.page, 'bob');
    const { page } = admin;
    await page.reload();
    await live(page);
    await row(page, 'bob').getByRole('button', { name: 'Devices' }).click();
    const card = page.locator('.devices-row .device-card', { hasText: /Headless Chrome \d+ on Linux/ }).filter({ has: page.locator('.pill.success') });
    await card.waitFor();
    await card.getByRole('button', { name: /^Sign out/ }).click();
    const dialog = page.getByRole('dialog', { name: /^Sign out “Headless Chrome \d+ on Linux”\?$/ });
    await dialog.waitFor();
    await shot(page, 'admin-revoke-dialog');
    await dialog.getByRole('button', { name: 'Sign out' }).click();
    await dialog.waitFor({ state: 'detached' });

    await bobBrowser.page.getByText('An administrator signed this device out.').waitFor();
    await shot(bobBrowser.page, 'revoked-by-admin');
    expect(admin.nativeDialogs).toEqual([]);
    expect(bobBrowser.nativeDialogs).toEqual([]);
    await bobBrowser.page.context().close();
  });

  it('disabling asks in the app’s dialog: Cancel changes nothing, Disable disables', async () => {
    const { page } = admin;
    const bobRow = row(page, 'bob');
    await bobRow.getByRole('button', { name: 'Disable' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable bob?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await status(page, 'bob').textContent()).not.toContain('Disabled');

    await bobRow.getByRole('button', { name: 'Disable' }).click();
    await dialog.getByRole('button', { name: 'Disable' }).click();
    await status(page, 'bob').getByText('Disabled').waitFor();
    await bobRow.getByRole('button', { name: 'Enable' }).click();
    await bobRow.getByRole('button', { name: 'Disable' }).waitFor();
    expect(admin.nativeDialogs).toEqual([]);
  });

  it('the audit log names the device and its owner, and the people, instead of bare ids', async () => {
    const { page } = admin;
    await page.getByRole('tab', { name: 'Audit log' }).click();
    const table = page.getByRole('table', { name: /Audit log/ });
    await table.waitFor();
    const revoke = table.locator('tr', { hasText: 'device.revoke' }).filter({ hasText: 'Headless Chrome' }).first();
    await revoke.locator('td[data-label="Target"]', { hasText: /^Headless Chrome \d+ on Linux of bob @bob$/ }).waitFor();
    expect(await revoke.locator('td[data-label="Who"]').textContent()).toBe('alice');
    await table.locator('tr', { hasText: 'user.disable' }).locator('td[data-label="Target"]', { hasText: 'carol @carol' }).first().waitFor();
    await shot(page, 'admin-audit-names');
  });
});
