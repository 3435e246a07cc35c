/**
 * Per-user limits count only requests the session check admitted: a bound user's copied cookie
 * jar, every request of which is refused 401 invalid_proof (POP8), spends nothing of the owner's
 * search, rename, channel-write or password-change budgets, in memory and on Redis alike. The
 * owner's proved requests still count (the limits themselves are unchanged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, startTestServer, type TestServer } from '../test/harness.js';
import { deviceKey, proving } from '../test/pop.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';

const LIMITS = {
  SEARCH_RATE_LIMIT: '5',
  RENAME_RATE_LIMIT: '5',
  CHANNEL_WRITE_RATE_LIMIT: '5',
  LOGIN_RATE_LIMIT_PER_USERNAME: '3',
  LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: '5',
};
const REFUSED = 20;

function copyOf(victim: HttpClient): HttpClient {
  const c = new HttpClient(victim.baseUrl);
  for (const [k, v] of victim.cookies) c.cookies.set(k, v);
  return c;
}

/** Refused: 401 invalid_proof, or 429 once the copies' address has spent its own (per-address) budget. */
function expectRefused(res: { status: number; body: { error?: { code?: string } } }, what: string, i: number) {
  const expected = i === 0 ? ['invalid_proof'] : ['invalid_proof', 'rate_limited'];
  expect(expected, what).toContain(res.body.error?.code);
  expect(res.status, what).toBe(res.body.error?.code === 'invalid_proof' ? 401 : 429);
}

function suite(name: string, env: () => Promise<{ env: Record<string, string>; done?: () => Promise<void> }>) {
  describe(name, () => {
    let server: TestServer;
    let owner: HttpClient;
    let done: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const setup = await env();
      done = setup.done;
      server = await startTestServer({ env: { ...setup.env, ...LIMITS } });
      const key = await deviceKey();
      owner = proving(await server.register('rlowner', undefined, { deviceKey: key.publicJwk }), key);
    });
    afterAll(async () => {
      await server?.close();
      await done?.();
    });

    it(`${REFUSED} refused requests per route from copied cookies leave the owner's search, rename, channel and password budgets whole`, async () => {
      const stolen = copyOf(owner);
      for (let i = 0; i < REFUSED; i++) {
        expectRefused(await stolen.get(`/api/search?q=word${i}`), 'search', i);
        expectRefused(await stolen.patch('/api/me', { displayName: `Thief ${i}` }), 'rename', i);
        expectRefused(await stolen.post('/api/channels', { name: `thief-${i}`, kind: 'public' }), 'channel create', i);
        // The per-address login limit is out of reach here (the harness sets it very high): all 401.
        expectRefused(await stolen.post('/api/me/password', { currentPassword: `guess ${i}`, newPassword: 'thief horse battery staple' }), 'password', 0);
      }
      // The owner's proved requests all work, up to the very limits.
      for (let i = 0; i < 5; i++) expect((await owner.get(`/api/search?q=mine${i}`)).status, `search ${i}`).toBe(200);
      for (let i = 0; i < 5; i++) expect((await owner.patch('/api/me', { displayName: `Owner ${i}` })).status, `rename ${i}`).toBe(200);
      for (let i = 0; i < 5; i++) expect((await owner.post('/api/channels', { name: `owner-${i}`, kind: 'public' })).status, `channel ${i}`).toBe(201);
      // Two wrong guesses of the owner's own count (3 per address), then the right password works.
      for (let i = 0; i < 2; i++) {
        const wrong = await owner.post('/api/me/password', { currentPassword: `wrong ${i}`, newPassword: 'owner horse battery staple' });
        expect(wrong.status, `wrong password ${i}`).toBe(401);
      }
      const changed = await owner.post('/api/me/password', { currentPassword: 'correct horse battery', newPassword: 'owner horse battery staple' });
      expect(changed.status).toBe(200);

      // The limits still hold for the owner: the next proved search, rename and channel are refused.
      for (const res of [
        await owner.get('/api/search?q=over'),
        await owner.patch('/api/me', { displayName: 'Owner over' }),
        await owner.post('/api/channels', { name: 'owner-over', kind: 'public' }),
      ]) {
        expect(res.status).toBe(429);
        expect(res.body.error.code).toBe('rate_limited');
        expect(res.headers.get('ratelimit-scope')).toBe('user');
      }
      // Nothing the copies sent was written.
      const thief = await server.ctx.pool.query(`SELECT 1 FROM channels WHERE name LIKE 'thief-%'`);
      expect(thief.rows).toEqual([]);
    });
  });
}

suite('refused requests and per-user limits, in memory', async () => ({ env: {} }));

let redis: TestRedis | undefined;
suite('refused requests and per-user limits, on Redis', async () => {
  redis = await startRedis();
  return { env: { REDIS_URL: redis.url }, done: () => redis!.stop() };
});
