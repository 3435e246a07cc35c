/**
 * Device keys and DPoP on POST /api/auth/token (CONTRACT "(v2) Proof of possession"; SPEC POP1,
 * POP6, POP7), on the real server: a bound device's cookies alone get no token; each attack
 * below is refused with 401 invalid_proof.
 */
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, HttpClient, startTestServer, testSecret, type TestServer } from '../test/harness.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { deviceKey, hs256Jws, nowS, proving, unsignedJws, type TestDeviceKey } from '../test/pop.js';
import { openSocket } from '../test/ws-client.js';

const TOKEN_PATH = '/api/auth/token';

/** A client that holds a copy of `victim`'s cookies (a stolen cookie jar), and nothing else. */
function thief(victim: HttpClient, baseUrl = victim.baseUrl): HttpClient {
  const c = new HttpClient(baseUrl);
  for (const [k, v] of victim.cookies) c.cookies.set(k, v);
  return c;
}

describe('device keys and DPoP token requests', () => {
  let server: TestServer;
  let key: TestDeviceKey;
  let bob: HttpClient;
  const tokenUrl = () => server.url + TOKEN_PATH;
  const requestToken = (client: HttpClient, dpop?: string) => client.post(TOKEN_PATH, undefined, dpop ? { dpop } : {});

  beforeAll(async () => {
    server = await startTestServer();
    key = await deviceKey();
    bob = await server.register('popbob', undefined, { deviceKey: key.publicJwk });
  });
  afterAll(() => server?.close());

  it('POP1: register stores the public key and its RFC 7638 thumbprint; the token carries cnf.jkt; the device is bound', async () => {
    const jkt = await calculateJwkThumbprint(key.publicJwk, 'sha256');
    expect(bob.auth.device.bound).toBe(true);
    expect(decodeJwt(bob.token).cnf).toEqual({ jkt });
    const { rows } = await server.ctx.pool.query('SELECT public_key, key_thumbprint FROM devices WHERE id = $1', [bob.deviceId]);
    expect(rows).toEqual([{ public_key: { kty: 'EC', crv: 'P-256', x: key.publicJwk.x, y: key.publicJwk.y }, key_thumbprint: jkt }]);
    const holder = proving(thief(bob), key); // POP8: bob's cookies and his key, signing every request
    expect((await holder.get('/api/auth/me')).body.device.bound).toBe(true);
    expect((await holder.get('/api/devices')).body.devices.map((d: { bound: boolean }) => d.bound)).toEqual([true]);

    const plain = await server.register('popplain');
    expect(plain.auth.device.bound).toBe(false);
    expect(decodeJwt(plain.token).cnf).toBeUndefined();
  });

  it('POP1: login binds its new device to the key it carries; WebCrypto export members (ext, key_ops, alg) are accepted', async () => {
    const other = await deviceKey();
    const c = await server.login('popbob', undefined, { deviceKey: { ...other.publicJwk, alg: 'ES256', ext: true, key_ops: ['verify'] } });
    expect(c.auth.device.bound).toBe(true);
    expect(decodeJwt(c.token).cnf).toEqual({ jkt: await calculateJwkThumbprint(other.publicJwk, 'sha256') });
  });

  it('POP1: a key with a private part, another curve or type, or a point off the curve is refused 400 naming deviceKey; nothing is created', async () => {
    const other = await deviceKey();
    const offCurve = { ...other.publicJwk, y: other.publicJwk.x };
    const bad: unknown[] = [
      key.privateJwk, // carries `d`
      { ...key.publicJwk, crv: 'P-384' },
      { kty: 'RSA', n: 'AQAB', e: 'AQAB' },
      { kty: 'oct', k: 'c2VjcmV0' },
      { ...key.publicJwk, x: 'short' },
      offCurve,
      'not a key',
    ];
    for (const deviceKey of bad) {
      const res = await server.client().post('/api/auth/register', { username: 'popbad', password: 'correct horse battery', deviceKey });
      expect(res.status, JSON.stringify(deviceKey)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toMatch(/deviceKey/);
      const login = await server.client().post('/api/auth/login', { username: 'popbob', password: 'correct horse battery', deviceKey });
      expect(login.status).toBe(400);
      expect(login.body.error.message).toMatch(/deviceKey/);
    }
    const { rows } = await server.ctx.pool.query(`SELECT 1 FROM users WHERE username = 'popbad'`);
    expect(rows).toEqual([]);
  });

  it('POP6: a bound device gets a token only with a valid DPoP proof; the new token carries cnf.jkt', async () => {
    const missing = await requestToken(bob);
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('invalid_proof');
    const ok = await requestToken(bob, await key.dpop(tokenUrl()));
    expect(ok.status).toBe(200);
    expect(decodeJwt(ok.body.token).cnf).toEqual(decodeJwt(bob.token).cnf);
    // htu is compared without its query (RFC 9449 §4.3).
    expect((await bob.post(`${TOKEN_PATH}?x=1`, undefined, { dpop: await key.dpop(tokenUrl()) })).status).toBe(200);
  });

  it('POP6: replayed jti, another key, another endpoint or method, a stale or future iat, alg none, HS256, a private header key: 401 invalid_proof', async () => {
    const replayed = await key.dpop(tokenUrl());
    expect((await requestToken(bob, replayed)).status).toBe(200);
    const attacker = await deviceKey();
    const publicBytes = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    const claims = { htm: 'POST', htu: tokenUrl(), iat: nowS() };
    const attacks: Record<string, string> = {
      replayed,
      'another key': await attacker.dpop(tokenUrl()),
      // The victim's public key in the header, signed by the attacker: the signature fails.
      'victim jwk, attacker signature': await attacker.dpop(tokenUrl(), { jwk: key.publicJwk }),
      'another endpoint': await key.dpop(`${server.url}/api/auth/login`),
      'another origin': await key.dpop(`http://evil.example${TOKEN_PATH}`),
      'another method': await key.dpop(tokenUrl(), { htm: 'GET' }),
      'iat 5 minutes old': await key.dpop(tokenUrl(), { iat: nowS() - 300 }),
      'iat 5 minutes ahead': await key.dpop(tokenUrl(), { iat: nowS() + 300 }),
      'alg none': unsignedJws({ typ: 'dpop+jwt', jwk: key.publicJwk }, { ...claims, jti: 'none-1' }),
      HS256: await hs256Jws({ typ: 'dpop+jwt', jwk: key.publicJwk }, { ...claims, jti: 'hs-1' }, publicBytes),
      'private key in header': await key.dpop(tokenUrl(), { jwk: key.privateJwk }),
      garbage: 'a.b.c',
    };
    for (const [name, proof] of Object.entries(attacks)) {
      const res = await requestToken(bob, proof);
      expect(res.status, name).toBe(401);
      expect(res.body.error.code, name).toBe('invalid_proof');
    }
  });

  it('POP6: cookies copied to another client without the key get no token and open no socket', async () => {
    const stolen = thief(bob);
    expect((await requestToken(stolen)).status).toBe(401);
    const own = await deviceKey();
    expect((await requestToken(stolen, await own.dpop(tokenUrl()))).status).toBe(401);
    // The token copied too: the socket wants a proof by the device's key.
    const s = await openSocket(server.url, stolen);
    const challenge = await s.next('challenge');
    s.send({ type: 'authenticate', token: bob.token, proof: await own.socketProof(challenge.nonce, bob.token) });
    expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_proof' });
  });

  it('POP7: an unbound device keeps getting tokens without DPoP (DEVICE_BINDING=optional)', async () => {
    const plain = await server.register('popplain2');
    expect((await requestToken(plain)).status).toBe(200);
  });
});

describe('DPoP htu behind a proxy', () => {
  let servers: TestServer[] = [];
  afterAll(() => Promise.all(servers.map((s) => s.close())));

  it('POP6: with PUBLIC_URL, htu must be PUBLIC_URL plus the path; the address the request reached is refused', async () => {
    const server = await startTestServer({ env: { PUBLIC_URL: 'https://chat.example.com/' } });
    servers.push(server);
    const key = await deviceKey();
    const c = await server.register('pubbob', undefined, { deviceKey: key.publicJwk });
    expect((await c.post(TOKEN_PATH, undefined, { dpop: await key.dpop(server.url + TOKEN_PATH) })).status).toBe(401);
    expect((await c.post(TOKEN_PATH, undefined, { dpop: await key.dpop(`https://chat.example.com${TOKEN_PATH}`) })).status).toBe(200);
  });

  it('POP6: without PUBLIC_URL, X-Forwarded-Proto/Host count only from a proxy TRUST_PROXY names', async () => {
    const trusting = await startTestServer({ env: { TRUST_PROXY: 'loopback' } });
    const untrusting = await startTestServer();
    servers.push(trusting, untrusting);
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'relay.example' };
    for (const [server, expected] of [
      [trusting, 200],
      [untrusting, 401],
    ] as const) {
      const key = await deviceKey();
      const c = await server.register(undefined, undefined, { deviceKey: key.publicJwk });
      const res = await c.post(TOKEN_PATH, undefined, { ...forwarded, dpop: await key.dpop(`https://relay.example${TOKEN_PATH}`) });
      expect(res.status).toBe(expected);
    }
  });
});

