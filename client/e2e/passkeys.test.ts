/**
 * End to end, passkeys (SPEC PK1–PK7): Chromium's virtual WebAuthn authenticator (over CDP: a
 * platform authenticator with resident keys and user verification) stands in for a fingerprint
 * reader. alice adds a passkey on My devices (her password first), renames it, signs out and back in with it without
 * typing a username, removes it with the in-app question, and then cannot sign in with it.
 * The page is opened at http://localhost:<port>: browsers allow no passkey on a bare IP address.
 */
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceNameFrom } from '../../server/devices/naming.js';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { launchBrowser, live, PASSWORD, shot } from './support.js';

describe('passkeys, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let base: string;
  const nativeDialogs: string[] = [];
  let aliceId: string;

  const db = <T extends Record<string, unknown>>(text: string, values: unknown[] = []) =>
    server.ctx.pool.query<T>(text, values).then((r) => r.rows);
  const passkeyButton = () => page.getByRole('button', { name: 'Sign in with a passkey' });
  const openDevices = async () => {
    await page.getByRole('link', { name: 'My devices' }).click();
    await page.getByRole('heading', { name: 'My devices', level: 1 }).waitFor();
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  };

  beforeAll(async () => {
    server = await startTestServer();
    aliceId = (await server.register('alice', PASSWORD)).userId; // the first account: an admin
    await server.register('bob', PASSWORD);
    base = server.url.replace('127.0.0.1', 'localhost');
    browser = await launchBrowser();
    ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await ctx.newPage();
    page.setDefaultTimeout(10_000);
    // Nothing here may ask with window.confirm: removal asks in the app's own dialog.
    page.on('dialog', (d) => {
      nativeDialogs.push(d.message());
      void d.dismiss();
    });
    cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('PK1/PK6: alice adds a passkey from My devices, sees it listed, and renames it', async () => {
    await page.goto(base);
    await passkeyButton().waitFor();
    await shot(page, 'passkey-signin');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await live(page);
    await openDevices();
    await page.getByText('You have no passkeys yet.').waitFor();

    // The password first, in the app's own dialog (PK7): a wrong one is said at the field, and no ceremony starts.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const ask = page.getByRole('dialog', { name: 'Add a passkey' });
    const password = ask.getByLabel('Your password');
    expect(await password.evaluate((el) => el === document.activeElement)).toBe(true);
    await ask.getByRole('button', { name: 'Continue' }).click();
    await ask.getByText('Enter your password.').waitFor();
    await password.fill('not my password');
    const [refused] = await Promise.all([page.waitForResponse('**/api/auth/passkeys/options'), password.press('Enter')]);
    expect(refused.status()).toBe(401);
    await ask.getByText('That is not your current password.').waitFor();
    await shot(page, 'passkey-add-password');
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials).toHaveLength(0);
    // The password goes in the body only, never in the URL.
    expect(refused.url()).not.toMatch(/password/);
    await password.fill(PASSWORD);
    await ask.getByRole('button', { name: 'Continue' }).click();
    await ask.waitFor({ state: 'detached' });
    const list = page.getByRole('list', { name: 'Your passkeys' });
    // Named after the browser it was made in, without the version it outlives ("Headless Chrome on Linux"); never used to sign in yet.
    const browserName = deviceNameFrom(await page.evaluate(() => navigator.userAgent), { version: false });
    expect(browserName).toMatch(/Chrome on Linux$/);
    await list.getByText(browserName, { exact: true }).waitFor();
    await list.getByText(/Not used yet/).waitFor();
    await page.getByRole('heading', { name: 'Passkeys (1)' }).waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0].isResidentCredential).toBe(true);
    expect(credentials[0].rpId).toBe('localhost');

    await page.getByRole('button', { name: `Rename ${browserName}` }).click();
    const name = page.getByLabel('Passkey name');
    expect(await name.evaluate((el) => el === document.activeElement)).toBe(true);
    await name.fill('   ');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('A name is 1 to 100 characters.').waitFor();
    await name.fill('Work laptop');
    await page.getByRole('button', { name: 'Save' }).click();
    await list.getByText('Work laptop', { exact: true }).waitFor();
    expect(await db('SELECT name FROM passkeys WHERE user_id = $1', [aliceId])).toEqual([{ name: 'Work laptop' }]);
    await shot(page, 'passkeys-section');
  }, 60_000);

  it('PK3/PK4: signed out, alice signs in with the passkey and no username; her new device says passkey; the counter moved; the assertion cannot be replayed', async () => {
    const [before] = await db<{ counter: string }>('SELECT counter FROM passkeys WHERE user_id = $1', [aliceId]);
    await signOut();
    expect(await page.getByLabel('Username').inputValue()).toBe('');

    const loginRequest = page.waitForRequest((r) => r.url().endsWith('/api/auth/passkey/login'));
    await passkeyButton().click();
    const request = await loginRequest;
    expect((await request.response())?.status()).toBe(200);
    await live(page);

    await openDevices();
    const current = page.locator('.device-card.current');
    await current.getByText(/Signed in with a passkey/).waitFor();
    const rows = await db<{ signed_in_with: string; key_thumbprint: string | null }>(
      'SELECT signed_in_with, key_thumbprint FROM devices WHERE user_id = $1 AND revoked_at IS NULL',
      [aliceId],
    );
    expect(rows.map((r) => r.signed_in_with)).toContain('passkey');
    // A passkey sign-in binds its new device to a device key, as a password sign-in does.
    expect(rows.find((r) => r.signed_in_with === 'passkey')?.key_thumbprint).toEqual(expect.any(String));
    await current.getByText('Bound').waitFor();
    const [after] = await db<{ counter: string; last_used_at: Date | null }>('SELECT counter, last_used_at FROM passkeys WHERE user_id = $1', [aliceId]);
    expect(Number(after.counter)).toBeGreaterThan(Number(before.counter));
    expect(after.last_used_at).not.toBeNull();
    await page.getByRole('list', { name: 'Your passkeys' }).getByText(/Last used just now/).waitFor();
    await shot(page, 'devices-signed-in-with-passkey');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('button', { name: 'Remove Work laptop' }).scrollIntoViewIfNeeded();
    await shot(page, 'passkeys-section-mobile');
    await page.setViewportSize({ width: 1280, height: 800 });

    // The captured assertion, replayed with the ceremony cookie it was sent with, and with this browser's cookies: refused.
    const body = request.postData()!;
    const cookie = (await request.allHeaders()).cookie ?? '';
    expect(cookie).toMatch(/relay_passkey=/);
    const replay = await fetch(`${base}/api/auth/passkey/login`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: { code: 'invalid_credentials', message: expect.stringMatching(/expired or was already used/) } });
    const again = await ctx.request.post(`${base}/api/auth/passkey/login`, { data: JSON.parse(body), headers: { origin: base } });
    expect(again.status()).toBe(401);
    expect(Number((await db<{ counter: string }>('SELECT counter FROM passkeys WHERE user_id = $1', [aliceId]))[0].counter)).toBe(Number(after.counter));
  }, 60_000);

  it('PK6: bob cannot remove alice’s passkey (404), and it stays', async () => {
    const [{ id }] = await db<{ id: string }>('SELECT id FROM passkeys WHERE user_id = $1', [aliceId]);
    const bob = await server.login('bob');
    const res = await bob.request('DELETE', `/api/auth/passkeys/${id}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect(await db('SELECT id FROM passkeys WHERE user_id = $1', [aliceId])).toEqual([{ id }]);
  });

  it('says in words when the authenticator does not verify the user, and when the page is at a bare IP address', async () => {
    await signOut();
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    await passkeyButton().click();
    await page.getByRole('alert').getByText(/cancelled or not allowed/).waitFor({ timeout: 20_000 });
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });

    const byAddress = await ctx.newPage();
    await byAddress.goto(server.url);
    await byAddress.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await byAddress.getByRole('alert').getByText(/set WEBAUTHN_RP_ID or use a host name/).waitFor();
    await byAddress.close();
  }, 60_000);

  it('PK6: alice removes the passkey with the in-app question; signing in with it then fails, saying why; audit rows record it all', async () => {
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await live(page);
    await openDevices();

    await page.getByRole('button', { name: 'Remove Work laptop' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove this passkey?' });
    await dialog.getByText(/“Work laptop” will no longer sign you in/).waitFor();
    await shot(page, 'passkey-remove-dialog');
    await dialog.getByRole('button', { name: 'Remove passkey' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('You have no passkeys yet.').waitFor();
    expect(await db('SELECT id FROM passkeys WHERE user_id = $1', [aliceId])).toEqual([]);
    expect(nativeDialogs).toEqual([]);

    // The authenticator still holds the credential; the server no longer knows it.
    await signOut();
    await passkeyButton().click();
    await page.getByRole('alert').getByText(/not registered on this server \(it may have been removed\)/).waitFor();
    await shot(page, 'passkey-signin-removed');
    expect(await page.locator('.connection').count()).toBe(0);

    const audit = await db<{ action: string; actor_id: string }>(`SELECT action, actor_id FROM audit_events WHERE target_type = 'passkey' ORDER BY id`);
    expect(audit).toEqual([
      { action: 'passkey.register', actor_id: aliceId },
      { action: 'passkey.rename', actor_id: aliceId },
      { action: 'passkey.delete', actor_id: aliceId },
    ]);
  }, 60_000);
});
