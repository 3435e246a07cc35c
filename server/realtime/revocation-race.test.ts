/**
 * REV1 at the worst moment: the device is revoked while the socket's token is being verified,
 * so the revocation event goes by before the socket is registered. The socket must still close
 * with 4403 at once, not survive until the sweep. The sweep is set to an hour here, so a close
 * can only come from the revocation the gateway remembered: no stopwatch needed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../bus/bus.js';
import { startTestServer, type TestServer } from '../test/harness.js';
import { openSocket } from '../test/ws-client.js';

describe('REV1: revocation during authentication', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { REVOCATION_SWEEP_MS: String(3_600_000) } });
  });
  afterAll(() => server?.close());

  it('REV1: a device revoked while its token is being checked is closed 4403 as soon as it registers', async () => {
    const alice = await server.register('racealice');
    const phone = await server.login('racealice', undefined, { deviceName: 'phone' });
    const tokens = server.ctx.tokens;
    const realVerify = tokens.verify.bind(tokens);
    // Handlers of a topic run in the order they subscribed: when this one hears the revocation,
    // the gateway's (subscribed at start) has already handled it.
    let heard!: () => void;
    const eventGoneBy = new Promise<void>((resolve) => (heard = resolve));
    const unsubscribe = await server.ctx.bus.subscribe(TOPICS.control, (payload) => {
      if (payload.includes(phone.deviceId)) heard();
    });
    // The real verifier, with the revocation committed and announced after it read the device.
    tokens.verify = async (token, fingerprint) => {
      const result = await realVerify(token, fingerprint);
      expect((await alice.post(`/api/devices/${phone.deviceId}/revoke`)).status).toBe(200);
      await eventGoneBy;
      return result;
    };
    try {
      const ws = await openSocket(server.url, phone);
      ws.send({ type: 'authenticate', token: phone.token });
      expect(await ws.waitClose(10_000)).toEqual({ code: 4403, reason: 'device_revoked' });
      expect(ws.all('authenticated')).toEqual([]);
    } finally {
      tokens.verify = realVerify;
      await unsubscribe();
    }
  });
});
