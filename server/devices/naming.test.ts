/** Device names from User-Agents (ua-parser-js): what a person would call the device, never a wall of text. */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/codes.js';
import { deviceNameFrom } from './naming.js';

describe('deviceNameFrom', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome 131 on Linux'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome 131 on Android (Pixel 7)'],
    ['Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0', 'Firefox 133 on Android'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari 17 on iOS (iPhone)'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari 17 on macOS'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86',
      'Edge 131 on Windows',
    ],
    // Chrome's reduced Android UA names no model ("K"): none is shown.
    ['Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome 131 on Android'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36', 'Headless Chrome 131 on Linux'],
  ])('a browser: %s → %s', (ua, name) => {
    expect(deviceNameFrom(ua)).toBe(name);
  });

  it.each([
    ['curl/8.5.0', 'curl 8'],
    ['python-requests/2.31.0', 'python-requests 2'],
    // A runtime's default names no program, and no User-Agent at all is a command-line client too.
    ['node', 'Command-line client'],
    ['undici', 'Command-line client'],
    ['', 'Command-line client'],
    ['   ', 'Command-line client'],
  ])('not a browser: %j → %s', (ua, name) => {
    expect(deviceNameFrom(ua)).toBe(name);
  });

  it('a passkey is named without the browser version, which it outlives', () => {
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    expect(deviceNameFrom(ua, { version: false })).toBe('Chrome on Linux');
  });

  it('fits the device name limit whatever the User-Agent', () => {
    expect(deviceNameFrom(`${'x'.repeat(500)}/1`).length).toBeLessThanOrEqual(LIMITS.deviceNameMax);
    expect(deviceNameFrom(`Mozilla/5.0 (Linux; Android 14; ${'M'.repeat(300)}) Chrome/131.0.0.0 Mobile Safari/537.36`).length).toBeLessThanOrEqual(
      LIMITS.deviceNameMax,
    );
  });
});
