/**
 * End to end, managing people: adding someone to a private channel (it reaches their open page
 * by `channel_added`), an admin making someone an admin, and leaving a channel only after a
 * confirmation. Same set-up as app.test.ts: the built app on a real test server, Debian's
 * Chromium via playwright-core, one browser context per person. Screenshots go to
 * test-results/screenshots/.
 */
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { launchBrowser, live, PASSWORD, shot } from './support.js';

describe('managing people, end to end', () => {
  let server: TestServer;
  let browser: Browser;
  const pages: Record<'alice' | 'bob' | 'carol', Page> = {} as never;
  const confirms: Record<string, string[]> = {};

  /** Opens the app for someone registered over HTTP and signs them in. */
  async function open(name: 'alice' | 'bob' | 'carol'): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    // Fail on the step that is stuck, well inside the test's own timeout.
    page.setDefaultTimeout(8_000);
    // Native confirm() questions are accepted, and kept to check what they asked.
    confirms[name] = [];
    page.on('dialog', (d) => {
      confirms[name].push(d.message());
      void d.accept();
    });
    await page.goto(server.url);
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await live(page);
    return page;
  }

  beforeAll(async () => {
    server = await startTestServer();
    // alice registers first, so she is the admin.
    for (const name of ['alice', 'bob', 'carol']) await server.register(name, PASSWORD);
    browser = await launchBrowser();
    for (const name of ['alice', 'bob', 'carol'] as const) pages[name] = await open(name);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('alice adds carol to a private channel; it appears on carol’s page without a reload', async () => {
    const { alice, carol } = pages;
    await alice.getByRole('button', { name: 'New channel' }).click();
    await alice.getByLabel('Name').fill('plans');
    await alice.getByRole('radio', { name: /Private/ }).check();
    await alice.getByRole('button', { name: 'Create channel' }).click();
    await alice.getByRole('heading', { name: 'plans', level: 1 }).waitFor();
    await alice.getByText('Private · 1 member').waitFor();
    expect(await carol.getByRole('link', { name: /plans/ }).count()).toBe(0);

    await alice.getByRole('button', { name: 'Add people' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Add people to plans' });
    await dialog.waitFor();
    // The search box has the focus, so one can type a name at once.
    await expect.poll(() => alice.evaluate(() => document.activeElement?.getAttribute('type'))).toBe('search');
    await alice.keyboard.type('car');
    await dialog.getByRole('button', { name: /^Add carol \(@carol\)/ }).click();
    await dialog.getByText('(1 selected)').waitFor();
    await shot(alice, 'add-people-dialog');
    await dialog.getByRole('button', { name: 'Add', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });

    // alice's header counts carol at once (from the answer), and shows her avatar.
    await alice.getByText('Private · 2 members').waitFor();
    expect(await alice.locator('.member-stack > span').count()).toBe(2);
    await alice.locator('.member-stack [title^="carol"]').waitFor();

    // carol's open page gets the channel by channel_added, no reload.
    const link = carol.getByRole('link', { name: /plans/ });
    await link.waitFor({ timeout: 5_000 });
    await link.click();
    await carol.getByRole('heading', { name: 'plans', level: 1 }).waitFor();
    await carol.getByText('Private · 2 members').waitFor();

    // Existing members are not offered again (seen here at phone width, where the button is an icon).
    await alice.setViewportSize({ width: 360, height: 740 });
    await alice.getByRole('button', { name: 'Add people' }).click();
    await alice.keyboard.type('car');
    await dialog.getByText('Nobody to add matches “car”.').waitFor();
    await shot(alice, 'add-people-dialog-mobile');
    // Escape in a search box first empties it (the browser's own behaviour), then closes the dialog.
    await alice.keyboard.press('Escape');
    await dialog.getByRole('button', { name: /^Add bob \(@bob\)/ }).waitFor();
    await alice.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await alice.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Add people');
    await alice.setViewportSize({ width: 1280, height: 800 });
  });

  it('an admin makes bob an admin; after a reload bob can open the Admin area', async () => {
    const { alice, bob } = pages;
    expect(await bob.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await alice.getByRole('link', { name: 'Admin' }).click();
    await alice.getByRole('heading', { name: 'Administration' }).waitFor();
    // No role control on one's own row: the server would refuse a self-demotion anyway.
    const aliceRow = alice.locator('tr[data-username="alice"]');
    await aliceRow.getByText('Admin', { exact: true }).waitFor();
    expect(await aliceRow.getByRole('button', { name: /^Make / }).count()).toBe(0);

    const bobRow = alice.locator('tr[data-username="bob"]');
    await bobRow.getByText('Member', { exact: true }).waitFor();
    await bobRow.getByRole('button', { name: 'Make admin' }).click();
    // The app's own question (issue 12), not the browser's confirm().
    const question = alice.getByRole('dialog', { name: 'Make bob an administrator?' });
    const [res] = await Promise.all([
      alice.waitForResponse((r) => /\/api\/admin\/users\/[^/]+\/role$/.test(r.url())),
      question.getByRole('button', { name: 'Make admin' }).click(),
    ]);
    expect(res.status()).toBe(200);
    expect(confirms.alice).toEqual([]);
    await bobRow.getByText('Admin', { exact: true }).waitFor();
    await bobRow.getByRole('button', { name: 'Make member' }).waitFor();
    await shot(alice, 'admin-roles');

    await bob.reload();
    await live(bob);
    await bob.getByRole('link', { name: 'Admin' }).click();
    await bob.getByRole('heading', { name: 'Administration' }).waitFor();
    await bob.locator('tr[data-username="carol"]').waitFor();
  });

  it('the server’s refusal of a self-demotion is shown in words', async () => {
    const { alice } = pages;
    // The UI offers no such button on one's own row, so alice's page is told (GET /api/auth/me)
    // that she is someone else: her own row then offers "Make member", and the request it sends is
    // the app's own, with its DPoP proof. (Rewriting the request in flight would break that proof,
    // which names the URL it was made for: SPEC POP8.)
    await alice.route('**/api/auth/me', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { user: { id: string } };
      body.user.id = '00000000-0000-4000-8000-000000000000';
      await route.fulfill({ response: res, json: body });
    });
    await alice.reload();
    await live(alice);
    const ownRow = alice.locator('tr[data-username="alice"]');
    await ownRow.getByRole('button', { name: 'Make member' }).click();
    await alice.getByRole('alert').filter({ hasText: 'You cannot make yourself a member.' }).waitFor();
    await alice.unroute('**/api/auth/me');
    // Nothing changed: alice is still an admin, and so is bob.
    await alice.reload();
    await live(alice);
    await ownRow.getByText('Admin', { exact: true }).waitFor();
    await alice.locator('tr[data-username="bob"]').getByText('Admin', { exact: true }).waitFor();
  });

  it('leaving a channel asks first: Escape and Cancel keep carol in, Leave channel takes her out', async () => {
    const { alice, carol } = pages;
    await carol.getByRole('link', { name: /plans/ }).click();
    await carol.getByRole('heading', { name: 'plans', level: 1 }).waitFor();
    const leaveButton = carol.getByRole('button', { name: 'Leave', exact: true });
    const question = carol.getByRole('dialog', { name: 'Leave plans?' });
    const asked = confirms.carol.length;

    // Escape cancels; the focus starts on Cancel and comes back to the Leave button.
    await leaveButton.click();
    await question.waitFor();
    await question.getByText('someone in it has to add you again').waitFor();
    expect(await carol.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await shot(carol, 'leave-confirm');
    await carol.keyboard.press('Escape');
    await question.waitFor({ state: 'detached' });
    expect(await carol.evaluate(() => document.activeElement?.textContent)).toBe('Leave');
    await carol.getByRole('heading', { name: 'plans', level: 1 }).waitFor();

    // So does Cancel.
    await leaveButton.click();
    await question.getByRole('button', { name: 'Cancel' }).click();
    await question.waitFor({ state: 'detached' });
    await carol.getByRole('heading', { name: 'plans', level: 1 }).waitFor();

    // Confirming leaves: back home, gone from carol's list, and alice's count drops.
    await leaveButton.click();
    await question.getByRole('button', { name: 'Leave channel' }).click();
    await carol.getByRole('heading', { name: 'Welcome, carol' }).waitFor();
    expect(await carol.getByRole('link', { name: /plans/ }).count()).toBe(0);
    expect(confirms.carol.length).toBe(asked); // the question was ours, not window.confirm
    // alice's open page hears it (channel_updated): her count drops without a reload.
    await alice.getByRole('link', { name: /plans/ }).click();
    await alice.getByText('Private · 1 member').waitFor();
  });
});
