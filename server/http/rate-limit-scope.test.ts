/**
 * A 429 says which limit refused it (RateLimit-Scope, an addition to the contract), so a client
 * can hold back one username (`username`) or everything from the address (`address`). The body
 * stays the contract's `{error: {code, message}}`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../test/harness.js';

const fail = (server: TestServer, username: string) => server.client().post('/api/auth/login', { username, password: 'wrong password' });

describe('RateLimit-Scope on a refused sign-in', () => {
  let perUsername: TestServer;
  let perAddress: TestServer;
  beforeAll(async () => {
    [perUsername, perAddress] = await Promise.all([
      startTestServer({ env: { LOGIN_RATE_LIMIT_PER_USERNAME: '2' } }),
      startTestServer({ env: { LOGIN_RATE_LIMIT_PER_IP: '2' } }),
    ]);
    await perUsername.register('someone');
  });
  afterAll(async () => {
    await perUsername?.close();
    await perAddress?.close();
  });

  it('failures for one username: `username`, and another username still signs in', async () => {
    for (let i = 0; i < 2; i++) expect((await fail(perUsername, 'nobody')).status).toBe(401);
    const refused = await fail(perUsername, 'nobody');
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    expect(refused.headers.get('ratelimit-scope')).toBe('username');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const other = await perUsername.client().post('/api/auth/login', { username: 'someone', password: DEFAULT_PASSWORD });
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-scope')).toBeNull();
  });

  it('too many requests from the address: `address`, whatever the username', async () => {
    for (let i = 0; i < 2; i++) expect((await fail(perAddress, `user${i}`)).status).toBe(401);
    const refused = await fail(perAddress, 'somebody-else');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-scope')).toBe('address');
  });
});
