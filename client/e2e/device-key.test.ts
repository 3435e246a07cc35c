/**
 * End to end, proof of possession in the browser (CONTRACT "(v2) Proof of possession",
 * client/src/auth/device-key.ts): a sign-up binds the device to a non-extractable WebCrypto key
 * kept in IndexedDB; reloads, token refreshes and every /api request (POP8) prove with it; the
 * session's cookies copied into another browser get no answer from the API, no token and no live
 * socket, and do not end the session; sign-out removes the key; with
 * DEVICE_BINDING=required a browser sign-up still works, and a browser that cannot keep a key is
 * told why. Same set-up as the other e2e tests: the built app on real test servers, Debian's
 * Chromium via playwright-core. Screenshots go to test-results/screenshots/.
 */
import { type Browser, type BrowserContext, type Page, type WebSocket as PageSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { deviceKey } from '../../server/test/pop.js';
import { launchBrowser, live, PASSWORD, shot } from './support.js';

/** Short tokens: a page that stays live past one has refreshed it, with a proof, on its socket. */
const TOKEN_TTL_S = 6;

interface Frame {
  type: string;
  token?: string;
  proof?: string;
  expiresAt?: string;
  nonce?: string;
}

/** Every socket a page opens, with the frames each way. */
interface Socket {
  ws: PageSocket;
  sent: Frame[];
  received: Frame[];
  /** Waits for a received frame that `match` accepts (those already received count). */
  next(match: (f: Frame) => boolean, timeout?: number): Promise<Frame>;
}

function watchSockets(page: Page): Socket[] {
  const sockets: Socket[] = [];
  page.on('websocket', (ws) => {
    const sent: Frame[] = [];
    const received: Frame[] = [];
    const waiters = new Set<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
    const parse = (payload: string | Buffer): Frame => JSON.parse(String(payload)) as Frame;
    ws.on('framesent', (f) => sent.push(parse(f.payload)));
    ws.on('framereceived', (f) => {
      const frame = parse(f.payload);
      received.push(frame);
      for (const w of waiters) if (w.match(frame)) (waiters.delete(w), w.resolve(frame));
    });
    sockets.push({
      ws,
      sent,
      received,
      next: (match, timeout = 15_000) => {
        const seen = received.find(match);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
          const w = { match, resolve };
          waiters.add(w);
          setTimeout(() => waiters.delete(w) && reject(new Error('no such frame in time')), timeout);
        });
      },
    });
  });
  return sockets;
}

/** The device-key record as the page's IndexedDB holds it, inspected with the browser's own API. */
function storedKey(page: Page) {
  return page.evaluate(
    () =>
      new Promise<null | { deviceId: string | null; extractable: boolean; curve: string; usages: string[]; exportRefused: boolean; publicJwk: JsonWebKey }>(
        (resolve, reject) => {
          const open = indexedDB.open('relay');
          open.onupgradeneeded = () => open.result.createObjectStore('saved');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const db = open.result;
            const get = db.transaction('saved', 'readonly').objectStore('saved').get('device-key');
            get.onerror = () => reject(get.error);
            get.onsuccess = async () => {
              db.close();
              const record = get.result as { deviceId: string | null; keys: CryptoKeyPair } | undefined;
              if (!record) return resolve(null);
              const { privateKey, publicKey } = record.keys;
              const exportRefused = await crypto.subtle.exportKey('jwk', privateKey).then(
                () => false,
                () => true,
              );
              resolve({
                deviceId: record.deviceId,
                extractable: privateKey.extractable,
                curve: (privateKey.algorithm as EcKeyAlgorithm).namedCurve,
                usages: privateKey.usages,
                exportRefused,
                publicJwk: await crypto.subtle.exportKey('jwk', publicKey),
              });
            };
          };
        },
      ),
  );
}

/** Whether a sign-in's pending key record (device-key-pending) is in the page's IndexedDB. */
function pendingKeyExists(page: Page) {
  return page.evaluate(
    () =>
      new Promise<boolean>((resolve, reject) => {
        const open = indexedDB.open('relay');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('saved', 'readonly').objectStore('saved').count('device-key-pending');
          get.onerror = () => reject(get.error);
          get.onsuccess = () => (open.result.close(), resolve(get.result > 0));
        };
      }),
  );
}

const JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** A plain fetch from the page, without a proof: what a page holding only the cookies can do. */
const getJson = (page: Page, path: string) => page.evaluate((p) => fetch(p).then(async (r) => ({ status: r.status, body: await r.json() })), path);

