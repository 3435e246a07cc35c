/**
 * End to end for issue 12 in the browser: message search (Ctrl+K, highlighted snippets, opening
 * an old message in its conversation and scrolling from there back to the live stream without
 * marking anything read on the way), a private channel one has left staying out of the results,
 * a rename seen live by another person, and a password change that signs the other device out.
 * The built app on a real test server, Debian's Chromium via playwright-core, one browser
 * context per device. Screenshots go to test-results/screenshots/.
 */
import { type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../../server/test/harness.js';
import { connect, type TestSocket } from '../../server/test/ws-client.js';
import { appGet, launchBrowser, live, PASSWORD, shot } from './support.js';

const WAIT = { timeout: 20_000 };
const TOTAL = 120;
/** The bodies bob sends: the third is the one to find. */
const body = (i: number) => (i === 3 ? `entry 003: the zanzibar plan is ready for review` : `entry ${String(i).padStart(3, '0')}: routine update`);

const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });
const messageText = (page: Page, text: string) => page.locator('.message-body', { hasText: text });
/** A conversation's link in the sidebar (search results are links too). */
const navLink = (page: Page, name: RegExp) => page.locator('.sidebar').getByRole('link', { name });
const badge = (page: Page, name: RegExp) => navLink(page, name).locator('[data-testid="unread-badge"]');

/** Whether the element is inside the message list's visible area (not just in the DOM). */
async function onScreen(page: Page, target: Locator): Promise<boolean> {
  const [box, list] = await Promise.all([target.boundingBox(), page.locator('.messages').boundingBox()]);
  return !!box && !!list && box.y >= list.y - 1 && box.y + box.height <= list.y + list.height + 1;
}

/** The page never scrolls sideways (nothing wider than the viewport). */
async function expectNoSideScroll(page: Page): Promise<void> {
  const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
  expect(widths.doc).toBeLessThanOrEqual(widths.view);
}

