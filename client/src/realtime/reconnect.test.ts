/**
 * Reconnecting when the server answers again: full-jitter backoff for the first attempts, and
 * during a long wait GET /healthz every probeIntervalMs, the first 200 ending the wait. Driven
 * with a scripted socket and a clock moved by hand.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock, FakeSocket, settle } from '../../test/fake-socket.js';
import { RealtimeClient, type RealtimeOptions } from './client.js';

const user = { id: 'u1', username: 'alice', displayName: 'alice', role: 'user' as const };

function setup(opts: RealtimeOptions = {}) {
  FakeSocket.all = [];
  const clock = new FakeClock();
  const server = { up: false, healthy: undefined as boolean | undefined, hang: false };
  const probes: number[] = [];
  const rt = new RealtimeClient({
    baseUrl: 'http://relay.test',
    WebSocket: FakeSocket,
    timers: clock,
    random: () => 0.999, // each delay near its ceiling: 499, 999, 1998, 3996… ms
    probeAfterMs: 2_000,
    probeIntervalMs: 1_500,
    fetch: async (input, init) => {
      const url = String(input);
      if (url.endsWith('/healthz')) {
        probes.push(clock.now());
        if (server.hang) {
          return new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
        }
        if (!(server.healthy ?? server.up)) throw new TypeError('fetch failed');
        return new Response('{"status":"ok"}');
      }
      if (!server.up) throw new TypeError('fetch failed');
      return new Response('{"token":"t"}');
    },
    ...opts,
  });
  /** Lets the pending retries run until one waits longer than `ms`; returns when it is due. */
  const waitUntilDelayOver = async (ms: number): Promise<number> => {
    for (let i = 0; i < 20; i++) {
      const { retryAt } = rt.getStatus();
      if (retryAt !== null && retryAt - clock.now() > ms) return retryAt;
      await clock.advance(retryAt === null ? 0 : retryAt - clock.now());
    }
    throw new Error('no long wait came');
  };
  return { rt, clock, server, probes, waitUntilDelayOver };
}