describe('DEVICE_BINDING=required', () => {
  let optional: TestServer;
  let required: TestServer;

  beforeAll(async () => {
    // One database, the same secrets: a device created while binding was optional meets a server
    // that requires it (an operator switching the setting on).
    const databaseUrl = await createTestDatabase();
    const env = { JWT_SECRET: testSecret(), SESSION_SECRET: testSecret() };
    optional = await startTestServer({ databaseUrl, env });
    required = await startTestServer({ databaseUrl, env: { ...env, DEVICE_BINDING: 'required' } });
  });
  afterAll(async () => {
    await optional?.close();
    await required?.close();
  });

  it('POP7: register and login without a device key are refused 400 naming deviceKey; with one they work', async () => {
    const res = await required.client().post('/api/auth/register', { username: 'reqnokey', password: 'correct horse battery' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/deviceKey/) });
    const key = await deviceKey();
    await required.register('reqbob', undefined, { deviceKey: key.publicJwk });
    const login = await required.client().post('/api/auth/login', { username: 'reqbob', password: 'correct horse battery' });
    expect(login.status).toBe(400);
    expect(login.body.error.message).toMatch(/deviceKey/);
    expect((await required.login('reqbob', undefined, { deviceKey: key.publicJwk })).auth.device.bound).toBe(true);
  });

  it('POP7: an unbound device (from before the switch) gets no token (401 invalid_proof) and no socket (4401 invalid_proof)', async () => {
    const legacy = await optional.register('reqlegacy');
    const onRequired = thief(legacy, required.url); // the same cookies, sent to the other instance
    const res = await onRequired.post(TOKEN_PATH);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_proof');
    const s = await openSocket(required.url, onRequired);
    await s.next('challenge');
    s.send({ type: 'authenticate', token: legacy.token });
    expect(await s.waitClose()).toEqual({ code: 4401, reason: 'invalid_proof' });
    // Control: the optional instance still admits it.
    const t = await openSocket(optional.url, legacy);
    expect((await t.authenticate()).deviceId).toBe(legacy.deviceId);
    t.close();
  });
});