describe('search, profile and password, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  let contexts: BrowserContext[] = [];
  let alice: Page;
  let alice2: Page;
  let bob: Page;
  let bobApi: HttpClient;
  let bobSocket: TestSocket;
  let historyId: string;
  let sent = 0;

  async function bobSays(channelId: string, text: string): Promise<void> {
    const ref = `e2e${++sent}`;
    bobSocket.send({ type: 'send', channelId, clientMsgId: ref, body: text, ref });
    const f = await bobSocket.find((x) => x.ref === ref, 15_000);
    expect(f.type).toBe('ack');
  }

  async function open(username: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => console.error('[page error]', e.message));
    await page.goto(server.url);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await live(page);
    return page;
  }

  beforeAll(async () => {
    // bob's 120 messages go out one after another: above the default per-socket frame rate.
    server = await startTestServer({ env: { WS_RATE_PER_SEC: '1000', WS_BURST: '1000' } });
    const aliceApi = await server.register('alice', PASSWORD);
    bobApi = await server.register('bob', PASSWORD);
    historyId = (await aliceApi.post('/api/channels', { name: 'history', kind: 'public' })).body.channel.id;
    expect((await bobApi.post(`/api/channels/${historyId}/join`)).status).toBe(200);
    bobSocket = await connect(server.url, bobApi);
    for (let i = 1; i <= TOTAL; i++) await bobSays(historyId, body(i));
    browser = await launchBrowser();
    alice = await open('alice');
    bob = await open('bob');
  }, 180_000);

  afterAll(async () => {
    bobSocket?.ws.terminate();
    for (const c of contexts) await c.close().catch(() => {});
    contexts = [];
    await browser?.close();
    await server?.close();
  });

  it('finds an old message with Ctrl+K; its snippet marks the word, and says where, who and when', async () => {
    await expect.poll(() => badge(alice, /history/).textContent(), WAIT).toBe('99+');
    await alice.keyboard.press('Control+k');
    const box = alice.getByRole('searchbox', { name: 'Search messages' });
    await box.waitFor(WAIT);
    await expect.poll(() => alice.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Search messages');
    await alice.keyboard.type('zanzibar');
    const result = alice.locator('.search-result');
    await result.first().waitFor(WAIT);
    await alice.getByText('1 message matches “zanzibar”').waitFor(WAIT);
    expect(await result.count()).toBe(1);
    expect(await result.locator('mark').allTextContents()).toEqual(['zanzibar']);
    expect(await result.locator('.snippet').textContent()).toContain('entry 003: the zanzibar plan');
    expect(await result.locator('.search-result-sender').textContent()).toBe('bob');
    expect(await result.locator('.search-result-channel').textContent()).toBe('history');
    expect(await result.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);

    // Many results page in as the list is scrolled ("routine" is in 119 messages, 20 a page).
    await box.fill('routine');
    await alice.getByText('20+ messages match “routine”').waitFor(WAIT);
    await shot(alice, 'search-results');
    await expectNoSideScroll(alice);
    await alice.locator('.search-page').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await expect.poll(() => result.count(), WAIT).toBeGreaterThan(20);
    await alice.setViewportSize({ width: 360, height: 740 });
    await alice.locator('.search-page').evaluate((el) => el.scrollTo(0, 0));
    await shot(alice, 'search-results-mobile');
    await expectNoSideScroll(alice);
    // On a phone the conversation list is the home screen, with the search box on top.
    await alice.getByRole('button', { name: 'Back to conversations' }).click();
    await alice.getByRole('button', { name: /Search messages/ }).waitFor(WAIT);
    await shot(alice, 'sidebar-mobile');
    await expectNoSideScroll(alice);
    await alice.setViewportSize({ width: 1280, height: 800 });
  });

  it('opens the old message highlighted among its neighbours; scrolling down reaches the newest, and only then is it read', async () => {
    // The sidebar's box opens the search again, as it was left.
    await alice.getByRole('button', { name: /Search messages/ }).click();
    const box = alice.getByRole('searchbox', { name: 'Search messages' });
    await box.fill('zanzibar');
    await alice.getByText('1 message matches “zanzibar”').waitFor(WAIT);
    await alice.locator('.search-result a').click();
    await alice.getByRole('heading', { name: 'history', level: 1 }).waitFor(WAIT);

    const found = alice.locator('.message.highlighted');
    await found.waitFor(WAIT);
    expect(await found.locator('.message-body').textContent()).toContain('zanzibar');
    await expect.poll(() => onScreen(alice, found), WAIT).toBe(true);
    for (const neighbour of ['entry 002: routine update', 'entry 004: routine update']) await expect.poll(() => onScreen(alice, messageText(alice, neighbour)), WAIT).toBe(true);
    await shot(alice, 'search-opened-message');

    // A message arrives while the old history is on screen…
    await bobSays(historyId, 'a brand new message after the search');
    await alice.getByRole('button', { name: 'Jump to newest ↓' }).waitFor(WAIT);
    // …and looking at old messages reads nothing: the badge stays, and so does the server's cursor.
    await expect.poll(() => badge(alice, /history/).textContent(), WAIT).toBe('99+');
    const cursor = async () =>
      (await appGet<{ channels: Array<{ id: string; readSeq?: number }> }>(alice, '/api/channels')).channels.find((c) => c.id === historyId)?.readSeq;
    expect(await cursor()).toBe(0);

    // Scrolling down loads newer pages until the window meets the live conversation.
    const newest = messageText(alice, 'a brand new message after the search');
    await expect
      .poll(
        async () => {
          await alice.locator('.messages').evaluate((el) => el.scrollTo(0, el.scrollHeight));
          return (await newest.count()) > 0 && (await onScreen(alice, newest));
        },
        { timeout: 30_000, interval: 300 },
      )
      .toBe(true);
    await messageText(alice, `entry ${TOTAL}: routine update`).waitFor(WAIT);
    // Every message is there once, in order, with no hole between the old ones and the new.
    const bodies = await alice.locator('.message-body').allTextContents();
    const entries = bodies.filter((b) => b.startsWith('entry ')).map((b) => Number(b.slice(6, 9)));
    expect(entries).toEqual(Array.from({ length: entries.length }, (_, i) => entries[0] + i));
    expect(entries.at(-1)).toBe(TOTAL);
    expect(entries[0]).toBeLessThanOrEqual(3);

    // At the newest message the conversation is read; the live stream goes on.
    await badge(alice, /history/).waitFor({ state: 'detached', ...WAIT });
    await expect.poll(cursor, WAIT).toBeGreaterThan(TOTAL);
    await bobSays(historyId, 'and one more, live');
    await messageText(alice, 'and one more, live').waitFor(WAIT);
    await expect.poll(() => onScreen(alice, messageText(alice, 'and one more, live')), WAIT).toBe(true);
  });

  it('does not find a message of a private channel alice has left', async () => {
    const secretId = (await bobApi.post('/api/channels', { name: 'secret-room', kind: 'private' })).body.channel.id;
    const aliceId = (await appGet<{ user: { id: string } }>(alice, '/api/auth/me')).user.id;
    expect((await bobApi.post(`/api/channels/${secretId}/members`, { userId: aliceId })).status).toBe(200);
    await bobSays(secretId, 'the platypus password is hidden here');

    // While she is a member she finds it…
    await alice.keyboard.press('Control+k');
    const box = alice.getByRole('searchbox', { name: 'Search messages' });
    await box.fill('platypus');
    await alice.getByText('1 message matches “platypus”').waitFor(WAIT);
    expect(await alice.locator('.search-result-channel').textContent()).toBe('secret-room');

    // …she leaves…
    await navLink(alice, /secret-room/).click();
    await alice.getByRole('heading', { name: 'secret-room', level: 1 }).waitFor(WAIT);
    await alice.getByRole('button', { name: 'Leave', exact: true }).click();
    await alice.getByRole('dialog', { name: 'Leave secret-room?' }).getByRole('button', { name: 'Leave channel' }).click();
    await navLink(alice, /secret-room/).waitFor({ state: 'detached', ...WAIT });

    // …and it is gone from her search.
    await alice.keyboard.press('/');
    await box.waitFor(WAIT);
    await box.fill('platypus password');
    await alice.getByText('No messages match “platypus password”.').waitFor(WAIT);
    expect(await alice.locator('.search-result').count()).toBe(0);
  });

  it('opens a result of a public channel alice is not in for reading, with a way to join it', async () => {
    const newsId = (await bobApi.post('/api/channels', { name: 'announcements', kind: 'public' })).body.channel.id;
    await bobSays(newsId, 'kangaroo sightings are up this week');
    await alice.keyboard.press('Control+k');
    const box = alice.getByRole('searchbox', { name: 'Search messages' });
    await box.fill('kangaroo');
    await alice.getByText('1 message matches “kangaroo”').waitFor(WAIT);
    await alice.locator('.search-result a').click();
    await alice.getByRole('heading', { name: 'announcements', level: 1 }).waitFor(WAIT);
    await alice.locator('.message.highlighted', { hasText: 'kangaroo sightings' }).waitFor(WAIT);
    // Not a member: no composer, but a way in.
    expect(await composer(alice).count()).toBe(0);
    await alice.getByRole('button', { name: 'Join channel' }).click();
    await composer(alice).waitFor(WAIT);
    await navLink(alice, /announcements/).waitFor(WAIT);
    await bobSays(newsId, 'welcome, alice');
    await messageText(alice, 'welcome, alice').waitFor(WAIT);

    // Searching from a conversation offers it as a filter.
    await alice.keyboard.press('Control+k');
    await box.fill('routine');
    await alice.getByText('20+ messages match “routine”').waitFor(WAIT);
    const only = alice.getByLabel('Only in #announcements');
    await only.check();
    await alice.getByText('No messages match “routine” in #announcements.').waitFor(WAIT);
    await only.uncheck();
    await alice.getByText('20+ messages match “routine”').waitFor(WAIT);
  });

  it('a new display name reaches bob’s open page live: messages, members and the sidebar', async () => {
    await navLink(bob, /history/).click();
    await bob.getByRole('heading', { name: 'history', level: 1 }).waitFor(WAIT);
    await navLink(alice, /history/).click();
    await composer(alice).fill('hello from alice');
    await composer(alice).press('Enter');
    const author = bob.locator('.message', { has: bob.locator('.message-body', { hasText: 'hello from alice' }) }).locator('.message-author');
    await expect.poll(() => author.textContent(), WAIT).toBe('alice');

    await alice.getByRole('link', { name: 'Profile' }).click();
    await alice.getByRole('heading', { name: 'Profile', level: 1 }).waitFor(WAIT);
    const name = alice.getByRole('textbox', { name: 'Display name' });
    await name.fill('Alice Liddell');
    await alice.getByRole('button', { name: 'Save name' }).click();
    await alice.getByText('Saved. People in your channels see the new name now.').waitFor(WAIT);
    // Her own page shows it at once: the sidebar and the profile card.
    await alice.locator('.me-text strong', { hasText: 'Alice Liddell' }).waitFor(WAIT);
    await alice.getByTestId('profile-identity').getByText('Alice Liddell').waitFor(WAIT);

    // bob sees it without a reload.
    await expect.poll(() => author.textContent(), WAIT).toBe('Alice Liddell');
    await bob.locator('.member-stack [title^="Alice Liddell"]').waitFor(WAIT);
    await shot(alice, 'profile');
    await expectNoSideScroll(alice);
    await alice.setViewportSize({ width: 360, height: 740 });
    await shot(alice, 'profile-mobile');
    await expectNoSideScroll(alice);
    await alice.setViewportSize({ width: 1280, height: 800 });
  });

  it('a password change signs alice’s other device out with its reason and keeps this one live', async () => {
    alice2 = await open('alice');
    await alice.getByRole('link', { name: 'Profile' }).click();
    await alice.getByLabel('Current password').fill('not my password');
    await alice.getByLabel('New password', { exact: true }).fill('a new long password');
    await alice.getByLabel('Repeat the new password').fill('a new long password');
    await alice.getByRole('button', { name: 'Change password' }).click();
    await alice.getByText('That is not your current password.').waitFor(WAIT);

    await alice.getByLabel('Current password').fill(PASSWORD);
    await alice.getByLabel('Repeat the new password').fill('a different password');
    await alice.getByRole('button', { name: 'Change password' }).click();
    await alice.getByText('The two new passwords are not the same.').waitFor(WAIT);

    await alice.getByLabel('Repeat the new password').fill('a new long password');
    await alice.getByRole('button', { name: 'Change password' }).click();
    // Two other devices were signed in: alice2, and the one the test registered her with over HTTP.
    await alice.getByText('Password changed. Signed out 2 other devices.').waitFor(WAIT);
    await shot(alice, 'profile-password-changed');

    // The other page is closed with 4403 password_changed and says so.
    await alice2.getByRole('alert').filter({ hasText: 'Your password was changed on another of your devices' }).waitFor(WAIT);
    await alice2.getByRole('button', { name: 'Sign in', exact: true }).waitFor(WAIT);

    // This page stays signed in and live: a message still reaches bob.
    await live(alice);
    await navLink(alice, /history/).click();
    await composer(alice).fill('still here after the change');
    await composer(alice).press('Enter');
    await messageText(bob, 'still here after the change').waitFor(WAIT);
    // And the new password is the one that works.
    const login = await server.client().post('/api/auth/login', { username: 'alice', password: 'a new long password' });
    expect(login.status).toBe(200);
  });
});
