/**
 * The session store's expiry is written at most once a minute per session per instance, not on
 * every request: a reconnect storm's token requests cost no session write each (issue 13).
 * Real Postgres sessions (connect-pg-simple, on its own pool): the writes are counted where the
 * store sends its SQL.
 */
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
    const store = server.ctx.sessionStore as unknown as { query: (text: string, ...rest: unknown[]) => unknown };
    const real = store.query.bind(store);
    const touches: string[] = [];
    store.query = (text: string, ...rest: unknown[]) => {
      if (/^UPDATE "session" SET expire/.test(text)) touches.push(text);
      return real(text, ...rest);
    };
    try {
      for (let i = 0; i < 10; i++) {
        expect((await alice.post('/api/auth/token')).status).toBe(200);
        expect((await alice.get('/api/auth/me')).status).toBe(200);
      }
    } finally {
      store.query = real;
    }
    expect(touches).toHaveLength(1);
  });
});