describe('reconnecting when the server is back', () => {
  it('short waits are slept out; during a long one GET /healthz is asked every 1.5 s and its first 200 connects at once', async () => {
    const { rt, clock, server, probes, waitUntilDelayOver } = setup();
    rt.connect();
    const retryAt = await waitUntilDelayOver(2_000);
    expect(rt.getStatus().attempt).toBe(4); // 499, 999, 1998 ms slept out, unprobed
    expect(probes).toEqual([]);
    const waitStart = clock.now();

    expect(retryAt - waitStart).toBe(3_996);
    await clock.advance(1_500);
    expect(probes.map((t) => t - waitStart)).toEqual([1_500]);
    expect(FakeSocket.all).toHaveLength(0);

    server.up = true;
    await clock.advance(1_500);
    expect(probes.map((t) => t - waitStart)).toEqual([1_500, 3_000]);
    expect(FakeSocket.all).toHaveLength(1);
    expect(clock.now()).toBeLessThan(retryAt);
    expect(rt.getStatus().state).toBe('connecting');
    expect(rt.getStatus().retryAt).toBeNull();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date(clock.now() + 3_600_000).toISOString() });
    expect(rt.getStatus()).toMatchObject({ state: 'live', attempt: 0 });

    // Once live, nothing probes any more.
    const asked = probes.length;
    await clock.advance(10_000);
    expect(probes).toHaveLength(asked);
    rt.disconnect();
  });

  it('a probe that gets no answer is abandoned after 1.5 s and the next one goes', async () => {
    const { rt, clock, server, probes } = setup({ backoff: { baseMs: 10_000, maxMs: 10_000 } });
    server.hang = true;
    rt.connect();
    await settle();
    const waitStart = clock.now();
    expect(rt.getStatus().retryAt! - waitStart).toBe(9_990);
    await clock.advance(3_000); // asked at 1.5 s, given up at 3 s
    server.hang = false;
    server.up = true;
    await clock.advance(1_500);
    expect(probes.map((t) => t - waitStart)).toEqual([1_500, 4_500]);
    expect(FakeSocket.all).toHaveLength(1);
    rt.disconnect();
  });

  it('wake() (back online, tab visible again) connects at once instead of sleeping out a long wait', async () => {
    const { rt, clock, server, waitUntilDelayOver } = setup({ probeAfterMs: 60_000 });
    rt.connect();
    const retryAt = await waitUntilDelayOver(2_000);
    server.up = true;
    rt.wake();
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    expect(clock.now()).toBeLessThan(retryAt);
    // While connecting or live, wake() does nothing.
    rt.wake();
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    rt.disconnect();
  });

  it('a wait the server asked for (4429), or one on a server that answers but fails (1013), is neither probed nor cut short by wake()', async () => {
    const { rt, clock, server, probes } = setup();
    server.up = true;
    rt.connect();
    await settle();
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(4429, 'rate_limited');
    const retryAt = rt.getStatus().retryAt!;
    expect(retryAt - clock.now()).toBeGreaterThan(2_000);
    rt.wake();
    await clock.advance(retryAt - clock.now() - 1);
    expect(probes).toEqual([]);
    expect(FakeSocket.all).toHaveLength(1);
    await clock.advance(1);
    expect(FakeSocket.all).toHaveLength(2);

    // 1013: the process is up (healthz would say 200) but cannot serve; probing would undo the backoff.
    for (let i = 0; i < 4; i++) {
      const ws = FakeSocket.last();
      ws.open();
      ws.drop(1013, 'try_again_later');
      await clock.advance(rt.getStatus().retryAt! - clock.now());
    }
    const ws = FakeSocket.last();
    ws.open();
    ws.drop(1013, 'try_again_later');
    const longWait = rt.getStatus().retryAt! - clock.now();
    expect(longWait).toBeGreaterThan(2_000);
    await clock.advance(longWait - 1);
    expect(probes).toEqual([]);
    rt.disconnect();
  });

  it('a reconnect reuses a token with more than a minute left; after a 4401 or near expiry a fresh one is fetched', async () => {
    FakeSocket.all = [];
    const clock = new FakeClock();
    const tokenRequests: string[] = [];
    let expiresAt = Date.now() + 15 * 60_000;
    const rt = new RealtimeClient({
      baseUrl: 'http://relay.test',
      WebSocket: FakeSocket,
      timers: clock,
      random: () => 0,
      fetch: async (input) => {
        if (String(input).endsWith('/healthz')) return new Response('{"status":"ok"}');
        tokenRequests.push(String(input));
        return new Response(JSON.stringify({ token: `t${tokenRequests.length}`, expiresAt: new Date(expiresAt).toISOString() }));
      },
    });
    const live = async () => {
      const ws = FakeSocket.all.at(-1)!;
      ws.open();
      ws.receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date(expiresAt).toISOString() });
      await settle();
      return ws;
    };
    const reconnected = async (count: number) => {
      for (let i = 0; i < 20 && FakeSocket.all.length < count; i++) {
        await clock.advance(1_000);
        await settle();
      }
      expect(FakeSocket.all).toHaveLength(count);
    };
    rt.connect();
    await settle();
    let ws = await live();
    expect(ws.frames('authenticate')).toEqual([{ type: 'authenticate', token: 't1' }]);

    ws.drop(1001, 'going_away'); // a restart: the token is still good for 15 minutes
    await reconnected(2);
    ws = await live();
    expect(ws.frames('authenticate')).toEqual([{ type: 'authenticate', token: 't1' }]);
    expect(tokenRequests).toHaveLength(1);

    ws.drop(4401, 'invalid_token'); // refused (a rotated secret): never reused
    await reconnected(3);
    ws = await live();
    expect(ws.frames('authenticate')).toEqual([{ type: 'authenticate', token: 't2' }]);

    expiresAt = Date.now() + 30_000; // the next token has under a minute left: not reused
    ws.drop(4401, 'token_expired');
    await reconnected(4);
    ws = await live();
    expect(ws.frames('authenticate')).toEqual([{ type: 'authenticate', token: 't3' }]);
    ws.drop(1006, '');
    await reconnected(5);
    expect(tokenRequests).toHaveLength(4);
    rt.disconnect();
  });
});
