/**
 * Connecting and authenticating a socket (SPEC AUTH1–AUTH7), against real sockets on port 0 and
 * a real Postgres. Each rule is pinned by what a client sees: the upgrade status, the close code
 * and reason, or the frames that come back.
 */
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startTestServer, testSecret, type HttpClient, type TestServer } from '../test/harness.js';
import { connect, openSocket, type TestSocket } from '../test/ws-client.js';

async function expectRefused(p: Promise<TestSocket>, status: number): Promise<void> {
  await expect(p).rejects.toMatchObject({ status });
}

describe('authenticating a socket', () => {
  let server: TestServer;
  let admin: HttpClient;
  let alice: HttpClient;
  let channelId: string;

  beforeAll(async () => {
    server = await startTestServer({
      env: { AUTH_TIMEOUT_MS: '400', ALLOWED_ORIGINS: 'https://chat.example.com,http://localhost:5173' },
    });
    admin = await server.register('authadmin');
    alice = await server.register('authalice');
    const ch = await alice.post('/api/channels', { name: 'auth-general', kind: 'public' });
    channelId = ch.body.channel.id;
  });
  afterAll(() => server?.close());

  it('AUTH1: a foreign Origin is refused 403 at the upgrade, before any socket exists', async () => {
    const before = server.gateway.size;
    await expectRefused(openSocket(server.url, alice, { origin: 'https://evil.example.com' }), 403);
    await expectRefused(openSocket(server.url, alice, { origin: 'null' }), 403);
    // Exact match only: a longer host, another port or another scheme is foreign.
    await expectRefused(openSocket(server.url, alice, { origin: 'https://chat.example.com.evil.com' }), 403);
    await expectRefused(openSocket(server.url, alice, { origin: 'https://chat.example.com:8443' }), 403);
    await expectRefused(openSocket(server.url, alice, { origin: 'http://chat.example.com' }), 403);
    expect(server.gateway.size).toBe(before);
  });

  it('AUTH1: the own origin, an exact ALLOWED_ORIGINS entry, or no Origin at all may connect', async () => {
    for (const origin of [server.url, 'https://chat.example.com', 'http://localhost:5173', null]) {
      const s = await openSocket(server.url, alice, { origin });
      await s.authenticate();
      s.close();
    }
  });

  it('AUTH1: an upgrade to any other path gets 400', async () => {
    await expectRefused(openSocket(server.url, alice, { path: '/wss' }), 400);
    await expectRefused(openSocket(server.url, alice, { path: '/ws/x' }), 400);
    await expectRefused(openSocket(server.url, alice, { path: '/api/ws' }), 400);
  });

  it('AUTH1: a token in the URL is ignored (the socket still needs the frame) and never logged', async () => {
    const token = alice.token;
    const s = await openSocket(server.url, alice, { path: `/ws?token=${token}&access_token=${token}` });
    s.send({ type: 'ping' });
    expect(await s.waitClose()).toEqual({ code: 4401, reason: 'authentication_required' });
    const t = await openSocket(server.url, alice, { path: `/ws?token=${token}` });
    expect(await t.waitClose()).toEqual({ code: 4408, reason: 'authentication_timeout' });
    // A foreign-origin attempt with the token in the URL is logged (origin) without the URL's token.
    await expectRefused(openSocket(server.url, alice, { path: `/ws?token=${token}`, origin: 'https://evil.example.com' }), 403);
    expect(server.logs.join('\n')).toContain('foreign origin');
    expect(server.logs.join('\n')).not.toContain(token);
    expect(server.logs.join('\n')).not.toContain(token.slice(-20));
  });

  it('AUTH2: a frame before authenticate closes 4401 authentication_required', async () => {
    for (const first of [
      { type: 'ping' },
      { type: 'subscribe', channelId },
      { type: 'send', channelId, clientMsgId: 'pre-auth', body: 'x' },
      { type: 'authenticate' },
      { type: 'authenticate', token: alice.token, extra: 1 },
      { token: alice.token },
    ]) {
      const s = await openSocket(server.url, alice);
      s.send(first);
      s.send({ type: 'authenticate', token: alice.token });
      expect(await s.waitClose()).toEqual({ code: 4401, reason: 'authentication_required' });
      expect(s.all('authenticated')).toEqual([]);
    }
    const { rows } = await server.ctx.pool.query(`SELECT count(*)::int AS n FROM messages WHERE client_msg_id = 'pre-auth'`);
    expect(rows[0].n).toBe(0);
  });

  it('AUTH2: a first frame that is not JSON closes 4401 authentication_required', async () => {
    for (const text of ['hello', '{"type":"authenticate","token":', '', '[]', 'null', '"authenticate"']) {
      const s = await openSocket(server.url, alice);
      s.send(text);
      expect(await s.waitClose()).toEqual({ code: 4401, reason: 'authentication_required' });
    }
  });

  it('AUTH3: no frame within AUTH_TIMEOUT_MS closes 4408 authentication_timeout', async () => {
    // Measured from before the upgrade: the server's timer cannot have started earlier.
    const started = Date.now();
    const s = await openSocket(server.url, alice);
    expect(await s.waitClose()).toEqual({ code: 4408, reason: 'authentication_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(s.frames.map((f) => f.type)).toEqual(['challenge']); // POP2
  });

  it('AUTH3: an authenticated socket outlives the authentication timeout', async () => {
    const s = await connect(server.url, alice);
    await new Promise((r) => setTimeout(r, 600));
    s.send({ type: 'ping', ref: 'alive' });
    expect((await s.next('pong')).ref).toBe('alive');
    s.close();
  });

  it('AUTH4: a malformed, forged or foreign-secret token closes 4401 invalid_token', async () => {
    const claims = jwt.decode(alice.token) as Record<string, unknown>;
    const header = (jwt.decode(alice.token, { complete: true }) as unknown as { header: Record<string, unknown> }).header;
    const otherSecret = testSecret();
    const { iat: _iat, exp: _exp, iss: _iss, aud: _aud, jti: _jti, ...body } = claims;
    const sign = (opts: jwt.SignOptions, payload: object = body) => jwt.sign(payload, otherSecret, opts);
    const bad = [
      'not-a-jwt',
      alice.token.slice(0, -3) + (alice.token.endsWith('AAA') ? 'BBB' : 'AAA'),
      // The right header and claims, signed with a secret the server does not have.
      sign({ algorithm: 'HS256', issuer: 'relay', audience: 'relay-ws', expiresIn: 600, jwtid: 'j1', header: { ...header, alg: 'HS256' } as jwt.JwtHeader }),
      // An unsigned token.
      jwt.sign({ ...body, iss: 'relay', aud: 'relay-ws', jti: 'j2' }, '', { algorithm: 'none', expiresIn: 600, header: { ...header, alg: 'none' } as jwt.JwtHeader }),
    ];
    for (const token of bad) {
      const s = await openSocket(server.url, alice);
      s.send({ type: 'authenticate', token });
      expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
    }
  });

  it("AUTH4: another device's token with this device's cookie closes 4401 invalid_token", async () => {
    const laptop = await server.login('authalice');
    const s = await openSocket(server.url, alice);
    s.send({ type: 'authenticate', token: laptop.token });
    expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
    // And the other way round: the laptop's cookie with the first device's token.
    const t = await openSocket(server.url, laptop);
    t.send({ type: 'authenticate', token: alice.token });
    expect(await t.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
  });

  it('AUTH4: an upgrade without the relay_fp cookie (or with a wrong one) closes 4401 invalid_token', async () => {
    const bare = await openSocket(server.url, alice, { cookie: null });
    bare.send({ type: 'authenticate', token: alice.token });
    expect(await bare.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
    const sessionOnly = [...alice.cookies].filter(([k]) => k !== 'relay_fp').map(([k, v]) => `${k}=${v}`).join('; ');
    const noFp = await openSocket(server.url, alice, { cookie: sessionOnly });
    noFp.send({ type: 'authenticate', token: alice.token });
    expect(await noFp.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
    const wrong = await openSocket(server.url, alice, { cookie: `${sessionOnly}; relay_fp=${'x'.repeat(43)}` });
    wrong.send({ type: 'authenticate', token: alice.token });
    expect(await wrong.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
  });

  it('AUTH5: a revoked device closes 4403 device_revoked; a disabled user closes 4403 account_disabled', async () => {
    const phone = await server.login('authalice');
    expect((await alice.post(`/api/devices/${phone.deviceId}/revoke`)).status).toBe(200);
    const s = await openSocket(server.url, phone);
    s.send({ type: 'authenticate', token: phone.token });
    expect(await s.waitClose()).toEqual({ code: 4403, reason: 'device_revoked' });

    const mallory = await server.register('authmallory');
    expect((await admin.post(`/api/admin/users/${mallory.userId}/disable`)).status).toBe(200);
    const m = await openSocket(server.url, mallory);
    m.send({ type: 'authenticate', token: mallory.token });
    expect(await m.waitClose()).toEqual({ code: 4403, reason: 'account_disabled' });
    // Only the row of the device decides: re-enabling the user does not bring the revoked device back.
    expect((await admin.post(`/api/admin/users/${mallory.userId}/enable`)).status).toBe(200);
    const m2 = await openSocket(server.url, mallory);
    m2.send({ type: 'authenticate', token: mallory.token });
    expect(await m2.waitClose()).toEqual({ code: 4403, reason: 'device_revoked' });
  });

  it('AUTH6: frames sent right after authenticate are queued and answered in order', async () => {
    const s = await openSocket(server.url, alice);
    // One write: every frame is on the wire before the token check can finish.
    s.send({ type: 'authenticate', token: alice.token, ref: 'a' });
    s.send({ type: 'subscribe', channelId, ref: 'b' });
    s.send({ type: 'send', channelId, clientMsgId: 'auth6-1', body: 'queued', ref: 'c' });
    s.send({ type: 'ping', ref: 'd' });
    s.send({ type: 'unsubscribe', channelId, ref: 'e' });
    await s.next('unsubscribed');
    expect(s.frames.map((f) => [f.type, f.ref])).toEqual([
      ['challenge', undefined], // POP2: the only frame before `authenticated`
      ['authenticated', 'a'],
      ['subscribed', 'b'],
      ['ack', 'c'],
      ['pong', 'd'],
      ['unsubscribed', 'e'],
    ]);
    const authenticated = s.frames[1];
    expect(authenticated).toMatchObject({ user: { id: alice.userId, username: 'authalice' }, deviceId: alice.deviceId });
    expect(Date.parse(authenticated.expiresAt)).toBeGreaterThan(Date.now());
    const { rows } = await server.ctx.pool.query(`SELECT body FROM messages WHERE client_msg_id = 'auth6-1'`);
    expect(rows).toEqual([{ body: 'queued' }]);
    s.close();
  });

  it('AUTH6: an invalid frame in the burst is answered in its place, after authenticated', async () => {
    const s = await openSocket(server.url, alice);
    s.send({ type: 'authenticate', token: alice.token, ref: 'a' });
    s.send({ type: 'ping', ref: 'b' });
    s.send('not json');
    s.send({ type: 'dance', ref: 'c' });
    s.send({ type: 'ping', ref: 'd' });
    await s.next('pong');
    await s.next('pong');
    expect(s.frames.map((f) => [f.type, f.code ?? f.ref])).toEqual([
      ['challenge', undefined],
      ['authenticated', 'a'],
      ['pong', 'b'],
      ['error', 'invalid_message'],
      ['error', 'invalid_message'],
      ['pong', 'd'],
    ]);
    expect(s.frames[4].ref).toBe('c');
    s.close();
  });

  it('AUTH6: frames queued behind a failing authenticate are dropped with the socket', async () => {
    const s = await openSocket(server.url, alice);
    s.send({ type: 'authenticate', token: 'garbage' });
    s.send({ type: 'send', channelId, clientMsgId: 'auth6-2', body: 'never' });
    s.send({ type: 'ping' });
    expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });
    expect(s.frames.map((f) => f.type)).toEqual(['challenge']);
    const { rows } = await server.ctx.pool.query(`SELECT 1 FROM messages WHERE client_msg_id = 'auth6-2'`);
    expect(rows).toEqual([]);
  });

  it('AUTH6: a second authenticate after success is an invalid_message, not a re-login', async () => {
    const s = await connect(server.url, alice);
    s.send({ type: 'authenticate', token: alice.token, ref: 'again' });
    expect(await s.next('error')).toMatchObject({ code: 'invalid_message', ref: 'again' });
    s.send({ type: 'ping' });
    await s.next('pong');
    s.close();
  });
});

describe('AUTH7 socket caps', () => {
  let server: TestServer;
  let alice: HttpClient;

  beforeAll(async () => {
    server = await startTestServer({ env: { MAX_PENDING_SOCKETS_PER_IP: '3', MAX_SOCKETS_PER_USER: '2', AUTH_TIMEOUT_MS: '5000' } });
    alice = await server.register('capalice');
  });
  afterAll(() => server?.close());

  it('AUTH7: past MAX_PENDING_SOCKETS_PER_IP unauthenticated sockets the upgrade gets 429', async () => {
    const pending = [await openSocket(server.url, alice), await openSocket(server.url, alice), await openSocket(server.url, alice)];
    await expectRefused(openSocket(server.url, alice), 429);
    // Authenticating one frees its place.
    await pending[0].authenticate();
    const next = await openSocket(server.url, alice);
    await expectRefused(openSocket(server.url, alice), 429);
    // Closing a pending one frees its place too.
    pending[1].close();
    await pending[1].waitClose();
    await expect.poll(async () => openSocket(server.url, alice).then((s) => (s.close(), true), () => false)).toBe(true);
    for (const s of [...pending, next]) s.close();
  });

  it('AUTH7: past MAX_SOCKETS_PER_USER authenticated sockets the next one closes 4429 too_many_sockets', async () => {
    await expect.poll(() => server.gateway.size).toBe(0);
    const a = await connect(server.url, alice);
    const b = await connect(server.url, alice);
    const c = await openSocket(server.url, alice);
    c.send({ type: 'authenticate', token: alice.token });
    expect(await c.waitClose()).toEqual({ code: 4429, reason: 'too_many_sockets' });
    // Another user is not affected, and a closed socket frees a place.
    const bob = await server.register('capbob');
    const other = await connect(server.url, bob);
    a.close();
    await a.waitClose();
    await expect.poll(() => server.gateway.size).toBe(2);
    const d = await connect(server.url, alice);
    for (const s of [b, d, other]) s.close();
  });
});

describe('AUTH4 secret rotation and expiry', () => {
  it('AUTH4: a token signed with a secret that was rotated out closes 4401 invalid_token; an expired one token_expired', async () => {
    const databaseUrl = await createTestDatabase();
    const oldSecret = testSecret();
    const newSecret = testSecret();
    const sessionSecret = testSecret();
    const env = (jwtSecret: string, extra: Record<string, string> = {}) => ({ JWT_SECRET: jwtSecret, SESSION_SECRET: sessionSecret, ...extra });

    const first = await startTestServer({ databaseUrl, env: env(oldSecret) });
    let carol: HttpClient;
    try {
      carol = await first.register('rotcarol');
    } finally {
      await first.close();
    }
    const oldToken = carol.token;

    // Rotation: the new secret signs, the old one still verifies.
    const rotating = await startTestServer({ databaseUrl, env: env(`${newSecret},${oldSecret}`) });
    try {
      const s = await openSocket(rotating.url, carol);
      expect((await s.authenticate(oldToken)).user.username).toBe('rotcarol');
      s.close();
    } finally {
      await rotating.close();
    }

    const rotated = await startTestServer({ databaseUrl, env: env(newSecret, { TOKEN_TTL: '1s' }) });
    try {
      const s = await openSocket(rotated.url, carol);
      s.send({ type: 'authenticate', token: oldToken });
      expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_token' });

      const fresh = await rotated.login('rotcarol');
      // Past the token's exp (whole seconds), it is refused as expired, not as invalid.
      await new Promise((r) => setTimeout(r, Date.parse(fresh.auth.expiresAt) - Date.now() + 1_100));
      const t = await openSocket(rotated.url, fresh);
      t.send({ type: 'authenticate', token: fresh.token });
      expect(await t.waitClose()).toEqual({ code: 4401, reason: 'token_expired' });
    } finally {
      await rotated.close();
    }
  });
});
