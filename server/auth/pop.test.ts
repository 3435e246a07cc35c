/** The cache of imported device keys (POP5): by thumbprint, most recently used kept, bounded. */
import { describe, expect, it } from 'vitest';
import { bindDeviceKey, DeviceKeyCache } from './pop.js';
import { deviceKey } from '../test/pop.js';

async function boundKey() {
  const k = await deviceKey();
  return bindDeviceKey({ kty: 'EC', crv: 'P-256', x: k.publicJwk.x!, y: k.publicJwk.y! });
}

describe('DeviceKeyCache', () => {
  it('imports a key once and keeps the most recently used within its bound', async () => {
    const cache = new DeviceKeyCache(2);
    const [a, b, c] = await Promise.all([boundKey(), boundKey(), boundKey()]);
    const ka = await cache.get(a.thumbprint, a.publicKey);
    expect(await cache.get(a.thumbprint, a.publicKey)).toBe(ka);
    await cache.get(b.thumbprint, b.publicKey);
    await cache.get(a.thumbprint, a.publicKey); // a is now the most recent: b goes first
    await cache.get(c.thumbprint, c.publicKey);
    expect(cache.size).toBe(2);
    expect(await cache.get(a.thumbprint, a.publicKey)).toBe(ka);
    expect(await cache.get(b.thumbprint, b.publicKey)).not.toBe(ka);
  });

  it('refuses a point that is not on the curve, and keeps nothing for it', async () => {
    const cache = new DeviceKeyCache();
    const a = await boundKey();
    await expect(cache.get('bogus', { ...a.publicKey, y: a.publicKey.x })).rejects.toThrow();
    expect(cache.size).toBe(0);
  });
});
