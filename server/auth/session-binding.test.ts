/**
 * SPEC POP8 on the real server: every session-authenticated request of a bound device needs a
 * DPoP proof of its key. A copied cookie jar (session and fingerprint cookies, no key) reads
 * nothing, changes nothing and cannot sign the rightful holder out; the holder's next request
 * still works. An unbound device is unchanged.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PASSWORD, HttpClient, startTestServer, type TestServer } from '../test/harness.js';
import { startInstancePair } from '../test/instance-pair.js';
import { deviceKey, proving, type TestDeviceKey } from '../test/pop.js';

/** A client holding a copy of `victim`'s cookies and nothing else (a stolen cookie jar). */
function copyOf(victim: HttpClient, baseUrl = victim.baseUrl): HttpClient {
  const c = new HttpClient(baseUrl);
  for (const [k, v] of victim.cookies) c.cookies.set(k, v);
  return c;
}

function expectInvalidProof(res: { status: number; body: { error?: { code?: string; message?: string } } }, what: string) {
  expect(res.status, what).toBe(401);
  expect(res.body.error?.code, what).toBe('invalid_proof');
  expect(typeof res.body.error?.message, what).toBe('string');
}

describe('POP8: session requests of a bound device', () => {
  let server: TestServer;
  let key: TestDeviceKey;
  /** Bob's own client: his cookies and his key. */
  let bob: HttpClient;
  /** Another of bob's devices (bound too), a target for revocation. */
  let bobPhone: HttpClient;
  let channelId: string;

  const revokedAt = async (deviceId: string) =>
    (await server.ctx.pool.query('SELECT revoked_at FROM devices WHERE id = $1', [deviceId])).rows[0].revoked_at as Date | null;

  beforeAll(async () => {
    server = await startTestServer();
    key = await deviceKey();
    bob = proving(await server.register('sbbob', undefined, { deviceKey: key.publicJwk }), key);
    const phoneKey = await deviceKey();
    bobPhone = proving(await server.login('sbbob', undefined, { deviceKey: phoneKey.publicJwk }), phoneKey);
    const created = await bob.post('/api/channels', { name: 'sb-room', kind: 'public' });
    expect(created.status).toBe(201);
    channelId = created.body.channel.id;
  });
  afterAll(() => server?.close());

  it('POP8: the copied cookies alone read nothing: channels, history, devices, me, passkeys → 401 invalid_proof', async () => {
    const stolen = copyOf(bob);
    for (const path of ['/api/channels', `/api/channels/${channelId}/messages`, '/api/devices', '/api/auth/me', '/api/auth/passkeys', '/api/users']) {
      expectInvalidProof(await stolen.get(path), `GET ${path}`);
    }
    // A query string does not change what is refused.
    expectInvalidProof(await stolen.get(`/api/channels/${channelId}/messages?limit=5`), 'GET messages?limit');
  });

  it('POP8: the copied cookies alone change nothing: revoke, logout, create, read marker, passkey options, password → 401, rows untouched', async () => {
    const stolen = copyOf(bob);
    const writes: Array<[string, unknown]> = [
      [`/api/devices/${bobPhone.deviceId}/revoke`, undefined],
      [`/api/devices/${bob.deviceId}/revoke`, undefined],
      ['/api/auth/logout', undefined],
      ['/api/channels', { name: 'sb-thief', kind: 'public' }],
      [`/api/channels/${channelId}/leave`, undefined],
      ['/api/auth/passkeys/options', undefined],
      ['/api/me/password', { currentPassword: 'correct horse battery', newPassword: 'thief horse battery staple' }],
    ];
    for (const [path, body] of writes) expectInvalidProof(await stolen.post(path, body), `POST ${path}`);
    expect(await revokedAt(bob.deviceId)).toBeNull();
    expect(await revokedAt(bobPhone.deviceId)).toBeNull();
    const { rows } = await server.ctx.pool.query(`SELECT 1 FROM channels WHERE name = 'sb-thief'`);
    expect(rows).toEqual([]);
    // Still a member, the password unchanged, and the session intact: bob's own next requests work.
    expect((await bob.get(`/api/channels/${channelId}/messages`)).status).toBe(200);
    expect((await bob.get('/api/devices')).body.devices).toHaveLength(2);
    expect((await server.client().post('/api/auth/login', { username: 'sbbob', password: 'correct horse battery' })).status).toBe(200);
  });

  it('POP8: a proof by another key, for another method or another URL, or replayed → 401; the right one → 200', async () => {
    const stolen = copyOf(bob);
    const url = (path: string) => server.url + path;
    const other = await deviceKey();
    const attacks: Array<[string, string, string]> = [
      ['another key', '/api/channels', await other.dpop(url('/api/channels'), { htm: 'GET' })],
      ['victim jwk, attacker signature', '/api/channels', await other.dpop(url('/api/channels'), { htm: 'GET', jwk: key.publicJwk })],
      ['another method', '/api/channels', await key.dpop(url('/api/channels'), { htm: 'POST' })],
      ['another path', '/api/channels', await key.dpop(url('/api/devices'), { htm: 'GET' })],
      ['another origin', '/api/channels', await key.dpop(`http://evil.example/api/channels`, { htm: 'GET' })],
      ['a stale iat', '/api/channels', await key.dpop(url('/api/channels'), { htm: 'GET', iat: Math.floor(Date.now() / 1000) - 300 })],
    ];
    for (const [name, path, dpop] of attacks) expectInvalidProof(await stolen.get(path, { dpop }), name);

    // A proof seen once (by the rightful holder) does not work again, whoever sends it.
    const proof = await key.dpop(url('/api/channels'), { htm: 'GET' });
    expect((await copyOf(bob).get('/api/channels', { dpop: proof })).status).toBe(200);
    expectInvalidProof(await stolen.get('/api/channels', { dpop: proof }), 'replayed');
    // A POST proof for the revoke route cannot be reused for another device's revoke either.
    const revokeProof = await key.dpop(url(`/api/devices/${bob.deviceId}/revoke`));
    expectInvalidProof(await stolen.post(`/api/devices/${bobPhone.deviceId}/revoke`, undefined, { dpop: revokeProof }), 'revoke, other device');
    expect(await revokedAt(bobPhone.deviceId)).toBeNull();

    // The holder: every request proven once, all of them work.
    expect((await bob.get('/api/channels')).status).toBe(200);
    expect((await bob.get(`/api/channels/${channelId}/messages?limit=5`)).status).toBe(200);
    // Proofs, accepted or refused, never reach the logs.
    const logs = server.logs.join('\n');
    for (const p of [proof, revokeProof]) expect(logs).not.toContain(p.split('.')[2]);
  });

  it('POP8: the token route verifies its proof once (a second check would see its own jti): the holder gets a token', async () => {
    const res = await bob.post('/api/auth/token');
    expect(res.status).toBe(200);
    expect(typeof res.body.token).toBe('string');
  });

  it('POP8: a revoke with the right proof works (the holder signs his phone out)', async () => {
    const res = await bob.post(`/api/devices/${bobPhone.deviceId}/revoke`);
    expect(res.status).toBe(200);
    expect(await revokedAt(bobPhone.deviceId)).not.toBeNull();
    expect((await bobPhone.get('/api/channels')).status).toBe(401);
  });

  it('POP8: signing in to another account over the copied cookies leaves the holder signed in (no proof, nothing replaced)', async () => {
    const stolen = copyOf(bob);
    const res = await stolen.post('/api/auth/register', { username: 'sbthief', password: 'correct horse battery' });
    expect(res.status).toBe(201);
    expect(await revokedAt(bob.deviceId)).toBeNull();
    expect((await bob.get('/api/auth/me')).body.user.username).toBe('sbbob');
  });

  it('POP8: signing in again with a proof of the current key replaces the session and signs the old device out', async () => {
    const k = await deviceKey();
    const carl = proving(await server.register('sbcarl', undefined, { deviceKey: k.publicJwk }), k);
    const oldDevice = carl.deviceId;
    const next = await deviceKey();
    const res = await carl.post('/api/auth/login', { username: 'sbcarl', password: 'correct horse battery', deviceKey: next.publicJwk });
    expect(res.status).toBe(200);
    expect(await revokedAt(oldDevice)).not.toBeNull();
  });

  it('POP8: a logout with the proof signs the device out', async () => {
    const k = await deviceKey();
    const dee = proving(await server.register('sbdee', undefined, { deviceKey: k.publicJwk }), k);
    expect((await dee.post('/api/auth/logout')).status).toBe(204);
    expect(await revokedAt(dee.deviceId)).not.toBeNull();
  });

  it('POP8: an unbound device is unchanged: its cookies alone work, a stray DPoP header is ignored', async () => {
    const plain = await server.register('sbplain');
    expect((await plain.get('/api/channels')).status).toBe(200);
    expect((await copyOf(plain).get('/api/devices')).status).toBe(200);
    expect((await plain.get('/api/auth/me', { dpop: 'a.b.c' })).status).toBe(200);
    expect((await plain.post('/api/auth/token')).status).toBe(200);
  });
});

