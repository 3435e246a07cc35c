/**
 * The HTTP auth surface (CONTRACT "HTTP": register, login, logout, me, token), run once with
 * sessions in Postgres (no REDIS_URL) and once with sessions in a private Redis, against the
 * real server. Each test asserts what a user or an operator would see: the status, the error
 * body, the cookie attributes, the rows in the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINGERPRINT_COOKIE } from './fingerprint.js';
import { SESSION_COOKIE } from '../http/session.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { DEFAULT_PASSWORD, HttpClient, startTestServer, testSecret, type TestServer } from '../test/harness.js';

/** The session id inside a signed express-session cookie value (`s:<sid>.<signature>`). */
function sidOf(cookieValue: string): string {
  const decoded = decodeURIComponent(cookieValue);
  return decoded.slice(2, decoded.lastIndexOf('.'));
}

function setCookie(headers: Headers, name: string): string | undefined {
  return headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
}

/** Sends a request with exactly these cookies, bypassing any client's jar. */
async function withCookies(server: TestServer, method: string, path: string, cookie: string) {
  const res = await fetch(server.url + path, { method, headers: { cookie } });
  return { status: res.status, body: (await res.text()) || undefined };
}

const modes = [
  { mode: 'Postgres sessions', useRedis: false },
  { mode: 'Redis sessions', useRedis: true },
];

