/**
 * End to end: the built app (vite build → dist/client) served by a real test server, driven in
 * Debian's Chromium by playwright-core, with two people (alice, the first account and so an
 * admin, and bob) in separate browser contexts. Screenshots of each main screen are written to
 * test-results/screenshots/.
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { nodeRealtime, sleep } from '../test/node-realtime.js';
import { launchBrowser, live, PASSWORD, setUpAdmin, shot } from './support.js';

/** The history test seeds 120 messages from one socket: lift the per-socket flood limit for it. */
const FAST_SENDS = { WS_RATE_PER_SEC: '1000', WS_BURST: '1000' };

async function register(page: Page, username: string): Promise<void> {
  await page.getByRole('tab', { name: 'Register' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: `Welcome, ${username}` }).waitFor();
}

async function signIn(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });
const bodies = (page: Page) => page.locator('.message-list .message-body').allTextContents();

async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

describe('browser client, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  let aliceCtx: BrowserContext;
  let bobCtx: BrowserContext;
  let alice: Page;
  let bob: Page;
  let dmPath = '';

  beforeAll(async () => {
    server = await startTestServer({ env: FAST_SENDS });
    browser = await launchBrowser();
    aliceCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    bobCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    alice = await aliceCtx.newPage();
    bob = await bobCtx.newPage();
    for (const p of [alice, bob]) p.on('dialog', (d) => void d.accept());
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('signs in with errors in words, and registers', async () => {
    // An empty install: its first visitor makes the administrator (first-run.test.ts).
    await alice.goto(server.url);
    await setUpAdmin(alice, 'alice');
    await live(alice);

    await bob.goto(server.url);
    await bob.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(bob, 'sign-in');
    await signIn(bob, 'bob');
    await expect.poll(() => bob.getByRole('alert').textContent()).toContain('Wrong username or password.');
    await register(bob, 'bob');
    await live(bob);
  });

  it('a direct message from alice appears for bob without a reload', async () => {
    await alice.getByRole('button', { name: 'New direct message' }).click();
    await alice.getByLabel('Search people').fill('bob');
    await alice.getByRole('button', { name: /Message bob \(@bob\)/ }).click();
    await alice.getByRole('heading', { name: 'bob', level: 1 }).waitFor();
    dmPath = new URL(alice.url()).pathname;
    expect(dmPath).toMatch(/^\/c\//);
    await say(alice, 'Hi Bob!');
    await alice.locator('.message-status[data-status="sent"]').first().waitFor();

    // The new conversation reaches bob's sidebar by channel_added, with an unread badge.
    const link = bob.getByRole('link', { name: /alice/ });
    await link.waitFor({ timeout: 5_000 });
    await link.click();
    await bob.locator('.message-body', { hasText: 'Hi Bob!' }).waitFor();

    // And a message sent while bob has it open appears live.
    await say(alice, 'Are you there?');
    await bob.locator('.message-body', { hasText: 'Are you there?' }).waitFor({ timeout: 5_000 });
    await say(bob, 'Yes, hello Alice.\nTwo lines.');
    await alice.locator('.message-body', { hasText: 'Two lines.' }).waitFor({ timeout: 5_000 });
    expect(await bodies(alice)).toEqual(['Hi Bob!', 'Are you there?', 'Yes, hello Alice.\nTwo lines.']);
    expect(await bodies(bob)).toEqual(['Hi Bob!', 'Are you there?', 'Yes, hello Alice.\nTwo lines.']);
  });

  it('shows typing', async () => {
    await composer(bob).pressSequentially('typing something', { delay: 20 });
    await expect.poll(() => alice.getByTestId('typing').textContent(), { timeout: 5_000 }).toContain('bob is typing');
    await shot(alice, 'chat');
    await composer(bob).fill('');
  });

  it('presence turns offline and online as bob closes and opens the app', async () => {
    const presence = alice.getByTestId('partner-presence');
    expect(await presence.textContent()).toBe('Online');
    await bob.close();
    await expect.poll(() => presence.textContent(), { timeout: 5_000 }).toBe('Offline');
    bob = await bobCtx.newPage();
    bob.on('dialog', (d) => void d.accept());
    await bob.goto(server.url + dmPath);
    await live(bob);
    await expect.poll(() => presence.textContent(), { timeout: 5_000 }).toBe('Online');
  });

  it('a reload keeps the session, the open conversation and its history', async () => {
    await alice.reload();
    await live(alice);
    await alice.getByRole('heading', { name: 'bob', level: 1 }).waitFor();
    await alice.locator('.message-body', { hasText: 'Two lines.' }).waitFor();
    expect(await bodies(alice)).toEqual(['Hi Bob!', 'Are you there?', 'Yes, hello Alice.\nTwo lines.']);
  });

  it('works at 360 px wide', async () => {
    await alice.setViewportSize({ width: 360, height: 740 });
    await composer(alice).waitFor();
    await shot(alice, 'chat-mobile');
    // The "sent" check of an own message does not sit on its time.
    const own = alice.locator('.message.own:not(.grouped)').first();
    const time = (await own.locator('.message-meta time').boundingBox())!;
    const check = (await own.locator('.message-status.sent').boundingBox())!;
    expect(time.x + time.width).toBeLessThanOrEqual(check.x);
    await alice.getByRole('button', { name: 'Back to conversations' }).click();
    await alice.getByRole('link', { name: /bob/ }).waitFor();
    await shot(alice, 'conversations-mobile');
    // A device card keeps its text readable: the Sign out button goes below it, not beside it.
    await alice.getByRole('link', { name: 'My devices' }).click();
    await alice.getByRole('heading', { name: 'My devices' }).waitFor();
    const text = (await alice.locator('.device-card.current .device-text').boundingBox())!;
    expect(text.width).toBeGreaterThan(220);
    await shot(alice, 'devices-mobile');
    await alice.setViewportSize({ width: 1280, height: 800 });
    await alice.goto(server.url + dmPath);
    await live(alice);
  });

  it('creates a channel, and lists my devices', async () => {
    await alice.getByRole('button', { name: 'New channel' }).click();
    await alice.getByLabel('Name').fill('general');
    await shot(alice, 'new-channel-dialog');
    await alice.getByRole('button', { name: 'Create channel' }).click();
    await alice.getByRole('heading', { name: 'general', level: 1 }).waitFor();
    await say(alice, 'Welcome to #general.');
    await alice.locator('.message-status[data-status="sent"]').first().waitFor();

    await alice.getByRole('link', { name: 'My devices' }).click();
    await alice.getByRole('heading', { name: 'My devices' }).waitFor();
    await alice.getByText('This device').waitFor();
    await shot(alice, 'devices');
  });

  it('joins a public channel from Browse and loads older history on scroll-up, each message once, in order', async () => {
    const carol = await server.register('carol');
    const res = await carol.post('/api/channels', { name: 'history', kind: 'public' });
    expect(res.status).toBe(201);
    const channelId: string = res.body.channel.id;
    const { rt } = nodeRealtime(server.url, carol);
    rt.subscribe(channelId);
    rt.connect();
    const total = 120;
    const drained = async () => {
      for (let t = 0; t < 500 && rt.getOutbox().some((e) => e.status === 'pending'); t++) await sleep(20);
      expect(rt.getOutbox()).toEqual([]);
    };
    for (let i = 1; i <= total; i++) {
      rt.send(channelId, `history ${i}`);
      if (i % 40 === 0) await drained();
    }
    await drained();
    rt.disconnect();

    await alice.getByRole('button', { name: 'Browse public channels' }).click();
    await alice.getByRole('button', { name: 'Join history' }).click();
    await alice.getByRole('heading', { name: 'history', level: 1 }).waitFor();
    await alice.locator('.message-body', { hasText: `history ${total}` }).waitFor();
    // carol signed up after alice's page loaded: her name is looked up, not shown as unknown.
    await alice.locator('.message-author', { hasText: 'carol' }).first().waitFor({ timeout: 5_000 });
    expect(await alice.locator('.message-body', { hasText: /^history 1$/ }).count()).toBe(0);
    const list = alice.locator('.messages');
    for (let i = 0; i < 20 && !(await alice.getByText('This is the start of #history.').isVisible()); i++) {
      await list.evaluate((el) => {
        el.scrollTop = 0;
      });
      await sleep(150);
    }
    const expected = Array.from({ length: total }, (_, i) => `history ${i + 1}`);
    expect(await bodies(alice)).toEqual(expected);
    await list.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await shot(alice, 'channel');
  });

  it('an admin revokes bob’s device: bob sees the signed-out screen within a second, alice stays live', async () => {
    await alice.getByRole('link', { name: 'Admin' }).click();
    await alice.getByRole('heading', { name: 'Administration' }).waitFor();
    const bobRow = alice.locator('tr[data-username="bob"]');
    await bobRow.getByText('Online').waitFor({ timeout: 5_000 });
    await bobRow.getByRole('button', { name: 'Devices' }).click();
    await shot(alice, 'admin');
    await alice.locator('.devices-row').getByRole('button', { name: /^Sign out/ }).first().click();
    // The app's own question (issue 12), not the browser's confirm().
    const question = alice.getByRole('dialog', { name: /^Sign out / });
    const [response] = await Promise.all([
      alice.waitForResponse((r) => /\/api\/admin\/devices\/[^/]+\/revoke$/.test(r.url())),
      question.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    expect(response.status()).toBe(200);
    // Live, not on a poll: the sweep runs every 30 s, so this arrives through the bus (REV1).
    await bob.getByText('An administrator signed this device out.').waitFor({ timeout: 10_000 });
    await bob.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(bob, 'signed-out');
    expect(await alice.locator('.connection').getAttribute('data-state')).toBe('live');

    await alice.getByRole('tab', { name: 'Audit log' }).click();
    await alice.getByRole('table', { name: /Audit log/ }).waitFor();
    await alice.getByText('device.revoke').first().waitFor();
    await shot(alice, 'admin-audit');
  });

  it('a server restart mid-chat ends with every message shown exactly once on both sides', async () => {
    await signIn(bob, 'bob');
    await live(bob);
    await bob.goto(server.url + dmPath);
    await live(bob);
    await alice.goto(server.url + dmPath);
    await live(alice);
    await say(alice, 'before the restart');
    await bob.locator('.message-body', { hasText: 'before the restart' }).waitFor({ timeout: 5_000 });

    // At 360 px the sidebar (and its indicator) is hidden: the conversation says it is offline.
    await bob.setViewportSize({ width: 360, height: 740 });
    const { port, env } = server;
    await server.close();
    await alice.locator('.connection:not([data-state="live"])').waitFor({ timeout: 5_000 });
    await bob.locator('.connection-banner').getByText(/Reconnecting|Connecting/).waitFor({ timeout: 5_000 });
    await say(alice, 'while the server is down');
    await say(bob, 'bob, also while down');
    await alice.locator('.message-status[data-status="pending"]').first().waitFor();
    await shot(alice, 'reconnecting');
    server = await startTestServer({
      databaseUrl: env.DATABASE_URL,
      env: { ...FAST_SENDS, PORT: String(port), JWT_SECRET: env.JWT_SECRET, SESSION_SECRET: env.SESSION_SECRET },
    });
    await live(alice);
    await bob.locator('.connection-banner').waitFor({ state: 'detached', timeout: 15_000 });
    await bob.setViewportSize({ width: 1280, height: 800 });
    await live(bob);
    await say(bob, 'after the restart');
    const expected = [
      'Hi Bob!',
      'Are you there?',
      'Yes, hello Alice.\nTwo lines.',
      'before the restart',
      'while the server is down',
      'bob, also while down',
      'after the restart',
    ];
    const sorted = (xs: string[]) => [...xs].sort();
    for (const page of [alice, bob]) {
      await expect.poll(async () => sorted(await bodies(page)), { timeout: 15_000 }).toEqual(sorted(expected));
      await expect.poll(() => page.locator('.message-status[data-status="pending"], .message-status[data-status="failed"]').count()).toBe(0);
    }
    const history = await (await server.login('alice')).get(`/api/channels/${dmPath.split('/').pop()}/messages?limit=200`);
    expect(sorted(history.body.messages.map((m: { body: string }) => m.body))).toEqual(sorted(expected));
  });
});
