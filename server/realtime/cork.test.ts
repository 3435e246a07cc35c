/**
 * The ws adapter corks each socket for the rest of a turn when fan-out frames are written to it
 * (ws-adapter.ts), so a burst leaves in one writev. Real sockets, real Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../bus/bus.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { connect } from '../test/ws-client.js';
import { encodeEnvelope } from './hub.js';

describe('corked fan-out', () => {
  let server: TestServer;
  let alice: HttpClient;
  let channelId: string;

  beforeAll(async () => {
    // A small slow-consumer bound: one turn's burst below is 2.5 times over it.
    server = await startTestServer({ env: { WS_MAX_BUFFERED_BYTES: String(64 * 1024) } });
    alice = await server.register('corkalice');
    channelId = (await alice.post('/api/channels', { name: 'cork', kind: 'public' })).body.channel.id;
  });
  afterAll(() => server?.close());

  it('FLOW4/MSG1: a burst of frames in one turn is not taken for a slow consumer; every frame arrives once, in order', async () => {
    const s = await connect(server.url, alice);
    s.send({ type: 'subscribe', channelId, ref: 'sub' });
    await s.next('subscribed');
    const body = 'x'.repeat(4000);
    // 40 events of ~4 KB published in one turn: the in-process bus delivers them all before the
    // turn ends, so the socket holds ~160 KB corked, none of it offered to the kernel yet.
    for (let i = 0; i < 40; i++) {
      const message = { id: '', channelId, senderId: alice.userId, clientMsgId: `burst-${i}`, body, createdAt: new Date().toISOString() };
      void server.ctx.bus.publish(TOPICS.channel(channelId), encodeEnvelope('m', '', String(i + 1), JSON.stringify({ type: 'message', seq: i + 1, message })));
    }
    await expect.poll(() => s.all('message').length, { timeout: 10_000 }).toBe(40);
    expect(s.all('message').map((f) => f.message.clientMsgId)).toEqual(Array.from({ length: 40 }, (_, i) => `burst-${i}`));
    s.send({ type: 'ping', ref: 'p' });
    expect(await s.next('pong')).toMatchObject({ ref: 'p' });
    expect(s.closed).toBeUndefined();
    s.close();
  });
});