describe.each(modes)('auth over HTTP with $mode', ({ useRedis }) => {
  let redis: TestRedis | undefined;
  let server: TestServer;
  let admin: HttpClient;
  let bob: HttpClient;
  const bobName = 'bob';

  /** The ids of every stored session, wherever this mode keeps them. */
  async function storedSessions(): Promise<string[]> {
    if (useRedis) {
      const keys = await server.ctx.redis!.keys('relay:sess:*');
      return keys.map((k) => k.slice('relay:sess:'.length)).sort();
    }
    const { rows } = await server.ctx.pool.query<{ sid: string }>('SELECT sid FROM session ORDER BY sid');
    return rows.map((r) => r.sid);
  }

  async function deviceRow(id: string) {
    const { rows } = await server.ctx.pool.query('SELECT * FROM devices WHERE id = $1', [id]);
    return rows[0];
  }

  beforeAll(async () => {
    if (useRedis) redis = await startRedis();
    server = await startTestServer({ env: { REDIS_URL: redis?.url } });
    admin = await server.register('root');
    bob = await server.register(bobName);
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('makes the first account an admin and the second a user', () => {
    expect(admin.auth.user).toMatchObject({ username: 'root', role: 'admin' });
    expect(bob.auth.user).toMatchObject({ username: bobName, role: 'user', displayName: bobName });
  });

  it('register answers 201 with {user, device, token, expiresAt} and the login cookies', async () => {
    const c = server.client();
    const res = await c.post('/api/auth/register', { username: 'Carol', password: DEFAULT_PASSWORD, displayName: 'Carol C' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      user: { username: 'carol', displayName: 'Carol C', role: 'user' },
      device: { current: true, revokedAt: null },
      token: expect.any(String),
      expiresAt: expect.any(String),
    });
    expect(c.cookies.has(SESSION_COOKIE)).toBe(true);
    expect(c.cookies.has(FINGERPRINT_COOKIE)).toBe(true);
    const again = await server.client().post('/api/auth/register', { username: 'CAROL', password: DEFAULT_PASSWORD });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('username_taken');
  });

  it('a failed register (409) does not sign the caller out', async () => {
    const c = await server.login(bobName);
    const res = await c.post('/api/auth/register', { username: 'root', password: DEFAULT_PASSWORD });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('username_taken');
    const me = await c.get('/api/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.user.username).toBe(bobName);
  });

  it('sets relay.sid HttpOnly, SameSite=Lax, Path=/ and not Secure over plain http; relay_fp HttpOnly', async () => {
    const res = await server.client().post('/api/auth/login', { username: bobName, password: DEFAULT_PASSWORD });
    expect(res.status).toBe(200);
    const sid = setCookie(res.headers, SESSION_COOKIE);
    expect(sid).toBeDefined();
    expect(sid).toMatch(/;\s*HttpOnly/i);
    expect(sid).toMatch(/;\s*SameSite=Lax/i);
    expect(sid).toMatch(/;\s*Path=\/(;|$)/i);
    expect(sid).not.toMatch(/;\s*Secure/i);
    const fp = setCookie(res.headers, FINGERPRINT_COOKIE);
    expect(fp).toMatch(/;\s*HttpOnly/i);
    expect(fp).not.toMatch(/;\s*Secure/i);
  });

  it('gives anonymous requests no Set-Cookie and stores no session for them', async () => {
    const before = await storedSessions();
    const anon = server.client();
    for (const [method, path, body] of [
      ['GET', '/api/auth/me'],
      ['GET', '/api/devices'],
      ['POST', '/api/auth/token'],
      ['POST', '/api/auth/login', { username: bobName, password: 'wrong password' }],
      ['GET', '/healthz'],
    ] as const) {
      const res = await anon.request(method, path, body);
      expect(res.headers.getSetCookie(), `${method} ${path}`).toEqual([]);
    }
    const me = await anon.get('/api/auth/me');
    expect(me.status).toBe(401);
    expect(me.body).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
    expect(await storedSessions()).toEqual(before);
  });

  it('issues a new session id at login and never reuses a pre-existing cookie (no fixation)', async () => {
    // An attacker's own valid session planted in the victim's browser...
    const planted = await server.login(bobName);
    const plantedValue = planted.cookies.get(SESSION_COOKIE)!;
    const res = await planted.post('/api/auth/login', { username: 'root', password: DEFAULT_PASSWORD });
    expect(res.status).toBe(200);
    const fresh = planted.cookies.get(SESSION_COOKIE)!;
    expect(fresh).not.toBe(plantedValue);
    expect(sidOf(fresh)).not.toBe(sidOf(plantedValue));
    // ...is gone: the attacker holding the old value is not signed in as the victim (or at all).
    const stale = await withCookies(server, 'GET', '/api/auth/me', `${SESSION_COOKIE}=${plantedValue}`);
    expect(stale.status).toBe(401);
    expect(await storedSessions()).not.toContain(sidOf(plantedValue));
    // A forged, unsigned id is not adopted either.
    const forged = server.client();
    forged.cookies.set(SESSION_COOKIE, 's%3Aattacker-chosen-id.bogus');
    await forged.post('/api/auth/login', { username: bobName, password: DEFAULT_PASSWORD });
    expect(sidOf(forged.cookies.get(SESSION_COOKIE)!)).not.toBe('attacker-chosen-id');
    expect(await storedSessions()).not.toContain('attacker-chosen-id');
  });

  it('answers a wrong password and an unknown user identically: 401 invalid_credentials', async () => {
    const wrong = await server.client().post('/api/auth/login', { username: bobName, password: 'not the password' });
    const unknown = await server.client().post('/api/auth/login', { username: 'nobody-here', password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual({ error: { code: 'invalid_credentials', message: expect.any(String) } });
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.headers.getSetCookie()).toEqual([]);
    expect(unknown.headers.getSetCookie()).toEqual([]);
  });

  it('me and token answer for the session’s own device; the token verifies with its fingerprint cookie', async () => {
    const c = await server.login(bobName, DEFAULT_PASSWORD, { deviceName: 'Laptop' });
    const me = await c.get('/api/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.user).toEqual(c.auth.user);
    expect(me.body.device).toMatchObject({ id: c.deviceId, name: 'Laptop', current: true, revokedAt: null, online: false });
    const tok = await c.post('/api/auth/token');
    expect(tok.status).toBe(200);
    expect(tok.body).toEqual({ token: expect.any(String), expiresAt: expect.any(String) });
    expect(tok.body.token).not.toBe(c.token);
    const v = await server.ctx.tokens.verify(tok.body.token, c.cookies.get(FINGERPRINT_COOKIE));
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect(v.identity.deviceId).toBe(c.deviceId);
      expect(v.identity.user.id).toBe(c.userId);
      expect(v.expiresAt.toISOString()).toBe(tok.body.expiresAt);
    }
  });

  it('logout answers 204, ends the session, revokes the device and its tokens', async () => {
    const c = await server.login(bobName);
    const cookie = c.cookieHeader();
    const fp = c.cookies.get(FINGERPRINT_COOKIE);
    const sid = sidOf(c.cookies.get(SESSION_COOKIE)!);
    expect(await storedSessions()).toContain(sid);
    expect((await server.ctx.tokens.verify(c.token, fp)).ok).toBe(true);

    const out = await c.post('/api/auth/logout');
    expect(out.status).toBe(204);
    expect(c.cookies.has(SESSION_COOKIE)).toBe(false);

    // The old cookie, replayed as is, is useless.
    for (const [method, path] of [
      ['GET', '/api/auth/me'],
      ['POST', '/api/auth/token'],
      ['POST', '/api/auth/logout'],
    ]) {
      const res = await withCookies(server, method, path, cookie);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(JSON.parse(res.body!).error.code).toBe('unauthenticated');
    }
    expect(await storedSessions()).not.toContain(sid);
    const row = await deviceRow(c.deviceId);
    expect(row.revoked_at).toBeInstanceOf(Date);
    expect(row.revoked_reason).toBe('logged_out');
    expect(await server.ctx.tokens.verify(c.token, fp)).toEqual({ ok: false, reason: 'logged_out' });
  });

  it('logout without a session is 401', async () => {
    const res = await server.client().post('/api/auth/logout');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });

  it('refuses the tokens of a revoked device (device_revoked) and of a disabled user (account_disabled)', async () => {
    const dave = await server.register('dave');
    const second = await server.login('dave');
    await server.ctx.pool.query('UPDATE devices SET revoked_at = now() WHERE id = $1', [second.deviceId]);
    expect(await server.ctx.tokens.verify(second.token, second.cookies.get(FINGERPRINT_COOKIE))).toEqual({
      ok: false,
      reason: 'device_revoked',
    });
    expect((await second.get('/api/auth/me')).status).toBe(401);
    expect((await server.ctx.tokens.verify(dave.token, dave.cookies.get(FINGERPRINT_COOKIE))).ok).toBe(true);

    await server.ctx.pool.query('UPDATE users SET disabled = true WHERE id = $1', [dave.userId]);
    expect(await server.ctx.tokens.verify(dave.token, dave.cookies.get(FINGERPRINT_COOKIE))).toEqual({
      ok: false,
      reason: 'account_disabled',
    });
    expect((await dave.post('/api/auth/token')).status).toBe(401);
    const login = await server.client().post('/api/auth/login', { username: 'dave', password: DEFAULT_PASSWORD });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe('account_disabled');
  });

  it('writes no token, password or cookie value to the logs', async () => {
    const password = 'Sup3r-Secret-Passw0rd-xyzzy';
    const name = `leak${useRedis ? 'r' : 'p'}`;
    const reg = await server.register(name, password);
    const c = await server.login(name, password);
    const tok = await c.post('/api/auth/token');
    await c.get('/api/auth/me');
    await c.get('/api/devices');
    await server.client().post('/api/auth/login', { username: name, password: `${password}-wrong` });
    const secrets = [
      password,
      reg.token,
      c.token,
      tok.body.token,
      ...reg.cookies.values(),
      ...c.cookies.values(),
      ...[...c.cookies.values()].map(decodeURIComponent),
      sidOf(c.cookies.get(SESSION_COOKIE)!),
    ];
    // Logs of the logout too, for the same session.
    expect((await c.post('/api/auth/logout')).status).toBe(204);
    const text = server.logs.join('');
    expect(text).toContain('"path":"/api/auth/login"'); // the requests were logged at all
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(8);
      expect(text.includes(s), `log contains a secret starting ${s.slice(0, 6)}`).toBe(false);
    }
  });

  it('keeps sessions across a server restart', async () => {
    const old = await server.login(bobName);
    const before = await old.get('/api/auth/me');
    expect(before.status).toBe(200);
    const databaseUrl = server.env.DATABASE_URL;
    const env = { JWT_SECRET: server.env.JWT_SECRET, SESSION_SECRET: server.env.SESSION_SECRET, REDIS_URL: redis?.url };
    await server.close();
    server = await startTestServer({ databaseUrl, env });
    // The same browser, pointed at the new instance (a new port), keeps its cookies.
    const same = new HttpClient(server.url);
    for (const [k, v] of old.cookies) same.cookies.set(k, v);
    const after = await same.get('/api/auth/me');
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    expect((await same.post('/api/auth/token')).status).toBe(200);
    // The token issued before the restart still verifies on the new instance.
    expect((await server.ctx.tokens.verify(old.token, old.cookies.get(FINGERPRINT_COOKIE))).ok).toBe(true);
  });

  it.runIf(useRedis)('answers 503 quickly while Redis is down, and recovers when it is back', async () => {
    const c = await server.login(bobName);
    expect((await c.get('/api/auth/me')).status).toBe(200);
    await redis!.stop();
    try {
      let started = Date.now();
      const me = await c.get('/api/auth/me');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(me.status).toBe(503);
      expect(me.body.error.code).toBe('service_unavailable');

      started = Date.now();
      const login = await server.client().post('/api/auth/login', { username: bobName, password: DEFAULT_PASSWORD });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(login.status).toBe(503);
      expect(login.body.error.code).toBe('service_unavailable');
    } finally {
      await redis!.restart();
    }
    // Redis keeps nothing across the restart (no persistence), so sign in again.
    await expect
      .poll(async () => (await server.client().post('/api/auth/login', { username: bobName, password: DEFAULT_PASSWORD })).status, {
        timeout: 15_000,
        interval: 250,
      })
      .toBe(200);
    const again = await server.login(bobName);
    expect((await again.get('/api/auth/me')).status).toBe(200);
  });
});

// The two lifetimes are waited out side by side, on separate servers.
describe.concurrent.each(modes)('session lifetime with $mode', ({ useRedis }) => {
  let redis: TestRedis | undefined;
  const servers: TestServer[] = [];
  const start = async (env: Record<string, string>) => {
    const s = await startTestServer({ env: { REDIS_URL: redis?.url, ...env } });
    servers.push(s);
    return s;
  };
  beforeAll(async () => {
    if (useRedis) redis = await startRedis();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await redis?.stop();
  });

  it('ends a session SESSION_MAX_AGE after login, however busy', async () => {
    const server = await start({ SESSION_MAX_AGE: '2s' });
    const c = await server.register('maxage');
    await expect
      .poll(async () => (await c.get('/api/auth/me')).body, { timeout: 10_000, interval: 200 })
      .toEqual({ error: { code: 'unauthenticated', message: 'Session expired; sign in again' } });
    expect((await c.post('/api/auth/token')).status).toBe(401);
  });

  it('ends a session left unused for SESSION_IDLE_TIMEOUT', async () => {
    const server = await start({ SESSION_IDLE_TIMEOUT: '1s' });
    const c = await server.register('idle');
    // Longer than the idle timeout, counted from the last response, so not timing-sensitive.
    await new Promise((r) => setTimeout(r, 2_500));
    const me = await c.get('/api/auth/me');
    expect(me.status).toBe(401);
  });
});

describe('registration closed', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { REGISTRATION: 'closed' } });
  });
  afterAll(() => server?.close());

  it('answers 403 registration_closed and creates nobody', async () => {
    const res = await server.client().post('/api/auth/register', { username: 'hopeful', password: DEFAULT_PASSWORD });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: { code: 'registration_closed', message: expect.any(String) } });
    expect(res.headers.getSetCookie()).toEqual([]);
    const { rows } = await server.ctx.pool.query('SELECT count(*)::int AS n FROM users');
    expect(rows[0].n).toBe(0);
  });
});

