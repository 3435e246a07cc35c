/**
 * What the issue-12 browser tests share: measuring that nothing widens the page, that a button
 * is inside the viewport, WCAG contrast of the focus ring, and a page that records any native
 * dialog (the app must never open one).
 */
import type { Browser, Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { live, PASSWORD } from './support.js';

/** A 300-character user agent: a real Chrome one, then tokens, one of them 80 characters without a break. */
export const LONG_UA = (
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 ' +
  `Build/${'x'.repeat(80)} ` +
  'Extension/1.0 '.repeat(20)
).slice(0, 300);

export interface TrackedPage {
  page: Page;
  /** Messages of native dialogs (alert, confirm, beforeunload) the page opened; each was dismissed. */
  nativeDialogs: string[];
}

export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 800 }): Promise<TrackedPage> {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  const nativeDialogs: string[] = [];
  page.on('dialog', (d) => {
    nativeDialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(url);
  return { page, nativeDialogs };
}

export async function signIn(page: Page, username: string, password = PASSWORD): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

export async function signInLive(page: Page, username: string): Promise<void> {
  await signIn(page, username);
  await live(page);
}

/** The element (and the document) are no wider than their boxes: nothing scrolls sideways. */
export async function expectNoSidewaysScroll(page: Page, selectors: string[]): Promise<void> {
  const widths = await page.evaluate((sels) => {
    const measure = (el: Element | null, name: string) => (el ? { name, scroll: el.scrollWidth, client: el.clientWidth } : { name, scroll: -1, client: -1 });
    return [measure(document.documentElement, 'document'), ...sels.map((s) => measure(document.querySelector(s), s))];
  }, selectors);
  for (const w of widths) {
    expect(w.client, `${w.name} exists`).toBeGreaterThan(0);
    expect(w.scroll, `${w.name} scrollWidth ≤ clientWidth`).toBeLessThanOrEqual(w.client);
  }
}

/** Scrolled to vertically, the element is wholly inside the viewport's width. */
export async function expectInViewport(page: Page, target: Locator): Promise<void> {
  await target.scrollIntoViewIfNeeded();
  const box = await target.boundingBox();
  const { width, height } = page.viewportSize()!;
  expect(box, 'element is rendered').not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(width);
  // Vertically it was scrolled to, give or take a sub-pixel of rounding.
  expect(box!.y).toBeGreaterThanOrEqual(-1);
  expect(box!.y + box!.height).toBeLessThanOrEqual(height + 1);
}

export interface FocusRing {
  /** What was focused: tag, class, accessible text. */
  what: string;
  outlineStyle: string;
  outlineWidth: number;
  outline: string;
  background: string;
  /** WCAG 2 contrast ratio of the ring against the background it is drawn on. */
  contrast: number;
}

/**
 * The focused element's ring as the browser computed it, and its WCAG contrast against the
 * background it is drawn on: the nearest opaque background of the element itself when the ring
 * is drawn inside it (a negative offset), of its ancestors otherwise. Translucent colours are
 * composited over what is beneath them first.
 */
export function focusRing(page: Page): Promise<FocusRing | null> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return null;
    const parse = (c: string): [number, number, number, number] => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return [0, 0, 0, 0];
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top: number[], bottom: number[]) => top.slice(0, 3).map((v, i) => v * top[3] + bottom[i] * (1 - top[3]));
    const style = getComputedStyle(el);
    const inside = parseFloat(style.outlineOffset) < 0;
    // The background under the ring: layers from the first opaque one up, composited.
    const layers: number[][] = [];
    for (let n: Element | null = inside ? el : el.parentElement; n; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    let base = [255, 255, 255];
    for (const layer of layers.reverse()) base = over(layer, base);
    const ring = over(parse(style.outlineColor), base);
    const lum = (rgb: number[]) => {
      const [r, g, b] = rgb.map((v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const [hi, lo] = [lum(ring), lum(base)].sort((a, b) => b - a);
    const label = (el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 30);
    return {
      what: `${el.tagName.toLowerCase()}.${el.className} “${label}”`,
      outlineStyle: style.outlineStyle,
      outlineWidth: parseFloat(style.outlineWidth),
      outline: style.outlineColor,
      background: `rgb(${base.map(Math.round).join(', ')})`,
      contrast: (hi + 0.05) / (lo + 0.05),
    };
  });
}

/** Tabs through the page `count` times; every focused element must show a ring of at least 3:1. */
export async function expectFocusRingsOnTab(page: Page, count: number): Promise<FocusRing[]> {
  const seen: FocusRing[] = [];
  for (let i = 0; i < count; i++) {
    await page.keyboard.press('Tab');
    const ring = await focusRing(page);
    if (!ring) continue;
    seen.push(ring);
    expect(ring.outlineStyle, ring.what).not.toBe('none');
    expect(ring.outlineWidth, ring.what).toBeGreaterThanOrEqual(2);
    expect(ring.contrast, `${ring.what}: ${ring.outline} on ${ring.background}`).toBeGreaterThanOrEqual(3);
  }
  return seen;
}

/** Two boxes share some area. */
export function overlaps(a: { x: number; y: number; width: number; height: number }, b: { x: number; y: number; width: number; height: number }): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}