describe('POP8: replay across two instances on one Redis', () => {
  let pair: Awaited<ReturnType<typeof startInstancePair>>;
  let redis: ReturnType<typeof createClient>;
  const PUBLIC = 'https://relay.example';

  beforeAll(async () => {
    // One PUBLIC_URL, as behind a load balancer: the same proof names both instances.
    pair = await startInstancePair({ PUBLIC_URL: PUBLIC });
    redis = createClient({ url: pair.redis.url });
    await redis.connect();
  });
  afterAll(async () => {
    await redis?.quit();
    await pair?.close();
  });

  it('POP8: a proof used on instance A is refused on instance B; a fresh one works there; a refused request ends no session', async () => {
    const key = await deviceKey();
    const onA = await pair.a.register('sbpair', undefined, { deviceKey: key.publicJwk });
    const onB = copyOf(onA, pair.b.url);
    const proof = await key.dpop(`${PUBLIC}/api/channels`, { htm: 'GET' });
    expect((await onA.get('/api/channels', { dpop: proof })).status).toBe(200);
    expect(await redis.keys('relay:dpop:*')).toHaveLength(1);
    expectInvalidProof(await onB.get('/api/channels', { dpop: proof }), 'replayed on B');
    expectInvalidProof(await onB.get('/api/channels'), 'no proof on B');
    expect((await onB.get('/api/channels', { dpop: await key.dpop(`${PUBLIC}/api/channels`, { htm: 'GET' }) })).status).toBe(200);
    expect((await onA.get('/api/auth/me', { dpop: await key.dpop(`${PUBLIC}/api/auth/me`, { htm: 'GET' }) })).status).toBe(200);
  });
});

