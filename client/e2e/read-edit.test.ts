/**
 * End to end for issue 11 in the browser: unread badges from the server's read cursors (after a
 * reload, on a second device of the same person, cleared live by reading on the other), the
 * Seen receipt of a direct channel, edits and deletions reaching another browser live,
 * Markdown that lets no HTML or script through, and a mention notification while hidden.
 * Alice has two browser contexts (two devices); bob one.
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { launchBrowser, live, PASSWORD, setUpAdmin, shot } from './support.js';

const WAIT = { timeout: 20_000 };

async function register(page: Page, username: string): Promise<void> {
  await page.getByRole('tab', { name: 'Register' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: `Welcome, ${username}` }).waitFor(WAIT);
}

async function signIn(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: `Welcome, ${username}` }).waitFor(WAIT);
}

const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });
async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}
const badgeText = (page: Page, name: RegExp) => page.getByRole('link', { name }).locator('[data-testid="unread-badge"]');

/**
 * Records every Notification the app makes instead of showing it (permission granted). Plain
 * JavaScript in a string: a function would be sent as its transpiled source, helpers missing.
 */
const FAKE_NOTIFICATIONS = `
  window.__notes = [];
  window.Notification = class {
    constructor(title, opts) { this.onclick = null; window.__notes.push({ title, body: opts && opts.body }); }
    close() {}
  };
  window.Notification.permission = 'granted';
  window.Notification.requestPermission = () => Promise.resolve('granted');
`;

