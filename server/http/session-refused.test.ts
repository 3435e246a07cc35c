/**
 * A request refused by the session check (401 invalid_proof: a bound device's copied cookie jar)
 * does not extend the session: express-session neither touches the store's expiry nor sends a
 * renewed cookie, so copies cannot keep an idle session alive. The holder's proved request still
 * does both. Real Postgres sessions and real Redis sessions; touches are counted where the
 * session middleware asks the store (before its once-a-minute throttle).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, startTestServer, type TestServer } from '../test/harness.js';
import { deviceKey, proving } from '../test/pop.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { SESSION_COOKIE } from './session.js';

type Touch = (sid: string, sess: unknown, cb?: (err?: unknown) => void) => void;

function suite(name: string, env: () => Promise<{ env: Record<string, string>; done?: () => Promise<void> }>) {
  describe(name, () => {
    let server: TestServer;
    let done: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const setup = await env();
      done = setup.done;
      server = await startTestServer({ env: setup.env });
    });
    afterAll(async () => {
      await server?.close();
      await done?.();
    });

    it('refused requests neither touch the stored session nor renew its cookie; a proved one does', async () => {
      const key = await deviceKey();
      const owner = proving(await server.register('idleowner', undefined, { deviceKey: key.publicJwk }), key);
      const stolen = new HttpClient(owner.baseUrl);
      for (const [k, v] of owner.cookies) stolen.cookies.set(k, v);

      const store = server.ctx.sessionStore as unknown as { touch: Touch };
      const real = store.touch;
      const touched: string[] = [];
      store.touch = (sid, sess, cb) => {
        touched.push(sid);
        real.call(store, sid, sess, cb);
      };
      const expireBefore = await storedExpiry(server);
      try {
        for (const path of ['/api/auth/me', '/api/channels', '/api/search?q=x', '/api/devices']) {
          const res = await stolen.get(path);
          expect(res.status, path).toBe(401);
          expect(res.body.error.code, path).toBe('invalid_proof');
          expect(res.headers.getSetCookie().filter((c) => c.startsWith(`${SESSION_COOKIE}=`)), path).toEqual([]);
        }
        expect((await stolen.post('/api/auth/token')).status).toBe(401);
        expect(touched).toEqual([]);
        expect(await storedExpiry(server)).toEqual(expireBefore);

        // The holder's proved request is what keeps the session alive.
        const mine = await owner.get('/api/auth/me');
        expect(mine.status).toBe(200);
        expect(mine.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`))).toBe(true);
        expect(touched).toHaveLength(1);
      } finally {
        store.touch = real;
      }
    });
  });
}

/** The Postgres store's stored expiry (the only session there), or null on Redis. */
async function storedExpiry(server: TestServer): Promise<string | null> {
  if (server.env.REDIS_URL) return null;
  const { rows } = await server.ctx.pool.query(`SELECT expire::text AS expire FROM session`);
  expect(rows).toHaveLength(1);
  return rows[0].expire;
}

suite('refused requests and the session expiry, Postgres sessions', async () => ({ env: {} }));

let redis: TestRedis | undefined;
suite('refused requests and the session expiry, Redis sessions', async () => {
  redis = await startRedis();
  return { env: { REDIS_URL: redis.url }, done: () => redis!.stop() };
});