async function registerInPage(page: Page, username: string): Promise<void> {
  await page.getByRole('tab', { name: 'Register' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

describe('device key in the browser, end to end', () => {
  let server: TestServer;
  let strict: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let page: Page;
  let sockets: Socket[];
  let deviceId = '';

  async function newPage(opts: { noWebCrypto?: boolean } = {}): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(ctx);
    // A browser where WebCrypto is missing, as in an insecure (plain http, not localhost) context.
    if (opts.noWebCrypto) await ctx.addInitScript(() => Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined }));
    const p = await ctx.newPage();
    p.setDefaultTimeout(8_000);
    p.on('dialog', (d) => void d.accept());
    return p;
  }

  beforeAll(async () => {
    [server, strict] = await Promise.all([
      startTestServer({ env: { TOKEN_TTL: `${TOKEN_TTL_S}s` } }),
      startTestServer({ env: { DEVICE_BINDING: 'required' } }),
    ]);
    // The administrator exists already (an empty install opens on the first-run screen): the
    // people here sign up on the Register tab. The strict server takes no unbound sign-up.
    await server.register('admin');
    await strict.register('admin', undefined, { deviceKey: (await deviceKey()).publicJwk });
    browser = await launchBrowser();
    page = await newPage();
    sockets = watchSockets(page);
  }, 180_000);

  afterAll(async () => {
    for (const ctx of contexts) await ctx.close().catch(() => {});
    await browser?.close();
    await Promise.all([server?.close(), strict?.close()]);
  });

  it('a sign-up binds the device to a non-extractable key kept in IndexedDB, and proves with it', async () => {
    await page.goto(server.url);
    const [registered, token] = await Promise.all([
      page.waitForRequest('**/api/auth/register'),
      page.waitForRequest('**/api/auth/token'),
      registerInPage(page, 'alice'),
    ]);
    await live(page);

    // Only the public members went to the server.
    const sentKey = registered.postDataJSON().deviceKey as Record<string, string>;
    expect(Object.keys(sentKey).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(sentKey).toMatchObject({ kty: 'EC', crv: 'P-256' });

    // The app's own requests prove the key too (POP8): My devices loads GET /api/devices with a proof.
    const [devices] = await Promise.all([page.waitForResponse('**/api/devices'), page.getByRole('link', { name: 'My devices' }).click()]);
    expect(devices.status()).toBe(200);
    expect(devices.request().headers()['dpop']).toMatch(JWS);
    const current = (await devices.json()).devices.find((d: { current: boolean }) => d.current);
    expect(current.bound).toBe(true);
    deviceId = current.id;

    const stored = await storedKey(page);
    expect(stored).toMatchObject({ deviceId, extractable: false, curve: 'P-256', usages: ['sign'], exportRefused: true });
    expect({ x: stored!.publicJwk.x, y: stored!.publicJwk.y }).toEqual({ x: sentKey.x, y: sentKey.y });

    // The token request carried a DPoP proof, and the socket's authenticate a proof over the challenge.
    expect(token.headers()['dpop']).toMatch(JWS);
    const socket = sockets.at(-1)!;
    expect(socket.received[0].type).toBe('challenge');
    const auth = socket.sent.find((f) => f.type === 'authenticate')!;
    expect(auth.proof).toMatch(JWS);

    await page.locator('.device-card.current').getByText('Bound', { exact: true }).waitFor();
    await shot(page, 'device-key-devices');
  });

  it('a reload stays live as the same device, with the key loaded from IndexedDB', async () => {
    const before = sockets.length;
    const token = page.waitForResponse('**/api/auth/token');
    const me = page.waitForResponse('**/api/auth/me');
    await page.reload();
    expect((await token).status()).toBe(200);
    await live(page);
    expect(sockets.length).toBe(before + 1);
    const socket = sockets.at(-1)!;
    expect(socket.sent.find((f) => f.type === 'authenticate')?.proof).toBeTruthy();
    expect((await me).status()).toBe(200);
    expect((await me).request().headers()['dpop']).toMatch(JWS);
    expect((await (await me).json()).device.id).toBe(deviceId);
    expect((await storedKey(page))?.deviceId).toBe(deviceId);
  });

  it(`with ${TOKEN_TTL_S} s tokens the page stays live past expiry on the same socket (refresh with a proof)`, async () => {
    const socket = sockets.at(-1)!;
    const count = sockets.length;
    const authenticated = await socket.next((f) => f.type === 'authenticated');
    const firstExpiry = Date.parse(authenticated.expiresAt!);
    // A refresh that lands after the first token has expired: the socket lived through it.
    await socket.next((f) => f.type === 'refreshed' && Date.now() > firstExpiry, TOKEN_TTL_S * 1000 + 15_000);
    expect(sockets.length).toBe(count);
    expect(socket.ws.isClosed()).toBe(false);
    expect(await page.locator('.connection').getAttribute('data-state')).toBe('live');
    const refreshes = socket.sent.filter((f) => f.type === 'refresh');
    expect(refreshes.length).toBeGreaterThan(0);
    for (const r of refreshes) expect(r.proof).toMatch(JWS);
  });

  it('the session’s cookies in another browser (without the key) get no API answer, no token and no live socket', async () => {
    const thief = await newPage();
    await thief.context().addCookies(await page.context().cookies());
    const thiefSockets = watchSockets(thief);
    const [me] = await Promise.all([thief.waitForResponse('**/api/auth/me'), thief.goto(server.url)]);
    expect(me.status()).toBe(401);
    expect((await me.json()).error.code).toBe('invalid_proof');
    // The app says why and asks to sign in; it opened no socket.
    await thief.getByRole('heading', { name: 'Sign in' }).waitFor();
    await thief.getByRole('alert').filter({ hasText: 'This browser no longer holds the key this sign-in was bound to' }).waitFor();
    await shot(thief, 'device-key-copied-cookies');
    // Asked directly with the copied cookies, the API answers nothing either (POP8, POP6).
    expect(await getJson(thief, '/api/channels')).toMatchObject({ status: 401, body: { error: { code: 'invalid_proof' } } });
    const token = await thief.evaluate(() => fetch('/api/auth/token', { method: 'POST' }).then(async (r) => ({ status: r.status, body: await r.json() })));
    expect(token).toMatchObject({ status: 401, body: { error: { code: 'invalid_proof' } } });
    expect(thiefSockets.length).toBe(0);
    // The session itself is untouched: the real page is still live on its socket, and a reload
    // (its requests proven) comes back as the same device.
    expect(await page.locator('.connection').getAttribute('data-state')).toBe('live');
    expect(sockets.at(-1)!.ws.isClosed()).toBe(false);
    const again = page.waitForResponse('**/api/auth/me');
    await page.reload();
    expect((await again).status()).toBe(200);
    expect((await (await again).json()).device.id).toBe(deviceId);
    await live(page);
  });

  it('a browser without WebCrypto signs in unbound, with nothing alarming said', async () => {
    const plain = await newPage({ noWebCrypto: true });
    await plain.goto(server.url);
    const [registered] = await Promise.all([plain.waitForRequest('**/api/auth/register'), registerInPage(plain, 'bob')]);
    expect(registered.postDataJSON().deviceKey).toBeUndefined();
    await live(plain);
    expect(await plain.getByRole('alert').count()).toBe(0);
    const devices = await getJson(plain, '/api/devices');
    expect(devices.body.devices.find((d: { current: boolean }) => d.current).bound).toBe(false);
  });

  it('signing out removes the key from IndexedDB', async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect.poll(() => storedKey(page)).toBeNull();
  });

  it('signing in again makes a new key for the new device; signed out from elsewhere (4403), the key is gone', async () => {
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    const [login] = await Promise.all([page.waitForResponse('**/api/auth/login'), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    await live(page);
    const { device } = (await login.json()) as { device: { id: string; bound: boolean } };
    expect(device.id).not.toBe(deviceId);
    expect(device.bound).toBe(true);
    expect(await storedKey(page)).toMatchObject({ deviceId: device.id, extractable: false });

    const elsewhere = await server.login('alice', PASSWORD);
    expect((await elsewhere.post(`/api/devices/${device.id}/revoke`)).status).toBe(200);
    await page.getByText('This device was signed out from another of your devices.').waitFor({ timeout: 15_000 });
    await expect.poll(() => storedKey(page)).toBeNull();
  });

  it('a page that lost its key (site data cleared mid-session) is sent to sign in, told why, on its next request', async () => {
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await live(page);
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open('relay');
          open.onsuccess = () => {
            const tx = open.result.transaction('saved', 'readwrite');
            tx.objectStore('saved').delete('device-key');
            tx.oncomplete = () => (open.result.close(), resolve());
            tx.onerror = () => reject(tx.error);
          };
          open.onerror = () => reject(open.error);
        }),
    );
    const [devices] = await Promise.all([page.waitForResponse('**/api/devices'), page.getByRole('link', { name: 'My devices' }).click()]);
    expect(devices.request().headers()['dpop']).toBeUndefined();
    expect(devices.status()).toBe(401);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'This browser no longer holds the key this sign-in was bound to' }).waitFor();
  });

  it('a failed sign-in in a second tab leaves the first tab live and its key intact; a good one then takes over', async () => {
    const first = await newPage();
    // Another tab of the same browser (cookies and IndexedDB shared), opened while signed out.
    const second = await first.context().newPage();
    second.setDefaultTimeout(8_000);
    await second.goto(server.url);
    await second.getByRole('heading', { name: 'Sign in' }).waitFor();
    await first.goto(server.url);
    await registerInPage(first, 'erin');
    await live(first);
    const before = await storedKey(first);
    expect(before?.deviceId).toEqual(expect.any(String));

    await second.getByLabel('Username').fill('erin');
    await second.getByLabel('Password').fill('not the password');
    const [refused] = await Promise.all([second.waitForResponse('**/api/auth/login'), second.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    expect(refused.status()).toBe(401);
    await second.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
    // The first tab's key is as it was (same device, same key), and no half-made key is left.
    expect(await storedKey(first)).toEqual(before);
    expect(await pendingKeyExists(first)).toBe(false);
    // Its requests still prove with it: it stays signed in, on its socket.
    const [devices] = await Promise.all([first.waitForResponse('**/api/devices'), first.getByRole('link', { name: 'My devices' }).click()]);
    expect(devices.status()).toBe(200);
    expect(devices.request().headers()['dpop']).toMatch(JWS);
    expect((await devices.json()).devices.find((d: { current: boolean }) => d.current).id).toBe(before!.deviceId);
    expect(await first.locator('.connection').getAttribute('data-state')).toBe('live');

    // The right password in the second tab: its new device's key replaces the stored one once the
    // server answered (the first tab's device, replaced by this sign-in, is signed out).
    await second.getByLabel('Password').fill(PASSWORD);
    const [login] = await Promise.all([second.waitForResponse('**/api/auth/login'), second.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    expect(login.status()).toBe(200);
    const { device } = (await login.json()) as { device: { id: string } };
    await live(second);
    await first.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 15_000 });
    expect(await storedKey(second)).toMatchObject({ deviceId: device.id, extractable: false });
    expect(await pendingKeyExists(second)).toBe(false);
    const me = second.waitForResponse('**/api/auth/me');
    await second.reload();
    expect((await me).status()).toBe(200);
    expect((await (await me).json()).device.id).toBe(device.id);
    await live(second);
  });

  describe('DEVICE_BINDING=required', () => {
    it('a normal browser sign-up binds and goes live; a stolen token with copied cookies gets no socket', async () => {
      const carol = await newPage();
      await carol.goto(strict.url);
      const [registered, token] = await Promise.all([
        carol.waitForResponse('**/api/auth/register'),
        carol.waitForResponse('**/api/auth/token'),
        registerInPage(carol, 'carol'),
      ]);
      await live(carol);
      expect((await registered.json()).device.bound).toBe(true);
      expect((await storedKey(carol))?.extractable).toBe(false);

      // Even holding a live token as well as the cookies, another browser is refused: no proof, no socket.
      const stolen = (await token.json()).token as string;
      const thief = await newPage();
      await thief.context().addCookies(await carol.context().cookies());
      await thief.goto(strict.url);
      await thief.getByRole('heading', { name: 'Sign in' }).waitFor();
      const closed = await thief.evaluate(
        (t) =>
          new Promise<{ code: number; reason: string; frames: string[] }>((resolve) => {
            const frames: string[] = [];
            const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws');
            ws.onmessage = (e) => {
              frames.push(JSON.parse(e.data).type);
              if (frames.length === 1) ws.send(JSON.stringify({ type: 'authenticate', token: t }));
            };
            ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, frames });
          }),
        stolen,
      );
      expect(closed).toEqual({ code: 4401, reason: 'invalid_proof', frames: ['challenge'] });
      expect(await carol.locator('.connection').getAttribute('data-state')).toBe('live');
    });

    it('a browser that cannot keep a key is told why, in words', async () => {
      const plain = await newPage({ noWebCrypto: true });
      await plain.goto(strict.url);
      await registerInPage(plain, 'dave');
      await plain.getByRole('alert').filter({ hasText: 'This server only accepts browsers that can keep a device key' }).waitFor();
      await shot(plain, 'device-key-required-refused');
    });
  });
});
