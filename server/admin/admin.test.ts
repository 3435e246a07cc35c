/**
 * /api/admin (CONTRACT "HTTP"): only admins, as the database says at the time of each request;
 * disabling cuts a user off everywhere; every admin action and revocation is in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINGERPRINT_COOKIE } from '../auth/fingerprint.js';
import { DEFAULT_PASSWORD, startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

interface AuditRow {
  action: string;
  actorId: string | null;
  targetType: string;
  targetId: string | null;
  ip: string | null;
}

describe('admin API', () => {
  let server: TestServer;
  let root: HttpClient;
  let mallory: HttpClient;
  let victim: HttpClient;

  const adminRoutes = (userId: string, deviceId: string): Array<[string, string, unknown?]> => [
    ['GET', '/api/admin/users'],
    ['GET', `/api/admin/users/${userId}/devices`],
    ['POST', `/api/admin/devices/${deviceId}/revoke`],
    ['POST', `/api/admin/users/${userId}/revoke-devices`],
    ['POST', `/api/admin/users/${userId}/disable`],
    ['POST', `/api/admin/users/${userId}/enable`],
    ['POST', `/api/admin/users/${userId}/role`, { role: 'admin' }],
    ['GET', '/api/admin/audit'],
  ];
  const userRow = async (id: string) =>
    (await server.ctx.pool.query('SELECT role, disabled FROM users WHERE id = $1', [id])).rows[0] as { role: string; disabled: boolean };
  const activeDevices = async (userId: string) =>
    Number((await server.ctx.pool.query('SELECT count(*) AS n FROM devices WHERE user_id = $1 AND revoked_at IS NULL', [userId])).rows[0].n);
  const auditCount = async () => Number((await server.ctx.pool.query('SELECT count(*) AS n FROM audit_events')).rows[0].n);
  async function audit(): Promise<AuditRow[]> {
    const res = await root.get('/api/admin/audit?limit=1000');
    expect(res.status).toBe(200);
    return res.body.events;
  }

  beforeAll(async () => {
    server = await startTestServer();
    root = await server.register('root');
    mallory = await server.register('mallory');
    victim = await server.register('victim');
  });
  afterAll(() => server?.close());

  it('the first account is an admin, later ones are users', async () => {
    expect(root.auth.user.role).toBe('admin');
    expect(mallory.auth.user.role).toBe('user');
    const res = await root.get('/api/admin/users');
    expect(res.status).toBe(200);
    expect(res.body.users).toEqual([
      { id: mallory.userId, username: 'mallory', displayName: 'mallory', role: 'user', disabled: false, createdAt: expect.any(String), online: false },
      { id: root.userId, username: 'root', displayName: 'root', role: 'admin', disabled: false, createdAt: expect.any(String), online: false },
      { id: victim.userId, username: 'victim', displayName: 'victim', role: 'user', disabled: false, createdAt: expect.any(String), online: false },
    ]);
  });

  it('answers 403 forbidden to a non-admin on every admin route and changes nothing', async () => {
    const before = await auditCount();
    for (const [method, path, body] of adminRoutes(victim.userId, victim.deviceId)) {
      const res = await mallory.request(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body, `${method} ${path}`).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    }
    expect(await userRow(mallory.userId)).toEqual({ role: 'user', disabled: false });
    expect(await userRow(victim.userId)).toEqual({ role: 'user', disabled: false });
    expect(await activeDevices(victim.userId)).toBe(1);
    expect(await auditCount()).toBe(before);
  });

  it('answers 401 without a session on every admin route', async () => {
    for (const [method, path, body] of adminRoutes(victim.userId, victim.deviceId)) {
      const res = await server.client().request(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
    }
  });

  it('answers 404 for unknown or malformed user and device ids', async () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'nope']) {
      for (const [method, path] of [
        ['GET', `/api/admin/users/${id}/devices`],
        ['POST', `/api/admin/devices/${id}/revoke`],
        ['POST', `/api/admin/users/${id}/revoke-devices`],
        ['POST', `/api/admin/users/${id}/disable`],
        ['POST', `/api/admin/users/${id}/enable`],
      ]) {
        const res = await root.request(method, path);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.error.code).toBe('not_found');
      }
    }
  });

  it('lists a user’s devices', async () => {
    const res = await root.get(`/api/admin/users/${victim.userId}/devices`);
    expect(res.status).toBe(200);
    expect(res.body.devices).toEqual([expect.objectContaining({ id: victim.deviceId, current: false, revokedAt: null })]);
  });

  it('a promoted user gains access, and a demoted admin loses it on the very next request', async () => {
    const promote = await root.post(`/api/admin/users/${mallory.userId}/role`, { role: 'admin' });
    expect(promote.status).toBe(200);
    expect(promote.body.user).toMatchObject({ id: mallory.userId, role: 'admin' });
    expect((await mallory.get('/api/admin/users')).status).toBe(200);

    const demote = await root.post(`/api/admin/users/${mallory.userId}/role`, { role: 'user' });
    expect(demote.status).toBe(200);
    expect((await mallory.get('/api/admin/users')).status).toBe(403);

    // Changed behind the server's back, in the database: still effective at once.
    await server.ctx.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [mallory.userId]);
    expect((await mallory.get('/api/admin/audit')).status).toBe(200);
    await server.ctx.pool.query("UPDATE users SET role = 'user' WHERE id = $1", [mallory.userId]);
    const after = await mallory.get('/api/admin/audit');
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('forbidden');
    expect((await mallory.get('/api/auth/me')).body.user.role).toBe('user');
  });

  it('validates the role body and refuses to demote oneself', async () => {
    const bad = await root.post(`/api/admin/users/${mallory.userId}/role`, { role: 'superuser' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(bad.body.error.message).toContain('role');
    const self = await root.post(`/api/admin/users/${root.userId}/role`, { role: 'user' });
    expect(self.status).toBe(400);
    expect(await userRow(root.userId)).toEqual({ role: 'admin', disabled: false });
    const selfDisable = await root.post(`/api/admin/users/${root.userId}/disable`);
    expect(selfDisable.status).toBe(400);
    expect(await userRow(root.userId)).toEqual({ role: 'admin', disabled: false });
  });

  it('disable cuts the user off (sessions, tokens, login 403); enable restores login', async () => {
    const second = await server.login('victim');
    const res = await root.post(`/api/admin/users/${victim.userId}/disable`);
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: victim.userId, username: 'victim' });
    expect(await userRow(victim.userId)).toMatchObject({ disabled: true });
    expect(await activeDevices(victim.userId)).toBe(0);

    for (const c of [victim, second]) {
      expect((await c.get('/api/auth/me')).status).toBe(401);
      expect((await c.post('/api/auth/token')).status).toBe(401);
      expect(await server.ctx.tokens.verify(c.token, c.cookies.get(FINGERPRINT_COOKIE))).toEqual({ ok: false, reason: 'account_disabled' });
    }
    const login = await server.client().post('/api/auth/login', { username: 'victim', password: DEFAULT_PASSWORD });
    expect(login.status).toBe(403);
    expect(login.body).toEqual({ error: { code: 'account_disabled', message: expect.any(String) } });
    expect(login.headers.getSetCookie()).toEqual([]);
    const listed = (await root.get('/api/admin/users')).body.users.find((u: { id: string }) => u.id === victim.userId);
    expect(listed.disabled).toBe(true);

    const enable = await root.post(`/api/admin/users/${victim.userId}/enable`);
    expect(enable.status).toBe(200);
    expect(await userRow(victim.userId)).toMatchObject({ disabled: false });
    victim = await server.login('victim');
    expect((await victim.get('/api/auth/me')).status).toBe(200);
    // The devices revoked by the disable stay revoked.
    expect(await server.ctx.tokens.verify(second.token, second.cookies.get(FINGERPRINT_COOKIE))).toEqual({ ok: false, reason: 'device_revoked' });
  });

  it('revoke-devices answers the number revoked and cuts off every device', async () => {
    const b = await server.login('victim');
    const c = await server.login('victim');
    const res = await root.post(`/api/admin/users/${victim.userId}/revoke-devices`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 3 });
    for (const x of [victim, b, c]) expect((await x.get('/api/auth/me')).status).toBe(401);
    const again = await root.post(`/api/admin/users/${victim.userId}/revoke-devices`);
    expect(again.body).toEqual({ revoked: 0 });
  });

  it('revokes a single device of anyone', async () => {
    victim = await server.login('victim');
    const res = await root.post(`/api/admin/devices/${victim.deviceId}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body.device).toMatchObject({ id: victim.deviceId, revokedAt: expect.any(String), current: false });
    expect((await victim.get('/api/auth/me')).status).toBe(401);
    expect(await server.ctx.tokens.verify(victim.token, victim.cookies.get(FINGERPRINT_COOKIE))).toEqual({ ok: false, reason: 'revoked_by_admin' });
  });

  it('the audit log has a row with actor and ip for every admin action and revocation', async () => {
    victim = await server.login('victim');
    const before = await auditCount();
    const actions: Array<[string, unknown?]> = [
      [`/api/admin/users/${victim.userId}/role`, { role: 'admin' }],
      [`/api/admin/users/${victim.userId}/role`, { role: 'user' }],
      [`/api/admin/users/${victim.userId}/disable`],
      [`/api/admin/users/${victim.userId}/enable`],
      [`/api/admin/users/${victim.userId}/revoke-devices`], // nothing left to revoke: still an admin action
    ];
    for (const [path, body] of actions) expect((await root.post(path, body)).status, path).toBe(200);
    victim = await server.login('victim');
    expect((await root.post(`/api/admin/devices/${victim.deviceId}/revoke`)).status).toBe(200);

    const events = await audit();
    const fresh = events.slice(0, (await auditCount()) - before).reverse();
    expect(fresh.map((e) => [e.action, e.targetType, e.targetId])).toEqual([
      ['user.role', 'user', victim.userId],
      ['user.role', 'user', victim.userId],
      ['user.disable', 'user', victim.userId],
      ['device.revoke', 'device', expect.any(String)],
      ['user.enable', 'user', victim.userId],
      ['user.revoke_devices', 'user', victim.userId],
      ['device.revoke', 'device', victim.deviceId],
    ]);
    for (const e of fresh) {
      expect(e.actorId).toBe(root.userId);
      expect(e.ip).toMatch(/127\.0\.0\.1/);
      expect(e).toEqual({
        id: expect.any(String),
        at: expect.any(String),
        actorId: root.userId,
        action: e.action,
        targetType: e.targetType,
        targetId: e.targetId,
        ip: e.ip,
        // Added names (see the next test).
        actor: { username: 'root', displayName: 'root' },
        targetName: expect.any(String),
        targetUser: { id: victim.userId, username: 'victim', displayName: 'victim' },
      });
    }
    // A user's own revocations (logout) are audited too, with the user as the actor.
    victim = await server.login('victim');
    expect((await victim.post('/api/auth/logout')).status).toBe(204);
    const logout = (await audit())[0];
    expect(logout).toMatchObject({ action: 'device.revoke', actorId: victim.userId, targetId: victim.deviceId, ip: expect.stringMatching(/127\.0\.0\.1/) });
  });

  it('names the actor, the device and its owner, and the user in each audit event, read in one query whatever the page size', async () => {
    const ua = 'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
    const pixel = await server.client().post('/api/auth/login', { username: 'victim', password: DEFAULT_PASSWORD }, { 'user-agent': ua });
    expect(pixel.status).toBe(200);
    expect(pixel.body.device.name).toBe('Chrome 131 on Android (Pixel 7)');
    expect((await root.patch('/api/me', { displayName: 'Root Admin' })).status).toBe(200);
    expect((await root.post(`/api/admin/devices/${pixel.body.device.id}/revoke`)).status).toBe(200);
    expect((await root.post(`/api/admin/users/${victim.userId}/enable`)).status).toBe(200);

    const [enable, revoke] = await audit();
    expect(revoke).toMatchObject({
      action: 'device.revoke',
      targetType: 'device',
      targetId: pixel.body.device.id,
      actor: { username: 'root', displayName: 'Root Admin' },
      targetName: 'Chrome 131 on Android (Pixel 7)',
      targetUser: { id: victim.userId, username: 'victim', displayName: 'victim' },
    });
    expect(enable).toMatchObject({
      action: 'user.enable',
      targetName: 'victim',
      targetUser: { id: victim.userId, username: 'victim', displayName: 'victim' },
    });
    // An id that names nothing (an invite, a malformed or deleted target) has null names, not an error.
    await server.ctx.pool.query(
      `INSERT INTO audit_events (actor_id, action, target_type, target_id) VALUES (NULL, 'test.odd', 'device', 'not-a-uuid'), (NULL, 'test.odd', 'user', '00000000-0000-4000-8000-000000000000'), (NULL, 'test.odd', 'message', '99999999999999999999')`,
    );
    const odd = (await audit()).slice(0, 3);
    for (const e of odd) expect(e).toMatchObject({ actorId: null, actor: null, targetName: null, targetUser: null });

    // No query per event: the page of 2 and the page of 1000 cost the same number of queries.
    const queries = async (limit: number) => {
      const pool = server.ctx.pool;
      const original = pool.query.bind(pool);
      let n = 0;
      (pool as { query: unknown }).query = (...args: unknown[]) => {
        const q = args[0] as string | { text?: string };
        if (/audit_events|"users"|"devices"/.test(typeof q === 'string' ? q : (q.text ?? ''))) n += 1;
        return (original as (...a: unknown[]) => unknown)(...args);
      };
      try {
        const res = await root.get(`/api/admin/audit?limit=${limit}`);
        expect(res.status).toBe(200);
        return { n, events: res.body.events.length as number };
      } finally {
        (pool as { query: unknown }).query = original;
      }
    };
    const small = await queries(2);
    const large = await queries(1000);
    expect(large.events).toBeGreaterThan(10);
    expect(small.n).toBeGreaterThan(0);
    expect(large.n).toBe(small.n);
  });

  it('validates the audit limit', async () => {
    const res = await root.get('/api/admin/audit?limit=0');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toContain('limit');
    const two = await root.get('/api/admin/audit?limit=2');
    expect(two.status).toBe(200);
    expect(two.body.events).toHaveLength(2);
  });
});

describe('the first account', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('is the only admin even when several register at the same moment', async () => {
    const clients = await Promise.all(['first1', 'first2', 'first3', 'first4'].map((name) => server.register(name)));
    const roles = clients.map((c) => c.auth.user.role).sort();
    expect(roles).toEqual(['admin', 'user', 'user', 'user']);
    const { rows } = await server.ctx.pool.query("SELECT count(*)::int AS n FROM users WHERE role = 'admin'");
    expect(rows[0].n).toBe(1);
  });
});

describe('the last admin', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('two admins disabling or demoting each other at once leave one admin, not none', async () => {
    const root = await server.register('lastroot');
    const other = await server.register('lastother');
    expect((await root.post(`/api/admin/users/${other.userId}/role`, { role: 'admin' })).status).toBe(200);
    const [a, b] = await Promise.all([
      root.post(`/api/admin/users/${other.userId}/disable`),
      other.post(`/api/admin/users/${root.userId}/role`, { role: 'user' }),
    ]);
    // One wins. The other is refused: by the admin lock (400), or, if the winner committed before
    // it was authenticated, because its caller is no longer an active admin (401/403).
    const statuses = [a.status, b.status].sort();
    expect(statuses[0]).toBe(200);
    expect([400, 401, 403]).toContain(statuses[1]);
    const { rows } = await server.ctx.pool.query("SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND NOT disabled");
    expect(rows[0].n).toBe(1);
  });
});
