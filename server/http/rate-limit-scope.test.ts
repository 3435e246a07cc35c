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

describe('RateLimit headers on sign-in', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { LOGIN_RATE_LIMIT_PER_IP: '1000', LOGIN_RATE_LIMIT_PER_USERNAME: '3', LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: '7' },
    });
  });
  afterAll(() => server?.close());

  /** The limits a response's RateLimit headers describe (draft-7: `limit=N, …` and `N;w=…`). */
  const advertised = (res: { headers: Headers }) =>
    [res.headers.get('ratelimit'), res.headers.get('ratelimit-policy')]
      .filter((h): h is string => h !== null)
      .map((h) => Number(/^(?:limit=)?(\d+)/.exec(h)?.[1]));

  it("the headers are the address's own limit, never a username's failure count; a 429 still says Retry-After and its scope", async () => {
    const responses = [];
    for (let i = 0; i < 3; i++) responses.push(await fail(server, 'target'));
    expect(responses.map((r) => r.status)).toEqual([401, 401, 401]);
    const refused = await fail(server, 'target');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-scope')).toBe('username');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    for (const res of [...responses, refused]) {
      const limits = advertised(res);
      expect(limits.length).toBeGreaterThan(0);
      // 1000 per address; the per-username limits (3 and 7) are never advertised.
      for (const limit of limits) expect(limit).toBe(1000);
      expect(res.headers.get('ratelimit')).not.toMatch(/limit=(3|7)\b/);
    }
  });
});
