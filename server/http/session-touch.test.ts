/**
 * The session store's expiry is written at most once a minute per session per instance, not on
 * every request: a reconnect storm's token requests cost no session write each (issue 13).
 * Real Postgres sessions (connect-pg-simple): the writes are counted at the pool.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test/harness.js';

describe('session touch', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('ten authenticated requests in a row write the session expiry once', async () => {
    const alice = await server.register('touchalice');
    const pool = server.ctx.pool as pg.Pool & { query: (...a: unknown[]) => Promise<unknown> };
    const real = pool.query.bind(pool);
    const touches: string[] = [];
    pool.query = ((config: unknown, ...rest: unknown[]) => {
      const text = typeof config === 'string' ? config : ((config as { text?: string } | null)?.text ?? '');
      if (/^UPDATE "session" SET expire/.test(text)) touches.push(text);
      return real(config, ...rest);
    }) as typeof pool.query;
    try {
      for (let i = 0; i < 10; i++) {
        expect((await alice.post('/api/auth/token')).status).toBe(200);
        expect((await alice.get('/api/auth/me')).status).toBe(200);
      }
    } finally {
      pool.query = real;
    }
    expect(touches).toHaveLength(1);
  });
});
