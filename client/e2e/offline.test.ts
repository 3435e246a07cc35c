/**
 * End to end, what a person typed survives (contract v2 "What a client keeps"): a draft across
 * channel switches and a reload; a question before leaving with an unsent message; and a message
 * sent while the server is down, through a reload, delivered exactly once when the server is
 * back. Same set-up as app.test.ts: the built app on a real test server (stopped and started
 * again on the same port and database), Debian's Chromium via playwright-core.
 */
import pg from 'pg';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../../server/test/harness.js';
import { launchBrowser, live, PASSWORD, savedRecords, shot } from './support.js';

const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });
const bodies = (page: Page) => page.locator('.message-list .message-body').allTextContents();

async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

describe('what a person typed survives, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let alice: HttpClient;
  let bob: HttpClient;
  let general = '';
  let random = '';
  /** How the page answers its next dialog; every dialog's type is kept. */
  let answer: 'accept' | 'dismiss' = 'accept';
  const dialogs: string[] = [];

  /** Alice's saved records of one kind, by their last key part; every key must be under her id. */
  async function saved(kind: 'draft' | 'outbox'): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of await savedRecords(page)) {
      if (key === 'device-key') continue; // the browser's device key (auth/device-key.ts), not per user
      expect(Array.isArray(key) && key[0] === alice.userId).toBe(true);
      const [, k, id] = key as [string, string, string];
      if (k === kind) out[id] = value;
    }
    return out;
  }

  const open = async (channelId: string, name: string) => {
    await page.getByRole('link', { name: new RegExp(name) }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/c/${channelId}`);
  };

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('alice', PASSWORD);
    bob = await server.register('bob', PASSWORD);
    general = (await alice.post('/api/channels', { name: 'general', kind: 'public' })).body.channel.id;
    random = (await alice.post('/api/channels', { name: 'random', kind: 'public' })).body.channel.id;
    expect((await bob.post(`/api/channels/${general}/join`)).status).toBe(200);

    browser = await launchBrowser();
    ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await ctx.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.type());
      void (answer === 'accept' ? d.accept() : d.dismiss());
    });
    await page.goto(server.url);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await live(page);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a draft survives switching channels and a reload, per channel, and sending clears it', async () => {
    await open(general, 'general');
    await composer(page).fill('half a thought');
    await open(random, 'random');
    expect(await composer(page).inputValue()).toBe('');
    await composer(page).fill('a draft in #random');
    await open(general, 'general');
    expect(await composer(page).inputValue()).toBe('half a thought');
    // Both reach IndexedDB: the one left at once, the one being typed after a pause.
    await expect.poll(() => saved('draft'), { timeout: 10_000 }).toEqual({ [general]: 'half a thought', [random]: 'a draft in #random' });

    await page.reload();
    await live(page);
    await expect.poll(() => composer(page).inputValue(), { timeout: 10_000 }).toBe('half a thought');
    await open(random, 'random');
    expect(await composer(page).inputValue()).toBe('a draft in #random');

    await composer(page).press('Enter');
    await page.locator('.message', { hasText: 'a draft in #random' }).locator('[data-status="sent"]').waitFor({ timeout: 10_000 });
    expect(await composer(page).inputValue()).toBe('');
    await expect.poll(() => saved('draft'), { timeout: 10_000 }).toEqual({ [general]: 'half a thought' });
    await page.reload();
    await live(page);
    // The drafts are back (general's shows it), and random's is not among them.
    await open(general, 'general');
    await expect.poll(() => composer(page).inputValue(), { timeout: 10_000 }).toBe('half a thought');
    await open(random, 'random');
    expect(await composer(page).inputValue()).toBe('');
  });

  it('closing a tab with nothing unsent asks nothing', async () => {
    const other = await ctx.newPage();
    await other.goto(`${server.url}/c/${general}`);
    await live(other);
    await composer(other).pressSequentially('typed, not sent'); // a draft, kept without asking
    const closed = other.waitForEvent('close');
    await other.close({ runBeforeUnload: true });
    await closed;
    expect(dialogs).toEqual([]);
  });

  it('while the server is down the conversation says so at full width, and leaving with an unsent message asks first', async () => {
    await open(general, 'general');
    await server.close();
    const banner = page.locator('.connection-banner');
    await banner.getByText('Not connected.').waitFor({ timeout: 10_000 });
    await say(page, 'written while the server is down');
    const row = page.locator('.message', { hasText: 'written while the server is down' });
    await row.locator('[data-status="pending"]').waitFor();
    await banner.getByText('1 message will be sent when the connection is back.').waitFor();
    await shot(page, 'offline-pending');
    await expect.poll(async () => Object.values(await saved('outbox')), { timeout: 10_000 }).toEqual([
      expect.objectContaining({ channelId: general, body: 'written while the server is down' }),
    ]);

    answer = 'dismiss';
    const asked = page.waitForEvent('dialog');
    await page.close({ runBeforeUnload: true });
    expect((await asked).type()).toBe('beforeunload');
    // Staying was chosen: the page and its unsent message are still there.
    await row.locator('[data-status="pending"]').waitFor();
    expect(page.isClosed()).toBe(false);
  });

  it('the unsent message survives a reload while the server is down and is delivered exactly once when it is back', async () => {
    answer = 'accept';
    // The server is down: the reload ends on the browser's error page, the app is gone.
    const reloadError = await page.reload().then(
      () => null,
      (err: Error) => err,
    );
    if (reloadError) expect(reloadError.message).toMatch(/ERR_CONNECTION_REFUSED/);

    const { port, env } = server;
    server = await startTestServer({
      databaseUrl: env.DATABASE_URL,
      env: { PORT: String(port), JWT_SECRET: env.JWT_SECRET, SESSION_SECRET: env.SESSION_SECRET },
    });
    // Hold the new page off the socket for a moment, to see what it restored before it resends.
    await page.route('**/api/auth/token', (route) => route.abort());
    await page.goto(`${server.url}/c/${general}`);
    const row = page.locator('.message', { hasText: 'written while the server is down' });
    await row.locator('[data-status="pending"]').waitFor({ timeout: 10_000 });
    await page.unroute('**/api/auth/token');

    await live(page);
    await row.locator('[data-status="sent"]').waitFor({ timeout: 15_000 });
    await expect.poll(() => saved('outbox'), { timeout: 10_000 }).toEqual({});
    expect((await bodies(page)).filter((b) => b === 'written while the server is down')).toHaveLength(1);
    expect(await page.locator('[data-status="pending"], [data-status="failed"]').count()).toBe(0);

    const db = new pg.Client({ connectionString: env.DATABASE_URL });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT sender_id FROM messages WHERE channel_id = $1::uuid AND body = $2', [general, 'written while the server is down']);
      expect(rows).toEqual([{ sender_id: alice.userId }]);
    } finally {
      await db.end();
    }
    const seenByBob = await bob.get(`/api/channels/${general}/messages?limit=200`);
    expect(seenByBob.body.messages.map((m: { body: string }) => m.body)).toEqual(['written while the server is down']);
  }, 60_000);
});