describe('a session store that fails while signing in', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('answers 503 and leaves no user, no device and no session behind (register and login)', async () => {
    const store = server.ctx.sessionStore;
    const realSet = store.set.bind(store);
    const counts = async () =>
      (await server.ctx.pool.query('SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM devices)::int AS devices')).rows[0];
    await server.register('existing');
    const before = await counts();
    // The real store, made to fail its write once per request, as a store outage would.
    store.set = (_sid, _session, cb) => cb?.(new Error('store down'));
    try {
      const reg = await server.client().post('/api/auth/register', { username: 'newcomer', password: DEFAULT_PASSWORD });
      expect(reg.status).toBe(503);
      const login = await server.client().post('/api/auth/login', { username: 'existing', password: DEFAULT_PASSWORD });
      expect(login.status).toBe(503);
      expect(await counts()).toEqual(before);
    } finally {
      store.set = realSet;
    }
    // Once the store answers again, the same registration succeeds (not a 409 from a leftover row).
    expect((await server.client().post('/api/auth/register', { username: 'newcomer', password: DEFAULT_PASSWORD })).status).toBe(201);
  });
});

describe('sessions in a Redis that stops answering (paused, not dead)', () => {
  let redis: TestRedis;
  let server: TestServer;
  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({ env: { REDIS_URL: redis.url } });
    await server.register('paused');
  });
  afterAll(async () => {
    if (redis?.process.exitCode === null) redis.process.kill('SIGCONT');
    await server?.close();
    await redis?.stop();
  });

  it('answers 503 instead of hanging, and keeps the session for when Redis resumes', async () => {
    const c = await server.login('paused');
    expect((await c.get('/api/auth/me')).status).toBe(200);
    redis.process.kill('SIGSTOP');
    try {
      let started = Date.now();
      const me = await c.get('/api/auth/me');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(me.status).toBe(503);
      expect(me.body.error.code).toBe('service_unavailable');
      started = Date.now();
      const login = await server.client().post('/api/auth/login', { username: 'paused', password: DEFAULT_PASSWORD });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(login.status).toBe(503);
    } finally {
      redis.process.kill('SIGCONT');
    }
    // The 503 must not have cost the user their session.
    await expect.poll(async () => (await c.get('/api/auth/me')).status, { timeout: 10_000, interval: 250 }).toBe(200);
  });
});