describe('read state, edits, Markdown and notifications, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  let contexts: BrowserContext[] = [];
  let a1: Page;
  let a2: Page;
  let b: Page;
  const dialogs: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
    const newPage = async (init?: string) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      contexts.push(ctx);
      if (init) {
        await ctx.grantPermissions(['notifications'], { origin: server.url });
        await ctx.addInitScript({ content: init });
      }
      const page = await ctx.newPage();
      page.on('pageerror', (e) => console.error('[page error]', e.message));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      return page;
    };
    a1 = await newPage(FAKE_NOTIFICATIONS);
    a2 = await newPage();
    b = await newPage();
    await a1.goto(server.url);
    // The first visitor of the empty install makes the administrator.
    await setUpAdmin(a1, 'alice');
    await b.goto(server.url);
    await register(b, 'bob');
    await a2.goto(server.url);
    await signIn(a2, 'alice');
    await Promise.all([live(a1), live(a2), live(b)]);
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    contexts = [];
    await browser?.close();
    await server?.close();
  });

  it('unread counts come from the server: after a reload and on a second device', async () => {
    await b.getByRole('button', { name: 'New direct message' }).click();
    await b.getByLabel('Search people').fill('alice');
    await b.getByRole('button', { name: /Message alice \(@alice\)/ }).click();
    await b.getByRole('heading', { name: 'alice', level: 1 }).waitFor(WAIT);
    await say(b, 'first');
    await say(b, 'second');
    await b.locator('.message-status[data-status="sent"]').nth(1).waitFor(WAIT);

    for (const page of [a1, a2]) {
      await expect.poll(() => badgeText(page, /bob/).textContent(), WAIT).toBe('2');
      await expect.poll(() => page.title(), WAIT).toBe('(2) Relay');
    }
    // A reload starts from GET /api/channels: still two unread.
    await a1.reload();
    await live(a1);
    await expect.poll(() => badgeText(a1, /bob/).textContent(), WAIT).toBe('2');
  });

  it('reading on one device clears the badge on the other live, and bob sees Seen', async () => {
    await a1.getByRole('link', { name: /bob/ }).click();
    await a1.locator('.message-body', { hasText: 'second' }).waitFor(WAIT);
    await a1.getByTestId('new-messages-divider').waitFor(WAIT);
    await badgeText(a2, /bob/).waitFor({ state: 'detached', ...WAIT });
    await expect.poll(() => a2.title(), WAIT).toBe('Relay');
    await badgeText(a1, /bob/).waitFor({ state: 'detached', ...WAIT });

    // The read receipt: under bob's last message alice has read.
    const seen = b.locator('.message-status[data-status="seen"]');
    await seen.waitFor(WAIT);
    expect(await seen.count()).toBe(1);
    expect(await b.locator('.message', { has: seen }).locator('.message-body').textContent()).toBe('second');
    // And after a reload, from the channel list's peerReadSeq rather than a live event.
    await b.reload();
    await b.locator('.message-body', { hasText: 'second' }).waitFor(WAIT);
    await b.locator('.message-status[data-status="seen"]').waitFor(WAIT);
  });

  it('an edit (Up in the empty composer) and a deletion reach the other browser live', async () => {
    await composer(b).click();
    await composer(b).press('ArrowUp');
    const box = b.getByRole('textbox', { name: 'Edit message' });
    await box.waitFor(WAIT);
    await box.fill('second, edited');
    await box.press('Enter');
    await box.waitFor({ state: 'detached', ...WAIT });
    await a1.locator('.message-body', { hasText: 'second, edited' }).waitFor(WAIT);
    await a1.locator('.edited-label').waitFor(WAIT);

    const first = b.locator('.message', { has: b.locator('.message-body', { hasText: /^first$/ }) });
    await first.hover();
    await first.getByRole('button', { name: 'Delete message' }).click();
    await b.getByRole('button', { name: 'Delete', exact: true }).click();
    await b.locator('.message-body.tombstone').waitFor(WAIT);
    await a1.locator('.message-body.tombstone', { hasText: 'message deleted' }).waitFor(WAIT);
    expect(await a1.locator('.message-body', { hasText: /^first$/ }).count()).toBe(0);
    await shot(a1, 'chat-edited');
  });

  it('Markdown renders, and no HTML, script or javascript: link reaches the page', async () => {
    const payloads = [
      '<img src=x onerror=alert(1)>',
      '[x](javascript:alert(1))',
      '<script>alert(2)</script>',
      '<a href="javascript:alert(3)">y</a>',
      '![z](javascript:alert(4))',
      '<iframe src="javascript:alert(5)"></iframe>',
    ];
    for (const p of payloads) await say(b, p);
    await say(b, '**bold** and `code` see https://example.com');
    const md = a1.locator('.message-body', { hasText: 'bold and code' });
    await md.waitFor(WAIT);
    expect(await md.locator('strong').textContent()).toBe('bold');
    expect(await md.locator('code').textContent()).toBe('code');
    const link = md.locator('a[href="https://example.com"]');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await link.getAttribute('target')).toBe('_blank');

    for (const page of [a1, b]) {
      const list = page.locator('.message-list');
      expect(await list.locator('img').count()).toBe(0);
      expect(await list.locator('[onerror]').count()).toBe(0);
      expect(await list.locator('script, iframe').count()).toBe(0);
      expect(await list.locator('a[href^="javascript:" i]').count()).toBe(0);
      // The HTML is shown as the text that was typed.
      await page.locator('.message-body', { hasText: '<img src=x onerror=alert(1)>' }).waitFor(WAIT);
    }
    expect(dialogs).toEqual([]);
  });

  it('a mention of alice while her tab is hidden makes a notification', async () => {
    // A channel with both of them, made over the API. Not from the pages themselves: their devices
    // are bound to keys the page's script cannot use (SPEC POP8), so each signs in over HTTP.
    const aliceApi = await server.login('alice', PASSWORD);
    const created = await aliceApi.post('/api/channels', { name: 'team', kind: 'public' });
    expect(created.status).toBe(201);
    const channelId = created.body.channel.id as string;
    expect((await (await server.login('bob', PASSWORD)).post(`/api/channels/${channelId}/join`)).status).toBe(200);
    // Alice's page has the channel (channel_added) before anything is said in it.
    await a1.getByRole('link', { name: /team/ }).waitFor(WAIT);
    await b.goto(`${server.url}/c/${channelId}`);
    await live(b);
    await b.getByRole('heading', { name: 'team', level: 1 }).waitFor(WAIT);

    // Alice's page goes to the background.
    await a1.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.hasFocus = () => false;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    // Typed with the member autocomplete: `@al`, then Tab picks alice.
    await composer(b).fill('hey @al');
    await b.getByRole('option', { name: /alice/ }).waitFor(WAIT);
    await composer(b).press('Tab');
    await expect.poll(() => composer(b).inputValue(), WAIT).toBe('hey @alice ');
    await composer(b).pressSequentially('look at this');
    await composer(b).press('Enter');
    await expect
      .poll(() => a1.evaluate(() => (window as unknown as { __notes: Array<{ title: string; body?: string }> }).__notes), WAIT)
      .toContainEqual({ title: 'bob mentioned you in #team', body: 'hey @alice look at this' });
    // The mention counts in the badge too, marked as one.
    await expect.poll(() => badgeText(a1, /team/).getAttribute('class'), WAIT).toContain('mention');
    // Bob sees alice's name marked as a mention in his own message.
    await b.locator('.message-body .mention', { hasText: '@alice' }).waitFor(WAIT);
  });
});
