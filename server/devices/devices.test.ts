/**
 * /api/devices (CONTRACT "HTTP"): a user sees and revokes only their own devices; anyone else's
 * device is a 404 that changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINGERPRINT_COOKIE } from '../auth/fingerprint.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

describe('devices API', () => {
  let server: TestServer;
  let alice: HttpClient;
  let bob: HttpClient;

  const revokedAt = async (id: string) =>
    (await server.ctx.pool.query<{ revoked_at: Date | null }>('SELECT revoked_at FROM devices WHERE id = $1', [id])).rows[0]?.revoked_at;
  const auditCount = async () => Number((await server.ctx.pool.query('SELECT count(*) AS n FROM audit_events')).rows[0].n);

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('alice', undefined);
    bob = await server.register('bob');
  });
  afterAll(() => server?.close());

  it('lists the caller’s own devices only, marking the current one', async () => {
    const phone = await server.login('alice', undefined, { deviceName: 'Phone' });
    const res = await alice.get('/api/devices');
    expect(res.status).toBe(200);
    const ids = res.body.devices.map((d: { id: string }) => d.id);
    expect(ids).toEqual(expect.arrayContaining([alice.deviceId, phone.deviceId]));
    expect(ids).not.toContain(bob.deviceId);
    const current = res.body.devices.filter((d: { current: boolean }) => d.current);
    expect(current).toHaveLength(1);
    expect(current[0]).toMatchObject({ id: alice.deviceId, revokedAt: null, online: false, ip: expect.any(String) });
    expect(res.body.devices.find((d: { id: string }) => d.id === phone.deviceId)).toMatchObject({ name: 'Phone', current: false });
  });

  it('requires a session', async () => {
    const res = await server.client().get('/api/devices');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });

  it('answers 404 not_found for another user’s device and changes nothing', async () => {
    const before = await auditCount();
    const res = await alice.post(`/api/devices/${bob.deviceId}/revoke`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    expect(await revokedAt(bob.deviceId)).toBeNull();
    expect(await auditCount()).toBe(before);
    expect((await bob.get('/api/auth/me')).status).toBe(200);
    expect((await server.ctx.tokens.verify(bob.token, bob.cookies.get(FINGERPRINT_COOKIE))).ok).toBe(true);
  });

  it('answers 404 for a malformed or unknown id, not a 500', async () => {
    const before = await auditCount();
    for (const id of ['not-a-uuid', '1', "x' OR '1'='1", '00000000-0000-0000-0000-000000000000']) {
      const res = await alice.post(`/api/devices/${encodeURIComponent(id)}/revoke`);
      expect(res.status, id).toBe(404);
      expect(res.body.error.code, id).toBe('not_found');
    }
    expect(await auditCount()).toBe(before);
    expect(await revokedAt(alice.deviceId)).toBeNull();
  });

  it('revokes another of the caller’s devices: its session and tokens stop working, audited', async () => {
    const tablet = await server.login('alice', undefined, { deviceName: 'Tablet' });
    const res = await alice.post(`/api/devices/${tablet.deviceId}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body.device).toMatchObject({ id: tablet.deviceId, revokedAt: expect.any(String), current: false, online: false });
    expect(await revokedAt(tablet.deviceId)).toBeInstanceOf(Date);
    expect((await tablet.get('/api/auth/me')).status).toBe(401);
    expect((await tablet.post('/api/auth/token')).status).toBe(401);
    expect(await server.ctx.tokens.verify(tablet.token, tablet.cookies.get(FINGERPRINT_COOKIE))).toEqual({
      ok: false,
      reason: 'device_revoked',
    });
    // The revoking device is untouched.
    expect((await alice.get('/api/auth/me')).status).toBe(200);
    const { rows } = await server.ctx.pool.query(
      "SELECT actor_id, ip, action FROM audit_events WHERE target_id = $1 AND action = 'device.revoke'",
      [tablet.deviceId],
    );
    expect(rows).toEqual([{ actor_id: alice.userId, ip: expect.stringMatching(/127\.0\.0\.1/), action: 'device.revoke' }]);
  });

  it('revoking the current device ends the session', async () => {
    const laptop = await server.login('bob', undefined, { deviceName: 'Laptop' });
    const res = await laptop.post(`/api/devices/${laptop.deviceId}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body.device).toMatchObject({ id: laptop.deviceId, current: true, revokedAt: expect.any(String) });
    expect((await laptop.get('/api/auth/me')).status).toBe(401);
    expect((await bob.get('/api/auth/me')).status).toBe(200);
  });
  it('signing in over a live session signs its device out instead of leaving it active', async () => {
    const tab = await server.login('bob', undefined, { deviceName: 'Shared tab' });
    const oldDevice = tab.deviceId;
    const res = await tab.post('/api/auth/login', { username: 'alice', password: 'correct horse battery' });
    expect(res.status).toBe(200);
    expect(await revokedAt(oldDevice)).toBeInstanceOf(Date);
    const reason = await server.ctx.pool.query('SELECT revoked_reason FROM devices WHERE id = $1', [oldDevice]);
    expect(reason.rows[0].revoked_reason).toBe('logged_out');
    expect((await server.ctx.tokens.verify(tab.token, undefined)).ok).toBe(false);
  });
});
