/**
 * What the browser end-to-end tests share: the build check, Debian's Chromium and how it is
 * launched, screenshots, and waiting for a live connection.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const shots = path.join(root, 'test-results', 'screenshots');
export const CHROMIUM = '/usr/bin/chromium';
export const PASSWORD = 'correct horse battery';

/** Builds dist/client when it is missing or older than the client's sources. */
export function ensureBuilt(): void {
  const index = path.join(root, 'dist', 'client', 'index.html');
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs,
      ),
    );
  const sources = Math.max(newest(path.join(root, 'client', 'src')), statSync(path.join(root, 'client', 'index.html')).mtimeMs, newest(path.join(root, 'shared')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  // vitest sets NODE_ENV=test, which would give a development build of React: ask for production.
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
}

/** The built app, the screenshot folder, and Debian's Chromium (never a downloaded one). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (npm test does it)`);
  ensureBuilt();
  mkdirSync(shots, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

export const live = (page: Page) => page.locator('.connection[data-state="live"]').waitFor({ timeout: 15_000 });

/**
 * The first visitor of an empty install: makes the administrator on the set-up screen and waits
 * for the app (home, where no default channel is set: the test harness sets none).
 */
export async function setUpAdmin(page: Page, username: string, password = PASSWORD): Promise<void> {
  await page.getByRole('heading', { name: 'Set up Relay' }).waitFor({ timeout: 15_000 });
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the password').fill(password);
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByRole('heading', { name: `Welcome, ${username}` }).waitFor({ timeout: 15_000 });
}

/**
 * What the app keeps in the page's IndexedDB (state/user-storage.ts: database `relay`, store
 * `saved`), as [key, value] pairs. Read with the browser's own API, so a test sees what a
 * reload would find.
 */
export function savedRecords(page: Page): Promise<Array<[unknown, unknown]>> {
  return page.evaluate(
    () =>
      new Promise<Array<[unknown, unknown]>>((resolve, reject) => {
        const open = indexedDB.open('relay');
        // Created the way idb-keyval creates it, in case the app has not opened it yet.
        open.onupgradeneeded = () => open.result.createObjectStore('saved');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction('saved', 'readonly');
          const keys = tx.objectStore('saved').getAllKeys();
          const values = tx.objectStore('saved').getAll();
          tx.oncomplete = () => {
            db.close();
            resolve(keys.result.map((k, i) => [k, values.result[i]]));
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
  );
}

/**
 * GET `path` from the page as the app does it: with a DPoP proof signed in the page by the
 * device key the app keeps in IndexedDB (auth/device-key.ts), since a bound device's session
 * answers nothing without one (SPEC POP8). Without a stored key it is a plain fetch.
 */
export function appGet<T = any>(page: Page, path: string): Promise<T> {
  return page.evaluate(async (p) => {
    const stored = await new Promise<{ keys: CryptoKeyPair } | undefined>((resolve, reject) => {
      const open = indexedDB.open('relay');
      open.onupgradeneeded = () => open.result.createObjectStore('saved');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction('saved', 'readonly').objectStore('saved').get('device-key');
        get.onsuccess = () => resolve(get.result);
        get.onerror = () => reject(get.error);
      };
    });
    const headers: Record<string, string> = {};
    if (stored) {
      const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const json = (v: object) => b64(new TextEncoder().encode(JSON.stringify(v)));
      const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', stored.keys.publicKey);
      const url = new URL(p, location.href);
      url.search = '';
      const input = `${json({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty, crv, x, y } })}.${json({ htm: 'GET', htu: url.toString(), jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) })}`;
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, stored.keys.privateKey, new TextEncoder().encode(input));
      headers.DPoP = `${input}.${b64(new Uint8Array(signature))}`;
    }
    const res = await fetch(p, { headers });
    if (!res.ok) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
    return res.json();
  }, path);
}
