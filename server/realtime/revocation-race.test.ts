/**
 * REV1 at the worst moment: the device is revoked while the socket's token is being verified,
 * so the revocation event goes by before the socket is registered. The socket must still close
 * with 4403 at once, not survive until the sweep (REVOCATION_SWEEP_MS, 30 s by default).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test/harness.js';
import { openSocket } from '../test/ws-client.js';

describe('REV1: revocation during authentication', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('REV1: a device revoked while its token is being checked is closed 4403 as soon as it registers', async () => {
    const alice = await server.register('racealice');
    const phone = await server.login('racealice', undefined, { deviceName: 'phone' });
    const tokens = server.ctx.tokens;
    const realVerify = tokens.verify.bind(tokens);
    let revoked!: Promise<unknown>;
    // The real verifier, with the revocation committed and announced after it read the device.
    tokens.verify = async (token, fingerprint) => {
      const result = await realVerify(token, fingerprint);
      revoked = alice.post(`/api/devices/${phone.deviceId}/revoke`);
      await revoked;
      await new Promise((r) => setTimeout(r, 50)); // the bus event has gone by
      return result;
    };
    try {
      const ws = await openSocket(server.url, phone);
      const started = Date.now();
      ws.send({ type: 'authenticate', token: phone.token });
      const closed = await ws.waitClose(5_000);
      expect(closed).toEqual({ code: 4403, reason: 'device_revoked' });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(ws.all('authenticated')).toEqual([]);
    } finally {
      tokens.verify = realVerify;
    }
  });
});
