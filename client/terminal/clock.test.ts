/**
 * A terminal whose clock is minutes off still proves its device key: the HTTP client learns the
 * server's time from the Date header of a refused request and retries it once (real server, real
 * Postgres, real sockets; the skew is an injected local clock, the system clock is left alone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerClock } from '../../shared/proofs.js';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { deviceKey } from '../../server/test/pop.js';
import type { RealtimeClient } from '../src/realtime/client.js';
import type { StoredLogin } from './config-store.js';
import { proofKeyFrom } from './device-key.js';
import { HttpError, RelayHttp } from './http.js';
import { terminalRealtime } from './realtime.js';
import type { Session } from './session.js';

const FIVE_MINUTES = 5 * 60_000;

describe('relay with a clock 5 minutes fast', () => {
  let server: TestServer;
  let rt: RealtimeClient | undefined;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    rt?.disconnect();
    await server?.close();
  });

  async function boundLogin() {
    const key = await deviceKey();
    const user = await server.register(undefined, undefined, { deviceKey: key.publicJwk });
    const proofKey = () => proofKeyFrom(key.privateJwk);
    return { key, user, proofKey };
  }

  it('a request refused for its proof time is sent once more on the corrected clock, and succeeds', async () => {
    const { user, proofKey } = await boundLogin();
    const clock = new ServerClock(() => Date.now() + FIVE_MINUTES);
    const http = new RelayHttp(server.url, Object.fromEntries(user.cookies), undefined, proofKey, clock);
    const me = await http.request<{ user: { id: string } }>('GET', '/api/auth/me');
    expect(me.user.id).toBe(user.userId);
    expect(Math.abs(clock.offset + FIVE_MINUTES)).toBeLessThan(5_000);
    // A POST too (its body is sent again): the clock is right now, so no retry is needed.
    const { channel } = await http.request<{ channel: { name: string } }>('POST', '/api/channels', { name: `clock-${Date.now()}`, kind: 'public' });
    expect(channel.name).toMatch(/^clock-/);
  });

  it('a proof refused for another reason (the wrong key) is not retried: the session is reported ended', async () => {
    const { user } = await boundLogin();
    const other = await deviceKey();
    const http = new RelayHttp(server.url, Object.fromEntries(user.cookies), undefined, () => proofKeyFrom(other.privateJwk), new ServerClock());
    const err = await http.request('GET', '/api/auth/me').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 401, code: 'invalid_proof', exitCode: 3 });
  });

  it('the realtime client gets a token and a live socket', async () => {
    const { key, user, proofKey } = await boundLogin();
    const clock = new ServerClock(() => Date.now() + FIVE_MINUTES);
    const http = new RelayHttp(server.url, Object.fromEntries(user.cookies), undefined, proofKey, clock);
    const login: StoredLogin = {
      version: 1,
      server: server.url,
      user: { id: user.userId, username: user.auth.user.username },
      deviceId: user.deviceId,
      cookies: Object.fromEntries(user.cookies),
      deviceKey: key.privateJwk as StoredLogin['deviceKey'],
      createdAt: new Date().toISOString(),
    };
    const session: Session = { login, http, proofKey, persist: () => {} };
    rt = terminalRealtime(session, { clock });
    const live = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not live within 15 s')), 15_000);
      rt!.on('authenticated', (a) => {
        clearTimeout(timer);
        resolve(a.deviceId);
      });
      rt!.on('status', (s) => {
        if (s.stopped) reject(new Error(`stopped: ${s.stopped}`));
      });
    });
    rt.connect();
    expect(await live).toBe(user.deviceId);
    expect(rt.getStatus().state).toBe('live');
  });
});
