/** PATCH /api/me and POST /api/me/password (CONTRACT v2): live renames, password changes that sign other devices out. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../test/harness.js';
import { connect, type TestSocket } from '../test/ws-client.js';

let server: TestServer;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  server = await startTestServer();
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.ws.terminate();
});
afterAll(() => server?.close());

async function socketOf(client: Parameters<typeof connect>[1]): Promise<TestSocket> {
  const s = await connect(server.url, client);
  sockets.push(s);
  return s;
}

describe('PATCH /api/me', () => {
  it('renames the user and reaches the subscribed sockets of their channels as user_updated', async () => {
    const ann = await server.register('profann');
    const ben = await server.register('profben');
    const ch = (await ann.post('/api/channels', { name: 'prof-room', kind: 'public' })).body.channel.id;
    expect((await ben.post(`/api/channels/${ch}/join`)).status).toBe(200);
    const benSocket = await socketOf(ben);
    benSocket.send({ type: 'subscribe', channelId: ch, ref: 's1' });
    await benSocket.next('subscribed', 15_000);

    const res = await ann.patch('/api/me', { displayName: '  Ann Smith ' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: { id: ann.userId, username: 'profann', displayName: 'Ann Smith', role: expect.any(String) } });
    const frame = await benSocket.next('user_updated', 15_000);
    expect(frame).toEqual({ type: 'user_updated', user: res.body.user });
    expect((await ann.get('/api/auth/me')).body.user.displayName).toBe('Ann Smith');
    const audit = await server.ctx.pool.query(`SELECT 1 FROM audit_events WHERE action = 'user.display_name' AND target_id = $1`, [ann.userId]);
    expect(audit.rowCount).toBe(1);
  });

  it('refuses a blank or too long name and unknown fields', async () => {
    const ann = await server.register('profbad');
    for (const body of [{ displayName: '   ' }, { displayName: 'x'.repeat(65) }, { displayName: 'ok', role: 'admin' }, {}]) {
      const res = await ann.patch('/api/me', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect((await server.client().patch('/api/me', { displayName: 'x' })).status).toBe(401);
  });
});

describe('POST /api/me/password', () => {
  it('closes the other devices\' sockets with 4403 password_changed, keeps this one, and swaps the passwords', async () => {
    await server.register('profpw');
    const here = await server.login('profpw');
    const there = await server.login('profpw');
    const hereSocket = await socketOf(here);
    const thereSocket = await socketOf(there);

    const res = await here.post('/api/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'a brand new secret' });
    expect(res.status).toBe(200);
    expect(await thereSocket.waitClose(15_000)).toEqual({ code: 4403, reason: 'password_changed' });
    expect((await there.get('/api/auth/me')).status).toBe(401);

    // This device stays: its socket still answers, its session still works.
    hereSocket.send({ type: 'ping', ref: 'p1' });
    expect((await hereSocket.next('pong', 15_000)).ref).toBe('p1');
    expect((await here.get('/api/auth/me')).status).toBe(200);

    const old = await server.client().post('/api/auth/login', { username: 'profpw', password: DEFAULT_PASSWORD });
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('invalid_credentials');
    await server.login('profpw', 'a brand new secret');

    const devices = await server.ctx.pool.query(
      `SELECT revoked_reason FROM devices WHERE user_id = $1 AND revoked_at IS NOT NULL ORDER BY created_at`,
      [here.userId],
    );
    expect(devices.rows.map((r) => r.revoked_reason)).toContain('password_changed');
    const audit = await server.ctx.pool.query(`SELECT 1 FROM audit_events WHERE action = 'user.password_change' AND target_id = $1`, [here.userId]);
    expect(audit.rowCount).toBe(1);
  });

  it('answers 401 invalid_credentials for a wrong current password and changes nothing', async () => {
    const ann = await server.register('profwrong');
    const other = await server.login('profwrong');
    const res = await ann.post('/api/me/password', { currentPassword: 'not my password', newPassword: 'another secret' });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_credentials');
    expect((await other.get('/api/auth/me')).status).toBe(200);
    await server.login('profwrong');
    const short = await ann.post('/api/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'short' });
    expect(short.status).toBe(400);
  });
});

describe('POST /api/me/password throttling', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ env: { LOGIN_RATE_LIMIT_PER_USERNAME: '2' } });
  });
  afterAll(() => limited?.close());

  it('counts wrong current passwords like failed logins: 429 after the limit, even for the right one', async () => {
    const ann = await limited.register('profthrottle');
    for (let i = 0; i < 2; i++) {
      expect((await ann.post('/api/me/password', { currentPassword: 'wrong password', newPassword: 'another secret' })).status).toBe(401);
    }
    const res = await ann.post('/api/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'another secret' });
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('rate_limited');
  });
});
