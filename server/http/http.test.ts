/**
 * The HTTP conventions every route shares (CONTRACT "Conventions"): same-origin JSON for
 * cookie-authenticated state changes (CSRF), 415 for other bodies, 400 invalid_request naming the
 * field, 413 past the body limit, and one error shape. A refused request changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

const ALLOWED = 'https://app.example.com';

describe('HTTP conventions', () => {
  let server: TestServer;
  let root: HttpClient;
  let alice: HttpClient;

  const revokedAt = async (id: string) =>
    (await server.ctx.pool.query('SELECT revoked_at FROM devices WHERE id = $1', [id])).rows[0].revoked_at as Date | null;
  const auditCount = async () => Number((await server.ctx.pool.query('SELECT count(*) AS n FROM audit_events')).rows[0].n);
  const userCount = async () => Number((await server.ctx.pool.query('SELECT count(*) AS n FROM users')).rows[0].n);

  beforeAll(async () => {
    server = await startTestServer({ env: { ALLOWED_ORIGINS: ALLOWED } });
    root = await server.register('root');
    alice = await server.register('alice');
  });
  afterAll(() => server?.close());

  describe('cross-origin state changes (CSRF)', () => {
    it('refuses a foreign Origin with 403 bad_origin and changes nothing', async () => {
      const phone = await server.login('alice');
      const audits = await auditCount();
      for (const origin of ['https://evil.example', 'null', `${server.url}.evil.example`, server.url.replace('http:', 'https:')]) {
        const res = await alice.post(`/api/devices/${phone.deviceId}/revoke`, undefined, { origin });
        expect(res.status, origin).toBe(403);
        expect(res.body, origin).toEqual({ error: { code: 'bad_origin', message: expect.any(String) } });
      }
      const logout = await alice.post('/api/auth/logout', undefined, { origin: 'https://evil.example' });
      expect(logout.status).toBe(403);
      const role = await root.post(`/api/admin/users/${alice.userId}/role`, { role: 'admin' }, { origin: 'https://evil.example' });
      expect(role.status).toBe(403);

      expect(await revokedAt(phone.deviceId)).toBeNull();
      expect(await revokedAt(alice.deviceId)).toBeNull();
      expect(await auditCount()).toBe(audits);
      expect((await alice.get('/api/auth/me')).body.user.role).toBe('user');
      expect((await phone.get('/api/auth/me')).status).toBe(200);
    });

    it('refuses a cross-site browser request without Origin (Sec-Fetch-Site)', async () => {
      const phone = await server.login('alice');
      const res = await alice.post(`/api/devices/${phone.deviceId}/revoke`, undefined, { 'sec-fetch-site': 'cross-site' });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('bad_origin');
      expect(await revokedAt(phone.deviceId)).toBeNull();
    });

    it('refuses login and register from a foreign Origin too', async () => {
      const users = await userCount();
      const reg = await server.client().post('/api/auth/register', { username: 'csrfuser', password: 'long enough pw' }, { origin: 'https://evil.example' });
      expect(reg.status).toBe(403);
      expect(reg.body.error.code).toBe('bad_origin');
      expect(await userCount()).toBe(users);
      const login = await server.client().post('/api/auth/login', { username: 'alice', password: 'correct horse battery' }, { origin: 'https://evil.example' });
      expect(login.status).toBe(403);
      expect(login.headers.getSetCookie()).toEqual([]);
    });

    it('accepts the app’s own origin and an ALLOWED_ORIGINS entry, and any origin on safe methods', async () => {
      const a = await server.login('alice');
      const own = await alice.post(`/api/devices/${a.deviceId}/revoke`, undefined, { origin: server.url });
      expect(own.status).toBe(200);
      const b = await server.login('alice');
      const listed = await alice.post(`/api/devices/${b.deviceId}/revoke`, undefined, { origin: ALLOWED });
      expect(listed.status).toBe(200);
      const get = await alice.get('/api/devices', { origin: 'https://evil.example' });
      expect(get.status).toBe(200);
    });
  });

  describe('bodies', () => {
    it('answers 415 to a body that is not JSON, and changes nothing', async () => {
      const users = await userCount();
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const res = await server.client().post('/api/auth/register', JSON.stringify({ username: 'formuser', password: 'long enough pw' }), {
          'content-type': type,
        });
        expect(res.status, type).toBe(415);
        expect(res.body, type).toEqual({ error: { code: 'unsupported_media_type', message: expect.any(String) } });
      }
      expect(await userCount()).toBe(users);
      const role = await root.post(`/api/admin/users/${alice.userId}/role`, '{"role":"admin"}', { 'content-type': 'text/plain' });
      expect(role.status).toBe(415);
      expect((await alice.get('/api/auth/me')).body.user.role).toBe('user');
    });

    it('answers 400 invalid_request naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ username: 'ab', password: 'long enough pw' }, 'username'],
        [{ username: 'has space', password: 'long enough pw' }, 'username'],
        [{ username: 'okname', password: 'short' }, 'password'],
        [{ password: 'long enough pw' }, 'username'],
        [{ username: 'okname', password: 'long enough pw', role: 'admin' }, 'role'],
        [{ username: 'okname', password: 'x'.repeat(129) }, 'password'],
      ];
      const users = await userCount();
      for (const [body, field] of cases) {
        const res = await server.client().post('/api/auth/register', body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.code).toBe('invalid_request');
        expect(res.body.error.message, JSON.stringify(body)).toContain(field);
      }
      expect(await userCount()).toBe(users);
      const login = await server.client().post('/api/auth/login', { username: 'alice', password: 'correct horse battery', deviceName: '' });
      expect(login.status).toBe(400);
      expect(login.body.error.message).toContain('deviceName');
    });

    it('says "is required" only of a missing field, not of one given with the wrong type', async () => {
      const missing = await server.client().post('/api/auth/register', { password: 'long enough pw' });
      expect(missing.body.error.message).toBe('username: is required');
      const wrongType = await server.client().post('/api/auth/register', { username: 12345, password: 'long enough pw' });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.error.message).toMatch(/^username: /);
      expect(wrongType.body.error.message).not.toContain('is required');
      for (const query of ['limit=abc', 'limit=2&limit=3']) {
        const res = await root.get(`/api/admin/audit?${query}`);
        expect(res.status, query).toBe(400);
        expect(res.body.error.code).toBe('invalid_request');
        expect(res.body.error.message, query).toMatch(/^limit: /);
        expect(res.body.error.message, query).not.toContain('is required');
      }
    });

    it('answers 400 to malformed JSON', async () => {
      const res = await server.client().post('/api/auth/login', '{"username": "alice",', { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    });

    it('answers 413 to a body over the limit, and changes nothing', async () => {
      const users = await userCount();
      const res = await server.client().post('/api/auth/register', { username: 'biguser', password: 'long enough pw', displayName: 'x'.repeat(64 * 1024) });
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ error: { code: 'payload_too_large', message: expect.any(String) } });
      expect(await userCount()).toBe(users);
    });
  });

  it('answers 404 not_found in the error shape for an unknown API path', async () => {
    const res = await alice.get('/api/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });
});
