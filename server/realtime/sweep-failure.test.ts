/**
 * REV3: when the revocation sweep cannot ask the database twice in a row, the instance still
 * fails closed (every authenticated socket 1013 try_again_later), but spreads the closes over
 * REVOCATION_FAILURE_SPREAD_MS so the reconnect wave does not hit a struggling database at once.
 * Real sockets on port 0; the sweep fails with a real Postgres error (its table is renamed away).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type pg from 'pg';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { connect, type TestSocket } from '../test/ws-client.js';
import type { Connection } from './connection.js';
import { Revocations } from './revocations.js';

describe('a revocation sweep that keeps failing', () => {
  let server: TestServer;
  let users: HttpClient[];

  beforeAll(async () => {
    server = await startTestServer({ env: { REVOCATION_SWEEP_MS: '200', REVOCATION_FAILURE_SPREAD_MS: '3000' } });
    users = [await server.register('sfann'), await server.register('sfben'), await server.register('sfcid')];
  });
  afterAll(() => server?.close());

  it('REV3: every authenticated socket is closed 1013, spread over the window, not all at once', async () => {
    const sockets: TestSocket[] = [];
    for (const user of users) for (let i = 0; i < 10; i++) sockets.push(await connect(server.url, user));
    const closes = sockets.map((s) => s.closedPromise.then((c) => ({ ...c, at: Date.now() })));
    await server.ctx.pool.query('ALTER TABLE devices RENAME TO devices_away');
    try {
      const ceiling = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('sockets still open after 30 s')), 30_000));
      const closed = await Promise.race([Promise.all(closes), ceiling]);
      expect(closed.map(({ code, reason }) => ({ code, reason }))).toEqual(sockets.map(() => ({ code: 1013, reason: 'try_again_later' })));
      const times = closed.map((c) => c.at);
      // Spread evenly over 3 s: first and last at least 1 s apart (2.9 s when on time).
      expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1_000);
      expect(server.logs.some((line) => line.includes('revocation sweep failed') && line.includes('devices'))).toBe(true);
    } finally {
      await server.ctx.pool.query('ALTER TABLE devices_away RENAME TO devices');
    }
  });
});

describe('the spread of fail-closed sockets (Revocations alone, fake clock)', () => {
  const log = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} } as never;
  const fakeConns = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const conn = { id: `c${i}`, deviceId: `d${i}`, open: true, closedWith: undefined as string | undefined };
      return Object.assign(conn, {
        close(reason: string) {
          if (!conn.open) return;
          conn.open = false;
          conn.closedWith = reason;
        },
      });
    });

  it('REV3: closes are spread evenly over the window; a sweep that succeeds meanwhile stops the rest', async () => {
    vi.useFakeTimers();
    try {
      const conns = fakeConns(100);
      let failing = true;
      const pool = {
        query: async () => {
          if (failing) throw Object.assign(new Error('relation "devices" does not exist'), { code: '42P01' });
          return { rows: conns.map((c) => ({ id: c.deviceId, revoked: false, reason: null, disabled: false })) };
        },
      } as unknown as pg.Pool;
      const revocations = new Revocations({
        pool,
        log,
        devices: new Map(conns.map((c) => [c.deviceId, new Set([c as unknown as Connection])])),
        authenticated: () => conns.filter((c) => c.open) as unknown as Connection[],
        failureSpreadMs: 10_000,
      });
      const closedCount = () => conns.filter((c) => !c.open).length;
      await revocations.sweep();
      expect(closedCount()).toBe(0); // one failure is not enough
      await revocations.sweep();
      expect(closedCount()).toBe(1); // the first goes at once
      await vi.advanceTimersByTimeAsync(2_500);
      expect(closedCount()).toBeGreaterThanOrEqual(24);
      expect(closedCount()).toBeLessThanOrEqual(27);
      // A third failure does not start a second wave on top of this one.
      await revocations.sweep();
      expect(closedCount()).toBeLessThanOrEqual(27);
      await vi.advanceTimersByTimeAsync(2_500);
      expect(closedCount()).toBeGreaterThanOrEqual(49);
      expect(closedCount()).toBeLessThanOrEqual(52);
      expect(conns.filter((c) => !c.open).every((c) => c.closedWith === 'try_again_later')).toBe(true);
      // The database answers again: the devices left were just checked, so they stay.
      failing = false;
      await revocations.sweep();
      const stopped = closedCount();
      await vi.advanceTimersByTimeAsync(20_000);
      expect(closedCount()).toBe(stopped);
      // Two new failures in a row start a new spread, over every socket still open.
      failing = true;
      await revocations.sweep();
      await revocations.sweep();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(closedCount()).toBe(100);
      revocations.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
