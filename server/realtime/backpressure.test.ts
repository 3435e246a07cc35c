/**
 * FLOW7: a socket whose frames wait on a slow database stops being read; its work queue and the
 * memory it holds stay bounded however fast the client floods, and every frame is still answered
 * in order once the database is fast again. Real socket on port 0, real Postgres; the frame rate
 * limit is raised so that it is not what stops the flood.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { delayQuery } from '../test/query-delay.js';
import { openSocket } from '../test/ws-client.js';
import { WORK_QUEUE_MAX, type Connection } from './connection.js';
import type { ConnectionHandle, ConnectionInfo, GatewaySocket } from './socket.js';

/** What one socket looked like from the server: frames taken off the wire, frames answered. */
interface Observed {
  conn?: Connection;
  read: number;
  answered: number;
  /** The most frames ever read and not yet answered. */
  worst: number;
  pauses: number;
  resumes: number;
}

/**
 * Wraps the gateway's accept so the test sees the next socket from the server's side, without
 * reaching into the gateway: every frame this test sends is answered by exactly one frame.
 */
function observeNextSocket(server: TestServer): Observed {
  const seen: Observed = { read: 0, answered: 0, worst: 0, pauses: 0, resumes: 0 };
  const gateway = server.gateway;
  const accept = gateway.accept.bind(gateway);
  gateway.accept = (socket: GatewaySocket, info: ConnectionInfo): ConnectionHandle => {
    gateway.accept = accept;
    const counting: GatewaySocket = {
      send(data) {
        seen.answered += 1;
        socket.send(data);
      },
      close: (code, reason) => socket.close(code, reason),
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      pause() {
        seen.pauses += 1;
        socket.pause?.();
      },
      resume() {
        seen.resumes += 1;
        socket.resume?.();
      },
    };
    const handle = accept(counting, info);
    seen.conn = handle as Connection;
    return {
      message(text) {
        seen.read += 1;
        seen.worst = Math.max(seen.worst, seen.read - seen.answered);
        handle.message(text);
      },
      binary: () => handle.binary(),
      closed: () => handle.closed(),
    };
  };
  return seen;
}

describe('back-pressure on a socket whose work is slow', () => {
  let server: TestServer;
  let alice: HttpClient;
  let channelId: string;

  beforeAll(async () => {
    server = await startTestServer({ env: { WS_RATE_PER_SEC: '1000000', WS_BURST: '1000000' } });
    alice = await server.register('bpalice');
    channelId = (await alice.post('/api/channels', { name: 'bp-flood', kind: 'private' })).body.channel.id;
  });
  afterAll(() => server?.close());

  it('FLOW7: a flood of sends on a stalled database pauses reading; the work queue stays bounded; all are answered in order', async () => {
    const seen = observeNextSocket(server);
    const s = await openSocket(server.url, alice);
    await s.authenticate();

    let open!: () => void;
    const stalled = new Promise<void>((resolve) => (open = resolve));
    const slow = delayQuery(server.ctx.pool, 'relay_store_message', stalled);
    const N = 600;
    const body = 'x'.repeat(2000);
    const frameOf = (i: number) => JSON.stringify({ type: 'send', channelId, clientMsgId: `bp-${i}`, body, ref: `r${i}` });
    const frameBytes = Buffer.byteLength(frameOf(N)) + 8;
    try {
      const written = new Promise<void>((resolve, reject) => {
        for (let i = 1; i <= N; i++) s.ws.send(frameOf(i), i === N ? (err) => (err ? reject(err) : resolve()) : undefined);
      });
      let done = false;
      written.then(
        () => (done = true),
        () => (done = true),
      );
      await slow.started;
      // The server stops reading once its queue is full. Without that, the client finishes
      // writing (the server takes everything in), which is where the queue grows without bound.
      const deadline = Date.now() + 30_000;
      while (!done && seen.pauses === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(done || seen.pauses > 0).toBe(true);
    } finally {
      open();
      slow.restore();
    }

    // Everything is answered, in the order sent, once the database is fast again.
    await expect.poll(() => s.all('ack').length, { timeout: 60_000, interval: 50 }).toBe(N);
    expect(s.frames.filter((f) => f.type !== 'authenticated' && f.type !== 'challenge').map((f) => f.ref)).toEqual(Array.from({ length: N }, (_, i) => `r${i + 1}`));
    const { rows } = await server.ctx.pool.query(
      `SELECT client_msg_id, seq::int AS seq FROM messages WHERE channel_id = $1::uuid ORDER BY seq`,
      [channelId],
    );
    expect(rows.map((r) => r.client_msg_id)).toEqual(Array.from({ length: N }, (_, i) => `bp-${i + 1}`));

    // Bounded: at most WORK_QUEUE_MAX frames queued for work, plus what the network read that
    // filled the queue had already brought in (one read is at most 64 KiB; two allowed).
    const oneRead = Math.ceil(65_536 / frameBytes);
    expect(seen.worst).toBeLessThanOrEqual(WORK_QUEUE_MAX + 2 * oneRead);
    // Reading was paused, and resumed as often: the socket is read again.
    expect(seen.pauses).toBeGreaterThan(0);
    expect(seen.resumes).toBe(seen.pauses);
    expect(seen.conn?.queued).toBe(0);
    s.send({ type: 'ping', ref: 'after' });
    expect(await s.next('pong')).toMatchObject({ ref: 'after' });
    s.close();
  });
});
