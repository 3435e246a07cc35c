/**
 * SHUT1 at the HTTP level, with the real entry point: from the moment SIGTERM arrives, no
 * request is half-served by an instance whose database pool is closing. Clients that keep asking
 * for tokens through the shutdown (what a reconnecting browser does) get an answer (200 before,
 * 503 with Retry-After after) or a refused connection, never a 500, and the process logs no
 * "pool after calling end".
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, startTestServer } from './test/harness.js';
import { baseServerEnv, killSpawned, registerAt, spawnServer, type ServerProcess } from './test/process.js';

const procs: ServerProcess[] = [];

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.killAll()));
  await killSpawned();
});

describe('SHUT1: HTTP during shutdown', () => {
  it('SHUT1: token requests racing a SIGTERM get 200, 503 or a refused connection, never a 500, and nothing uses the closed pool', async () => {
    const env = { ...baseServerEnv(), LOG_LEVEL: 'info', DATABASE_URL: await createTestDatabase() };
    const server = await spawnServer(env);
    procs.push(server);
    const users = await Promise.all(['shuthttp1', 'shuthttp2', 'shuthttp3', 'shuthttp4'].map((u) => registerAt(server.url, u)));

    const statuses = new Map<string, number>();
    let stop = false;
    // Each user keeps asking on its own kept-alive connection until the server is gone.
    const loops = users.map(async (u) => {
      while (!stop) {
        try {
          const res = await u.post('/api/auth/token');
          statuses.set(String(res.status), (statuses.get(String(res.status)) ?? 0) + 1);
          if (res.status === 503) expect(res.body.error.code).toBe('service_unavailable');
        } catch {
          statuses.set('refused', (statuses.get('refused') ?? 0) + 1);
          if (server.exited()) return;
        }
      }
    });
    await expect.poll(() => statuses.get('200') ?? 0, { timeout: 10_000 }).toBeGreaterThan(20);
    const exit = await server.stop('SIGTERM', 15_000);
    stop = true;
    await Promise.all(loops);

    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    expect([...statuses.keys()].filter((s) => !['200', '503', 'refused'].includes(s)), JSON.stringify([...statuses])).toEqual([]);
    expect(server.output()).not.toMatch(/Cannot use a pool after calling end/);
    expect(server.output()).not.toMatch(/"level":(50|60)/);
  });

  it('SHUT1: a request still running when shutdown begins finishes on a live pool; the pool closes after it', async () => {
    const server = await startTestServer();
    const alice = await server.register('shutslow');
    // Hold the session's device lookup of the next token request until shutdown is under way.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    const pool = server.ctx.pool as pg.Pool & { query: (...a: unknown[]) => Promise<unknown> };
    const real = pool.query.bind(pool);
    pool.query = ((config: unknown, ...rest: unknown[]) => {
      const text = typeof config === 'string' ? config : ((config as { text?: string } | null)?.text ?? '');
      if (!/from "devices" inner join "users"/i.test(text)) return real(config, ...rest);
      pool.query = real;
      held();
      return gate.then(() => real(config, ...rest));
    }) as typeof pool.query;
    const slow = alice.post('/api/auth/token');
    await holding;
    const closing = server.close();
    // Past the point where shutdown used to cut running requests (1 s) and close the pool.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(server.httpServer.listening).toBe(false);
    release();
    expect((await slow).status).toBe(200);
    await closing;
    expect(server.logs.join('')).not.toMatch(/Cannot use a pool after calling end/);
    expect(server.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });
});
