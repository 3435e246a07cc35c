/**
 * AUTH6 with MSG5: no frame reaches a socket before `authenticated`, and a user event that
 * happens while the socket authenticates is not lost: it follows `authenticated`. Real sockets
 * on port 0, real Postgres; the authentication is held where the socket already listens to its
 * user's events but has not been answered yet (the presence count, a Redis call in production).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { connect, openSocket } from '../test/ws-client.js';

describe('the first frame a socket gets', () => {
  let server: TestServer;
  let alice: HttpClient;
  let carol: HttpClient;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('afalice');
    carol = await server.register('afcarol');
  });
  afterAll(() => server?.close());

  it('AUTH6/MSG5: a channel_added sent while the socket authenticates arrives right after `authenticated`, never before', async () => {
    // Carol's laptop is connected: it witnesses when the event has reached this instance's
    // sockets of carol (one loop delivers it to all of them).
    const laptop = await connect(server.url, carol);
    const phone = await server.login('afcarol');

    const presence = server.gateway.presence;
    const realConnect = presence.connect;
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    presence.connect = async (userId: string, deviceId: string) => {
      if (deviceId === phone.deviceId) {
        held();
        await gate;
      }
      return realConnect.call(presence, userId, deviceId);
    };
    try {
      const s = await openSocket(server.url, phone);
      s.send({ type: 'authenticate', token: phone.token, ref: 'auth' });
      await holding;
      const created = await alice.post('/api/channels', { name: 'af-during-auth', kind: 'private', memberIds: [carol.userId] });
      expect(created.status).toBe(201);
      const channelId = created.body.channel.id;
      expect((await laptop.next('channel_added', 10_000)).channel.id).toBe(channelId);
      release();
      expect(await s.next(undefined, 10_000)).toMatchObject({ type: 'challenge' }); // POP2: the only frame before it
      expect(await s.next(undefined, 10_000)).toMatchObject({ type: 'authenticated', ref: 'auth' });
      expect(await s.next(undefined, 10_000)).toMatchObject({ type: 'channel_added', channel: { id: channelId } });
      // Once authenticated, user events go straight out.
      const later = (await alice.post('/api/channels', { name: 'af-after-auth', kind: 'private', memberIds: [carol.userId] })).body.channel.id;
      expect(await s.next(undefined, 10_000)).toMatchObject({ type: 'channel_added', channel: { id: later } });
      s.close();
    } finally {
      release();
      presence.connect = realConnect;
      laptop.close();
    }
  });
});
