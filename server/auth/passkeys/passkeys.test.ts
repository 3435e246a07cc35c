/**
 * Passkeys on the real server (CONTRACT "(v2) passkeys"; SPEC PK1–PK6): real Postgres, real Redis
 * for the shared challenge store, and a software authenticator with real P-256 keys and
 * signatures (server/test/webauthn-authenticator.ts) in place of a person's device. Clients
 * reach the server as http://localhost:<port>: browsers allow no passkey on a bare IP address.
 */
import type { Request } from 'express';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { relyingParty } from './relying-party.js';
import { DEFAULT_PASSWORD, HttpClient, startTestServer, testSecret, type TestServer } from '../../test/harness.js';
import { startInstancePair } from '../../test/instance-pair.js';
import { deviceKey, proving } from '../../test/pop.js';
import { SoftAuthenticator } from '../../test/webauthn-authenticator.js';

const local = (s: TestServer) => s.url.replace('127.0.0.1', 'localhost');
const b64u = (s: string) => Buffer.from(s).toString('base64url');
const del = (c: HttpClient, path: string) => c.request('DELETE', path);

async function signUp(s: TestServer, username: string, extra: Record<string, unknown> = {}): Promise<HttpClient> {
  const c = new HttpClient(local(s));
  const res = await c.post('/api/auth/register', { username, password: DEFAULT_PASSWORD, ...extra });
  if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(res.body)}`);
  c.auth = res.body;
  return c;
}

/** Options, then the authenticator's answer: the registration's response. */
async function enrol(c: HttpClient, auth: SoftAuthenticator, name?: string) {
  const options = await c.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
  expect(options.status, JSON.stringify(options.body)).toBe(200);
  return c.post('/api/auth/passkeys', { response: auth.register(options.body), ...(name ? { name } : {}) });
}

/** A sign-in from a fresh browser (its own cookie jar): options, then the assertion. */
async function passkeySignIn(s: TestServer, auth: SoftAuthenticator, extra: Record<string, unknown> = {}, c = new HttpClient(local(s))) {
  const options = await c.post('/api/auth/passkey/options');
  expect(options.status, JSON.stringify(options.body)).toBe(200);
  const ceremony = c.cookies.get('relay_passkey');
  const response = auth.authenticate(options.body);
  const res = await c.post('/api/auth/passkey/login', { response, ...extra });
  return { c, res, response, ceremony, options: options.body };
}

async function passkeyRows(s: TestServer, userId: string) {
  return (await s.ctx.pool.query('SELECT id, name, counter, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at', [userId])).rows;
}

describe('passkeys', () => {
  let server: TestServer;
  let ann: HttpClient;
  let annKey: SoftAuthenticator;

  beforeAll(async () => {
    server = await startTestServer();
    ann = await signUp(server, 'ann');
    annKey = new SoftAuthenticator(local(server));
  });
  afterAll(() => server?.close());

  it('PK1/PK6: every passkey route but the sign-in needs a session: 401 unauthenticated', async () => {
    const c = new HttpClient(local(server));
    const answers = await Promise.all([
      c.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD }),
      c.post('/api/auth/passkeys', { response: {} }),
      c.get('/api/auth/passkeys'),
      c.patch('/api/auth/passkeys/00000000-0000-4000-8000-000000000000', { name: 'x' }),
      del(c, '/api/auth/passkeys/00000000-0000-4000-8000-000000000000'),
    ]);
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
    }
  });

  it('PK2: reached by a bare IP address, both options answer 400 saying to set WEBAUTHN_RP_ID or use a host name', async () => {
    const byAddress = await server.login('ann'); // http://127.0.0.1:<port>
    for (const res of [await byAddress.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD }), await server.client().post('/api/auth/passkey/options')]) {
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toMatch(/WEBAUTHN_RP_ID/);
      expect(res.body.error.message).toMatch(/host name/);
      expect(res.headers.getSetCookie().join()).not.toMatch(/relay_passkey/);
    }
  });

  it('PK1: registration options are WebAuthn JSON at the top level: resident key and user verification required, no attestation', async () => {
    const res = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      rp: { id: 'localhost', name: 'Relay' },
      user: { id: b64u(ann.userId), name: 'ann', displayName: 'ann' },
      attestation: 'none',
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      excludeCredentials: [],
    });
    expect(res.body.challenge).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(res.body.timeout).toBeLessThanOrEqual(120_000);
  });

  it('PK1/PK6: malformed bodies get 400 invalid_request naming the field, and nothing is stored', async () => {
    const options = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    const good = new SoftAuthenticator(local(server)).register(options.body);
    const bad: Array<[unknown, RegExp]> = [
      [{}, /response/],
      [{ response: 'abc' }, /response/],
      [{ response: { ...good, type: 'password' } }, /response\.type/],
      [{ response: { ...good, response: { ...good.response, clientDataJSON: 'not base64url!' } } }, /clientDataJSON/],
      [{ response: { ...good, response: { ...good.response, attestationObject: undefined } } }, /attestationObject/],
      [{ response: { ...good, response: { ...good.response, transports: ['carrier-pigeon'] } } }, /transports/],
      [{ response: good, name: '' }, /name/],
      [{ response: good, name: 'x'.repeat(101) }, /name/],
      [{ response: good, extra: true }, /extra/],
    ];
    for (const [body, field] of bad) {
      const res = await ann.post('/api/auth/passkeys', body);
      expect(res.status, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toMatch(field);
    }
    for (const body of [{}, { response: { id: 'x' } }, { response: good }, { name: '   ' }, { name: 'a', extra: 1 }]) {
      const res = await ann.patch('/api/auth/passkeys/00000000-0000-4000-8000-000000000000', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    const login = new HttpClient(local(server));
    const loginOptions = await login.post('/api/auth/passkey/options');
    const assertion = annKey.authenticate(loginOptions.body);
    for (const body of [{}, { response: {} }, { response: { ...assertion, response: { ...assertion.response, signature: 7 } } }, { response: assertion, username: 'ann' }, { response: assertion, deviceKey: { kty: 'RSA' } }]) {
      const res = await login.post('/api/auth/passkey/login', body);
      expect(res.status, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect(await passkeyRows(server, ann.userId)).toEqual([]);
    // A malformed body was refused before the challenge was looked at: the ceremony still completes.
    const res = await ann.post('/api/auth/passkeys', { response: good });
    expect(res.status).toBe(201);
    await del(ann, `/api/auth/passkeys/${res.body.passkey.id}`);
  });

  it('PK1: a registration verifies and is stored once: 201 {passkey}, listed, audited; its challenge is good once', async () => {
    const options = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    const response = annKey.register(options.body);
    const res = await ann.post('/api/auth/passkeys', { response, name: '  Ann’s laptop ' });
    expect(res.status).toBe(201);
    expect(res.body.passkey).toEqual({ id: expect.any(String), name: 'Ann’s laptop', createdAt: expect.any(String), lastUsedAt: null });
    expect((await ann.get('/api/auth/passkeys')).body).toEqual({ passkeys: [res.body.passkey] });

    // The same response again: its challenge was taken by the first.
    const again = await ann.post('/api/auth/passkeys', { response });
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: 'invalid_passkey', message: expect.stringMatching(/start again/) });
    // The same authenticator on a fresh challenge: excluded in the options, refused if sent anyway.
    const next = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    expect(next.body.excludeCredentials).toEqual([{ id: annKey.id, type: 'public-key', transports: ['internal'] }]);
    const twice = await ann.post('/api/auth/passkeys', { response: annKey.register(next.body) });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toMatchObject({ code: 'invalid_passkey', message: expect.stringMatching(/registered already/) });

    expect(await passkeyRows(server, ann.userId)).toHaveLength(1);
    const { rows } = await server.ctx.pool.query(`SELECT actor_id, action, target_type FROM audit_events WHERE target_id = $1`, [res.body.passkey.id]);
    expect(rows).toEqual([{ actor_id: ann.userId, action: 'passkey.register', target_type: 'passkey' }]);
  });

  it('PK1: a well-formed response that fails verification is 400 invalid_passkey: wrong origin, RP id, no user verification, another device’s challenge', async () => {
    const cases: Array<(o: never) => unknown> = [
      (o) => new SoftAuthenticator('http://evil.localhost:1').register(o),
      (o) => new SoftAuthenticator(local(server)).register(o, { rpId: 'example.com' }),
      (o) => new SoftAuthenticator(local(server)).register(o, { userVerified: false }),
    ];
    for (const make of cases) {
      const options = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
      const res = await ann.post('/api/auth/passkeys', { response: make(options.body as never) });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_passkey');
    }
    // A challenge is bound to the signed-in device that asked for it.
    const annElsewhere = new HttpClient(local(server));
    annElsewhere.auth = (await annElsewhere.post('/api/auth/login', { username: 'ann', password: DEFAULT_PASSWORD })).body;
    const options = await ann.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    const res = await annElsewhere.post('/api/auth/passkeys', { response: new SoftAuthenticator(local(server)).register(options.body) });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_passkey');
    expect(await passkeyRows(server, ann.userId)).toHaveLength(1);
  });

  it('PK3/PK4: a passkey sign-in gets the same answer, cookies and device as a password login, with no username', async () => {
    const before = (await passkeyRows(server, ann.userId))[0];
    const { c, res, options } = await passkeySignIn(server, annKey, { deviceName: 'Ann’s phone' });
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required' });
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      user: { id: ann.userId, username: 'ann', displayName: 'ann', role: 'admin' },
      device: expect.objectContaining({ name: 'Ann’s phone', current: true, bound: false, signedInWith: 'passkey', revokedAt: null }),
      token: expect.any(String),
      expiresAt: expect.any(String),
    });
    const cookies = res.headers.getSetCookie();
    expect(cookies.some((k) => /^relay\.sid=.+HttpOnly/i.test(k) && /SameSite=Lax/i.test(k))).toBe(true);
    expect(cookies.some((k) => /^relay_fp=.+HttpOnly/i.test(k))).toBe(true);
    expect(cookies.some((k) => /^relay_passkey=;.*Path=\/api\/auth\/passkey(;|$)/i.test(k))).toBe(true); // the ceremony's cookie is cleared
    expect(c.cookies.has('relay_passkey')).toBe(false);
    expect((await c.get('/api/auth/me')).body.device).toMatchObject({ id: res.body.device.id, signedInWith: 'passkey' });
    expect((await c.post('/api/auth/token')).status).toBe(200);
    const devices = (await ann.get('/api/devices')).body.devices;
    expect(devices.find((d: { id: string }) => d.id === res.body.device.id).signedInWith).toBe('passkey');
    expect(devices.find((d: { id: string }) => d.id === ann.deviceId).signedInWith).toBe('password');

    const after = (await passkeyRows(server, ann.userId))[0];
    expect(Number(after.counter)).toBe(annKey.counter);
    expect(Number(after.counter)).toBeGreaterThan(Number(before.counter));
    expect(after.last_used_at).not.toBeNull();
    expect((await ann.get('/api/auth/passkeys')).body.passkeys[0].lastUsedAt).toEqual(after.last_used_at.toISOString());
  });

  it('PK3: the sign-in cookie is HttpOnly, SameSite=Strict and short-lived, and names an opaque id, not the challenge', async () => {
    const c = new HttpClient(local(server));
    const res = await c.post('/api/auth/passkey/options');
    const cookie = res.headers.getSetCookie().find((k) => k.startsWith('relay_passkey='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\/api\/auth\/passkey(;|$)/i); // sent to the sign-in ceremony's routes only
    expect(Number(/Max-Age=(\d+)/i.exec(cookie)![1])).toBeLessThanOrEqual(120);
    expect(cookie).not.toContain(res.body.challenge);
  });

  it('PK3: an assertion is good once: replayed with its cookie, with a fresh ceremony, or without a cookie: 401 invalid_credentials', async () => {
    const { res, response, ceremony } = await passkeySignIn(server, annKey);
    expect(res.status).toBe(200);
    const counter = Number((await passkeyRows(server, ann.userId))[0].counter);
    const replayer = new HttpClient(local(server));
    replayer.cookies.set('relay_passkey', ceremony!);
    const attempts = [
      await replayer.post('/api/auth/passkey/login', { response }),
      await new HttpClient(local(server)).post('/api/auth/passkey/login', { response }),
    ];
    const fresh = new HttpClient(local(server));
    await fresh.post('/api/auth/passkey/options');
    attempts.push(await fresh.post('/api/auth/passkey/login', { response }));
    for (const r of attempts) {
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('invalid_credentials');
      expect(r.headers.getSetCookie().join()).not.toMatch(/relay\.sid|relay_fp=[^;]/);
    }
    expect(Number((await passkeyRows(server, ann.userId))[0].counter)).toBe(counter);
  });

  it('PK3: two sign-ins racing with one assertion and one ceremony: exactly one gets in', async () => {
    const c = new HttpClient(local(server));
    const options = await c.post('/api/auth/passkey/options');
    const response = annKey.authenticate(options.body);
    const results = await Promise.all([1, 2, 3].map(() => c.request('POST', '/api/auth/passkey/login', { response })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  it('PK4: a cloned authenticator (its counter behind the stored one) is refused, and the counter does not move back', async () => {
    const clone = annKey.clone();
    clone.counter = 1;
    const stored = Number((await passkeyRows(server, ann.userId))[0].counter);
    const { res } = await passkeySignIn(server, clone);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_credentials');
    expect(Number((await passkeyRows(server, ann.userId))[0].counter)).toBe(stored);
    // The genuine authenticator goes on working.
    expect((await passkeySignIn(server, annKey)).res.status).toBe(200);
  });

  it('PK4: no user verification, a user handle of another account, or an unknown passkey: 401 invalid_credentials', async () => {
    const c = new HttpClient(local(server));
    const options = await c.post('/api/auth/passkey/options');
    const noUv = await c.post('/api/auth/passkey/login', { response: annKey.authenticate(options.body, { userVerified: false }) });
    expect(noUv.status).toBe(401);

    const impostor = annKey.clone();
    impostor.userHandle = b64u('00000000-0000-4000-8000-000000000000');
    const handle = await passkeySignIn(server, impostor);
    expect(handle.res.status).toBe(401);

    const stranger = new SoftAuthenticator(local(server));
    stranger.userHandle = b64u(ann.userId);
    const unknown = await passkeySignIn(server, stranger);
    expect(unknown.res.status).toBe(401);
    expect(unknown.res.body.error).toMatchObject({ code: 'invalid_credentials', message: expect.stringMatching(/not registered/) });
  });

  it('PK4: a disabled account’s passkey gets 403 account_disabled', async () => {
    const dan = await signUp(server, 'dan');
    const danKey = new SoftAuthenticator(local(server));
    expect((await enrol(dan, danKey)).status).toBe(201);
    expect((await ann.post(`/api/admin/users/${dan.userId}/disable`)).status).toBe(200);
    const { res } = await passkeySignIn(server, danKey);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('account_disabled');
    expect(res.headers.getSetCookie().join()).not.toMatch(/relay\.sid/);
  });

  it('PK6: a user lists, renames and removes only their own passkeys; another’s or a missing one: 404; audited; a removed passkey signs in no more', async () => {
    const bea = await signUp(server, 'bea');
    const beaKey = new SoftAuthenticator(local(server));
    const added = await enrol(bea, beaKey, 'Bea’s key');
    expect(added.status).toBe(201);
    const annPasskey = (await ann.get('/api/auth/passkeys')).body.passkeys[0];
    expect((await bea.get('/api/auth/passkeys')).body.passkeys.map((p: { id: string }) => p.id)).toEqual([added.body.passkey.id]);

    for (const id of [annPasskey.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const rename = await bea.patch(`/api/auth/passkeys/${id}`, { name: 'mine now' });
      expect(rename.status).toBe(404);
      expect(rename.body.error.code).toBe('not_found');
      const remove = await del(bea, `/api/auth/passkeys/${id}`);
      expect(remove.status).toBe(404);
      expect(remove.body.error.code).toBe('not_found');
    }
    expect((await ann.get('/api/auth/passkeys')).body.passkeys[0]).toEqual(annPasskey);

    const renamed = await bea.patch(`/api/auth/passkeys/${added.body.passkey.id}`, { name: ' Yubikey ' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.passkey).toEqual({ ...added.body.passkey, name: 'Yubikey' });
    const removed = await del(bea, `/api/auth/passkeys/${added.body.passkey.id}`);
    expect(removed.status).toBe(204);
    expect((await bea.get('/api/auth/passkeys')).body.passkeys).toEqual([]);
    expect((await del(bea, `/api/auth/passkeys/${added.body.passkey.id}`)).status).toBe(404);

    const { rows } = await server.ctx.pool.query(`SELECT action FROM audit_events WHERE target_id = $1 ORDER BY id`, [added.body.passkey.id]);
    expect(rows.map((r) => r.action)).toEqual(['passkey.register', 'passkey.rename', 'passkey.delete']);
    const { res } = await passkeySignIn(server, beaKey);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/not registered/);
  });
  it('PK7: options need the current password: missing 400 naming it, wrong 401 invalid_credentials, and no challenge is issued', async () => {
    const gil = await signUp(server, 'gil');
    const key = new SoftAuthenticator(local(server));
    for (const body of [undefined, {}, { password: '' }, { password: 7 }, { password: DEFAULT_PASSWORD, extra: 1 }]) {
      const res = await gil.post('/api/auth/passkeys/options', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(body && 'extra' in body ? /extra/ : /password/) });
      expect(res.body.challenge).toBeUndefined();
    }
    const wrong = await gil.post('/api/auth/passkeys/options', { password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    expect(wrong.body.challenge).toBeUndefined();
    // Nothing outstanding: a response made for a challenge of the refused options' shape is refused.
    const forged = key.register({ challenge: b64u('guessed'), rp: { id: 'localhost', name: 'Relay' }, user: { id: b64u(gil.userId), name: 'gil', displayName: 'gil' } } as never);
    const res = await gil.post('/api/auth/passkeys', { response: forged });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_passkey', message: expect.stringMatching(/start again/) });
    expect(await passkeyRows(server, gil.userId)).toEqual([]);
    // Still signed in: a wrong password here does not end the session.
    expect((await gil.get('/api/auth/me')).status).toBe(200);
  });

  it('PK7: a copied session (an unbound device’s cookie jar) cannot add a passkey without the password', async () => {
    const hal = await signUp(server, 'hal');
    const thief = new HttpClient(local(server));
    for (const [k, v] of hal.cookies) thief.cookies.set(k, v);
    expect((await thief.get('/api/auth/me')).body.user.id).toBe(hal.userId); // the jar works: the device is unbound
    const key = new SoftAuthenticator(local(server));
    const none = await thief.post('/api/auth/passkeys/options');
    expect(none.status).toBe(400);
    expect(none.body.error.message).toMatch(/password/);
    const guess = await thief.post('/api/auth/passkeys/options', { password: 'password123' });
    expect(guess.status).toBe(401);
    expect(guess.body.error.code).toBe('invalid_credentials');
    const planted = await thief.post('/api/auth/passkeys', { response: key.register({ challenge: b64u('x'), rp: { id: 'localhost', name: 'Relay' }, user: { id: b64u(hal.userId), name: 'hal', displayName: 'hal' } } as never) });
    expect(planted.status).toBe(400);
    expect(await passkeyRows(server, hal.userId)).toEqual([]);
    expect((await passkeySignIn(server, key)).res.status).toBe(401);
  });

  it('PK7: a password change removes the passkeys added from the devices it signs out, keeps this device’s, and audits it', async () => {
    const ida = await signUp(server, 'ida'); // this device: changes the password
    const other = new HttpClient(local(server)); // another device, signed out by the change
    other.auth = (await other.post('/api/auth/login', { username: 'ida', password: DEFAULT_PASSWORD })).body;
    const hereKey = new SoftAuthenticator(local(server));
    const thereKey = new SoftAuthenticator(local(server));
    const here = await enrol(ida, hereKey, 'here');
    const there = await enrol(other, thereKey, 'there');
    expect([here.status, there.status]).toEqual([201, 201]);
    const { rows: recorded } = await server.ctx.pool.query('SELECT name, registered_by_device_id FROM passkeys WHERE user_id = $1 ORDER BY name', [ida.userId]);
    expect(recorded).toEqual([
      { name: 'here', registered_by_device_id: ida.deviceId },
      { name: 'there', registered_by_device_id: other.deviceId },
    ]);

    const changed = await ida.post('/api/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'a brand new passphrase' });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ revoked: 1, passkeysRemoved: 1 });
    expect((await ida.get('/api/auth/passkeys')).body.passkeys.map((p: { name: string }) => p.name)).toEqual(['here']);
    const { rows } = await server.ctx.pool.query(`SELECT actor_id, action, details FROM audit_events WHERE target_type = 'passkey' AND target_id = $1 ORDER BY id`, [there.body.passkey.id]);
    expect(rows).toEqual([
      { actor_id: ida.userId, action: 'passkey.register', details: { name: 'there' } },
      { actor_id: ida.userId, action: 'passkey.delete', details: { name: 'there', reason: 'password_changed', userId: ida.userId, registeredByDeviceId: other.deviceId } },
    ]);
    expect((await passkeySignIn(server, thereKey)).res.status).toBe(401);
    expect((await passkeySignIn(server, hereKey)).res.status).toBe(200);
    const third = new HttpClient(local(server));
    third.auth = (await third.post('/api/auth/login', { username: 'ida', password: 'a brand new passphrase' })).body;
    expect((await third.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD })).status).toBe(401); // the old password adds none
    expect((await third.post('/api/auth/passkeys/options', { password: 'a brand new passphrase' })).status).toBe(200);
  });

  it('PK7: a passkey added from a device that signed out before the password change goes too (the intruder logged out first)', async () => {
    const kim = await signUp(server, 'kim');
    const intruder = new HttpClient(local(server));
    intruder.auth = (await intruder.post('/api/auth/login', { username: 'kim', password: DEFAULT_PASSWORD })).body;
    const intruderKey = new SoftAuthenticator(local(server));
    expect((await enrol(intruder, intruderKey, 'looks like mine')).status).toBe(201);
    expect((await intruder.post('/api/auth/logout')).status).toBe(204); // its device is already signed out
    const changed = await kim.post('/api/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'another new passphrase' });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ revoked: 0, passkeysRemoved: 1 });
    expect(await passkeyRows(server, kim.userId)).toEqual([]);
    expect((await passkeySignIn(server, intruderKey)).res.status).toBe(401);
  });

  it('PK7: an administrator’s “sign out all devices” removes the passkeys those devices added, in the same transaction, audited', async () => {
    const jo = await signUp(server, 'jon');
    const joKey = new SoftAuthenticator(local(server));
    const added = await enrol(jo, joKey);
    expect(added.status).toBe(201);
    const res = await ann.post(`/api/admin/users/${jo.userId}/revoke-devices`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 1 });
    expect(await passkeyRows(server, jo.userId)).toEqual([]);
    const { rows } = await server.ctx.pool.query(`SELECT actor_id, details FROM audit_events WHERE action = 'passkey.delete' AND target_id = $1`, [added.body.passkey.id]);
    expect(rows).toEqual([{ actor_id: ann.userId, details: expect.objectContaining({ reason: 'revoked_by_admin', userId: jo.userId }) }]);
    const { res: signIn } = await passkeySignIn(server, joKey);
    expect(signIn.status).toBe(401);
    expect(signIn.body.error.message).toMatch(/not registered/);
  });
});

describe('passkeys behind PUBLIC_URL', () => {
  let server: TestServer;
  afterAll(() => server?.close());

  it('PK2: the RP id and origin come from PUBLIC_URL (WEBAUTHN_RP_NAME names it); the origin the request reached is not accepted', async () => {
    server = await startTestServer({ env: { PUBLIC_URL: 'https://chat.example.test/relay', WEBAUTHN_RP_NAME: 'Example Chat' } });
    const c = await server.register('pia'); // reached at 127.0.0.1: PUBLIC_URL decides, not the address
    const options = await c.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    expect(options.status).toBe(200);
    expect(options.body.rp).toEqual({ id: 'chat.example.test', name: 'Example Chat' });
    const wrong = await c.post('/api/auth/passkeys', { response: new SoftAuthenticator(server.url).register(options.body) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('invalid_passkey');

    const key = new SoftAuthenticator('https://chat.example.test');
    const again = await c.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    expect((await c.post('/api/auth/passkeys', { response: key.register(again.body) })).status).toBe(201);
    const login = server.client();
    const loginOptions = await login.post('/api/auth/passkey/options');
    expect(loginOptions.body.rpId).toBe('chat.example.test');
    expect((await login.post('/api/auth/passkey/login', { response: key.authenticate(loginOptions.body) })).status).toBe(200);
  });
});

describe('passkeys with DEVICE_BINDING=required and tight login limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { DEVICE_BINDING: 'required', LOGIN_RATE_LIMIT_PER_USERNAME: '2' } });
  });
  afterAll(() => server?.close());

  it('PK4/POP7: a passkey sign-in without deviceKey is refused (400 naming it); with one, its device is bound', async () => {
    const kimKey = await deviceKey();
    const kim = proving(await signUp(server, 'kim', { deviceKey: kimKey.publicJwk }), kimKey); // POP8
    const key = new SoftAuthenticator(local(server));
    expect((await enrol(kim, key)).status).toBe(201);
    const without = await passkeySignIn(server, key);
    expect(without.res.status).toBe(400);
    expect(without.res.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/deviceKey/) });
    const bound = await passkeySignIn(server, key, { deviceKey: (await deviceKey()).publicJwk });
    expect(bound.res.status).toBe(200);
    expect(bound.res.body.device).toMatchObject({ bound: true, signedInWith: 'passkey' });
  });

  it('PK7: wrong passwords at passkey options count with the password change’s: 2 failures, then both answer 429', async () => {
    const mayKey = await deviceKey();
    const may = proving(await signUp(server, 'may', { deviceKey: mayKey.publicJwk }), mayKey);
    for (let i = 0; i < 2; i++) expect((await may.post('/api/auth/passkeys/options', { password: `guess ${i}` })).status).toBe(401);
    // The right password now: refused for this account from here, whichever route asks.
    const options = await may.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    expect(options.status).toBe(429);
    expect(options.body.error.code).toBe('rate_limited');
    expect(options.body.challenge).toBeUndefined();
    const change = await may.post('/api/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'another long passphrase' });
    expect(change.status).toBe(429);
    expect(change.body.error.code).toBe('rate_limited');
  });

  it('PK5: passkey sign-in failures are throttled by the login limiters: 429 rate_limited with Retry-After, per address and passkey', async () => {
    const leeKey = await deviceKey();
    const lee = proving(await signUp(server, 'lee', { deviceKey: leeKey.publicJwk }), leeKey); // POP8
    const key = new SoftAuthenticator(local(server));
    expect((await enrol(lee, key)).status).toBe(201);
    const clone = key.clone();
    clone.counter = 0; // behind the stored counter once the genuine key has signed in
    const dk = (await deviceKey()).publicJwk;
    expect((await passkeySignIn(server, key, { deviceKey: dk })).res.status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { res } = await passkeySignIn(server, clone.clone(), { deviceKey: dk });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.body.error.code).toBe('rate_limited');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([401, 401, 429]);
  });
});

describe('passkey challenges in Redis, shared by instances', () => {
  let pair: Awaited<ReturnType<typeof startInstancePair>>;
  let redis: ReturnType<typeof createClient>;
  beforeAll(async () => {
    pair = await startInstancePair();
    redis = createClient({ url: pair.redis.url });
    await redis.connect();
  });
  afterAll(async () => {
    await redis?.quit();
    await pair?.close();
  });

  it('PK3: options store the challenge in Redis for 2 minutes at most; a response on another instance takes it, once', async () => {
    const { a, b } = pair;
    const onA = await signUp(a, 'rae');
    const options = await onA.post('/api/auth/passkeys/options', { password: DEFAULT_PASSWORD });
    const key = `relay:webauthn:reg:${onA.deviceId}`;
    expect(await redis.get(key)).toBe(options.body.challenge);
    const ttl = await redis.pTTL(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120_000);

    // The same browser (its cookies) answers on instance B.
    const onB = new HttpClient(local(b));
    for (const [k, v] of onA.cookies) onB.cookies.set(k, v);
    const auth = new SoftAuthenticator(local(a));
    const response = auth.register(options.body);
    const res = await onB.post('/api/auth/passkeys', { response });
    // B is another port, so another origin: verification fails there, but the challenge is spent.
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_passkey');
    expect(await redis.exists(key)).toBe(0);
    const replay = await onA.post('/api/auth/passkeys', { response });
    expect(replay.status).toBe(400);
    expect(replay.body.error.message).toMatch(/start again/);

    // A sign-in ceremony: the cookie's id names the key; the challenge is not in the cookie.
    expect((await enrol(onA, auth)).status).toBe(201);
    const login = new HttpClient(local(a));
    const loginOptions = await login.post('/api/auth/passkey/options');
    const ceremony = login.cookies.get('relay_passkey')!;
    expect(await redis.get(`relay:webauthn:login:${ceremony}`)).toBe(loginOptions.body.challenge);
    const assertion = auth.authenticate(loginOptions.body);
    const first = await login.post('/api/auth/passkey/login', { response: assertion });
    expect(first.status).toBe(200);
    expect(await redis.exists(`relay:webauthn:login:${ceremony}`)).toBe(0);
    const replayer = new HttpClient(local(b));
    replayer.cookies.set('relay_passkey', ceremony);
    expect((await replayer.post('/api/auth/passkey/login', { response: assertion })).status).toBe(401);
  });
});

describe('WEBAUTHN_RP_ID and WEBAUTHN_RP_NAME', () => {
  const env = (extra: Record<string, string>) => ({ NODE_ENV: 'test', JWT_SECRET: testSecret(), SESSION_SECRET: testSecret(), ...extra });

  it('PK2: ALLOWED_ORIGINS are passkey origins outside production only; in production only the app’s own origin is', () => {
    const config = loadConfig(env({ PUBLIC_URL: 'https://chat.example.com', ALLOWED_ORIGINS: 'http://localhost:5173,https://chat.example.com' }));
    const req = {} as Request; // PUBLIC_URL decides: the request is not read
    expect(relyingParty({ config }, req).origins).toEqual(['https://chat.example.com', 'http://localhost:5173']);
    expect(relyingParty({ config: { ...config, env: 'production' } }, req).origins).toEqual(['https://chat.example.com']);
  });

  it('PK2: a URL, a port or an IP address as the RP id stops the start, naming the variable; a host name is lower-cased', () => {
    for (const rpId of ['https://chat.example.com', 'chat.example.com:8443', '10.0.0.1', '::1', 'chat example']) {
      expect(() => loadConfig(env({ WEBAUTHN_RP_ID: rpId })), rpId).toThrow(/WEBAUTHN_RP_ID/);
    }
    expect(loadConfig(env({ WEBAUTHN_RP_ID: 'Example.COM' })).webauthn).toEqual({ rpId: 'example.com', rpName: 'Relay' });
    expect(loadConfig(env({ WEBAUTHN_RP_NAME: 'Team chat' })).webauthn).toEqual({ rpId: undefined, rpName: 'Team chat' });
  });
});