describe('session cookie behind a TLS-terminating proxy', () => {
  let proxied: TestServer;
  let direct: TestServer;
  beforeAll(async () => {
    const secrets = { JWT_SECRET: testSecret(), SESSION_SECRET: testSecret() };
    proxied = await startTestServer({ env: { ...secrets, TRUST_PROXY: 'true' } });
    direct = await startTestServer({ env: secrets });
    await proxied.register('tls-user');
    await direct.register('tls-user');
  });
  afterAll(async () => {
    await proxied?.close();
    await direct?.close();
  });

  const login = (server: TestServer, headers: Record<string, string>) =>
    server.client().post('/api/auth/login', { username: 'tls-user', password: DEFAULT_PASSWORD }, headers);

  it('marks both cookies Secure when TRUST_PROXY=true and X-Forwarded-Proto is https', async () => {
    const res = await login(proxied, { 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(200);
    expect(setCookie(res.headers, SESSION_COOKIE)).toMatch(/;\s*Secure/i);
    expect(setCookie(res.headers, SESSION_COOKIE)).toMatch(/;\s*HttpOnly/i);
    expect(setCookie(res.headers, FINGERPRINT_COOKIE)).toMatch(/;\s*Secure/i);
  });

  it('takes the https origin as its own behind the proxy (CSRF guard) and refuses the http one', async () => {
    const host = new URL(proxied.url).host;
    const ok = await login(proxied, { 'x-forwarded-proto': 'https', origin: `https://${host}` });
    expect(ok.status).toBe(200);
    const downgraded = await login(proxied, { 'x-forwarded-proto': 'https', origin: `http://${host}` });
    expect(downgraded.status).toBe(403);
    expect(downgraded.body.error.code).toBe('bad_origin');
  });

  it('does not mark them Secure for plain http behind the same proxy', async () => {
    const res = await login(proxied, { 'x-forwarded-proto': 'http' });
    expect(res.status).toBe(200);
    expect(setCookie(res.headers, SESSION_COOKIE)).not.toMatch(/;\s*Secure/i);
  });

  it('ignores a spoofed X-Forwarded-Proto when the proxy is not trusted', async () => {
    const res = await login(direct, { 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(200);
    expect(setCookie(res.headers, SESSION_COOKIE)).toBeDefined();
    expect(setCookie(res.headers, SESSION_COOKIE)).not.toMatch(/;\s*Secure/i);
  });
});
