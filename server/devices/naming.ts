/**
 * A device's name when the client gave none, from its User-Agent, parsed by ua-parser-js (1.x,
 * MIT): "Chrome 131 on Linux", "Chrome 131 on Android (Pixel 7)", "Safari 17 on iOS (iPhone)".
 * A program that is not a browser is named by its product when it names one ("curl 8"), else it
 * is a "Command-line client". A passkey is named without the browser's version: it outlives
 * browser updates.
 *
 * @example
 * deviceNameFrom('Mozilla/5.0 (X11; Linux x86_64) … Chrome/131.0.0.0 Safari/537.36') // 'Chrome 131 on Linux'
 * deviceNameFrom('curl/8.5.0') // 'curl 8'
 * deviceNameFrom('Mozilla/5.0 (X11; Linux x86_64) … Chrome/131.0.0.0 Safari/537.36', { version: false }) // 'Chrome on Linux'
 */
import UAParser from 'ua-parser-js';
import { LIMITS } from '../../shared/codes.js';

/** ua-parser-js names people would not say: shown as the second. */
const BROWSERS: Record<string, string> = { 'Mobile Safari': 'Safari', 'Chrome Headless': 'Headless Chrome' };
const SYSTEMS: Record<string, string> = { 'Mac OS': 'macOS', 'Chromium OS': 'ChromeOS' };
/** Models that say nothing: Chrome's reduced UA on Android sends "K"; a Mac says "Macintosh" beside macOS. */
const VAGUE_MODELS = new Set(['K', 'Macintosh']);
/** Runtimes' default User-Agents, which name no program of their own. */
const RUNTIMES = new Set(['node', 'undici', 'node-fetch', 'deno', 'bun']);

export const CLI_NAME = 'Command-line client';

export function deviceNameFrom(userAgent: string, opts: { version?: boolean } = {}): string {
  const ua = userAgent.trim();
  const { browser, os, device } = new UAParser(ua).getResult();
  let name: string;
  if (browser.name) {
    const b = `${BROWSERS[browser.name] ?? browser.name}${browser.major && opts.version !== false ? ` ${browser.major}` : ''}`;
    const system = os.name ? ` on ${SYSTEMS[os.name] ?? os.name}` : '';
    const model = device.model && device.model.length > 1 && !VAGUE_MODELS.has(device.model) ? ` (${device.model})` : '';
    name = `${b}${system}${model}`;
  } else {
    // Not a browser: the first product token (`curl/8.5.0`), unless it is only a runtime's default.
    const product = /^([A-Za-z][\w.-]{0,40})\/v?(\d+)/.exec(ua);
    name = product && !RUNTIMES.has(product[1].toLowerCase()) ? `${product[1]} ${product[2]}` : CLI_NAME;
  }
  return name.slice(0, LIMITS.deviceNameMax);
}
