import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test/harness.js';
import { connect, openSocket } from '../test/ws-client.js';

describe('gateway smoke', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('authenticates, subscribes, sends, acks and fans out', async () => {
    const alice = await server.register('smokealice');
    const bob = await server.register('smokebob');
    const ch = await alice.post('/api/channels', { name: 'general', kind: 'public' });
    expect(ch.status).toBe(201);
    const channelId = ch.body.channel.id;
    expect((await bob.post(`/api/channels/${channelId}/join`)).status).toBe(200);
    const a = await connect(server.url, alice);
    const b = await connect(server.url, bob);
    a.send({ type: 'subscribe', channelId, ref: 'r1' });
    const sub = await a.next('subscribed');
    expect(sub.ref).toBe('r1');
    b.send({ type: 'subscribe', channelId });
    await b.next('subscribed');
    a.send({ type: 'send', channelId, clientMsgId: 'c1', body: 'hello' });
    const ack = await a.next('ack');
    expect(ack.message.body).toBe('hello');
    const msg = await b.next('message');
    expect(msg.message.id).toBe(ack.message.id);
    a.send({ type: 'send', channelId, clientMsgId: 'c1', body: 'hello' });
    const ack2 = await a.next('ack');
    expect(ack2.message.id).toBe(ack.message.id);
    const s = await openSocket(server.url, bob);
    s.send({ type: 'ping' });
    expect((await s.waitClose()).code).toBe(4401);
  });
});