describe('DPoP replay across instances on one Redis', () => {
  let redis: TestRedis;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    redis = await startRedis();
    const databaseUrl = await createTestDatabase();
    // One PUBLIC_URL, as behind a load balancer: the same proof names both instances.
    const env = { REDIS_URL: redis.url, JWT_SECRET: testSecret(), SESSION_SECRET: testSecret(), PUBLIC_URL: 'https://relay.example' };
    a = await startTestServer({ databaseUrl, env });
    b = await startTestServer({ databaseUrl, env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('POP6: a proof used on instance A is refused on instance B (the jti cache is in Redis)', async () => {
    const key = await deviceKey();
    const onA = await a.register('pairbob', undefined, { deviceKey: key.publicJwk });
    const onB = thief(onA, b.url);
    const proof = await key.dpop(`https://relay.example${TOKEN_PATH}`);
    expect((await onA.post(TOKEN_PATH, undefined, { dpop: proof })).status).toBe(200);
    const replay = await onB.post(TOKEN_PATH, undefined, { dpop: proof });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('invalid_proof');
    // Control: B accepts a fresh proof for the same device.
    expect((await onB.post(TOKEN_PATH, undefined, { dpop: await key.dpop(`https://relay.example${TOKEN_PATH}`) })).status).toBe(200);
  });
});