describe('POP8 with DEVICE_BINDING=required', () => {
  let open: TestServer;
  let strict: TestServer;
  beforeAll(async () => {
    // A device signed in unbound while binding was optional; then the server is restarted with
    // binding required, on the same database and sessions.
    open = await startTestServer();
    strict = await startTestServer({
      databaseUrl: open.env.DATABASE_URL,
      env: { DEVICE_BINDING: 'required', JWT_SECRET: open.env.JWT_SECRET, SESSION_SECRET: open.env.SESSION_SECRET },
    });
  });
  afterAll(async () => {
    await strict?.close();
    await open?.close();
  });

  it('a device left unbound from before is refused on every session request, and nothing changes', async () => {
    const legacy = await open.register('sblegacy');
    expect((await legacy.get('/api/channels')).status).toBe(200);
    const onStrict = copyOf(legacy, strict.url);
    for (const [what, res] of [
      ['me', await onStrict.get('/api/auth/me')],
      ['channels', await onStrict.get('/api/channels')],
      ['create channel', await onStrict.post('/api/channels', { name: 'sb-legacy', kind: 'public' })],
      ['token', await onStrict.post('/api/auth/token')],
    ] as const) {
      expectInvalidProof(res, what);
    }
    const made = await strict.ctx.pool.query("SELECT 1 FROM channels WHERE name = 'sb-legacy'");
    expect(made.rowCount).toBe(0);
    // A bound device on the same server works.
    const key = await deviceKey();
    const bound = proving(await strict.register('sbbound', undefined, { deviceKey: key.publicJwk }), key);
    expect((await bound.get('/api/channels')).status).toBe(200);
    // Signing in again, as the refusal asks, retires the legacy device (its session is replaced).
    const newKey = await deviceKey();
    const again = await onStrict.post('/api/auth/login', { username: 'sblegacy', password: DEFAULT_PASSWORD, deviceKey: newKey.publicJwk });
    expect(again.status).toBe(200);
    const old = await strict.ctx.pool.query('SELECT revoked_at FROM devices WHERE id = $1', [legacy.deviceId]);
    expect(old.rows[0].revoked_at).not.toBeNull();
  });
});
