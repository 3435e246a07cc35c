/** First run (issue 12): GET /api/setup, the default #general, run-time registration and invites. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PASSWORD, startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

describe('first run on an empty install', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { DEFAULT_CHANNEL: 'general' } });
  });
  afterAll(() => server?.close());

  it('says an admin is needed, then makes #general with the first account (the admin) and puts every new account in it', async () => {
    const before = await server.client().get('/api/setup');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({ needsAdmin: true, registration: 'open' });

    const admin = await server.register('firstadmin');
    expect(admin.auth.user.role).toBe('admin');
    expect((await server.client().get('/api/setup')).body).toEqual({ needsAdmin: false, registration: 'open' });

    const general = (await admin.get('/api/channels')).body.channels.filter((c: { name: string }) => c.name === 'general');
    expect(general).toHaveLength(1);
    expect(general[0]).toMatchObject({ kind: 'public', memberIds: [admin.userId] });

    const [ann, ben] = [await server.register('genann'), await server.register('genben')];
    const seen = (await ben.get('/api/channels')).body.channels.find((c: { name: string }) => c.name === 'general');
    expect(seen.id).toBe(general[0].id);
    expect([...seen.memberIds].sort()).toEqual([admin.userId, ann.userId, ben.userId].sort());
    const { rows } = await server.ctx.pool.query(`SELECT count(*)::int AS n FROM channels WHERE name = 'general'`);
    expect(rows[0].n).toBe(1);
  });
});

describe('registration and invites', () => {
  let server: TestServer;
  let admin: HttpClient;
  let user: HttpClient;
  beforeAll(async () => {
    server = await startTestServer();
    admin = await server.register('regadmin');
    user = await server.register('reguser');
  });
  afterAll(() => server?.close());

  const register = (username: string, extra: Record<string, unknown> = {}) =>
    server.client().post('/api/auth/register', { username, password: DEFAULT_PASSWORD, ...extra });
  const audited = async (action: string) =>
    (await server.ctx.pool.query(`SELECT actor_id, details FROM audit_events WHERE action = $1 ORDER BY id`, [action])).rows;

  it('lets an admin close and reopen registration at run time, stored in the database and audited', async () => {
    const closed = await admin.post('/api/admin/registration', { mode: 'closed' });
    expect(closed.status).toBe(200);
    expect((await server.client().get('/api/setup')).body).toEqual({ needsAdmin: false, registration: 'closed' });
    const refused = await register('regclosed');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('registration_closed');
    const { rows } = await server.ctx.pool.query(`SELECT value FROM settings WHERE key = 'registration'`);
    expect(rows[0].value).toBe('closed');

    expect((await admin.post('/api/admin/registration', { mode: 'open' })).status).toBe(200);
    expect((await register('regopen')).status).toBe(201);
    expect((await audited('settings.registration')).map((r) => [r.actor_id, r.details.mode])).toEqual([
      [admin.userId, 'closed'],
      [admin.userId, 'open'],
    ]);
  });

  it('refuses non-admins and bad modes', async () => {
    expect((await user.post('/api/admin/registration', { mode: 'closed' })).status).toBe(403);
    expect((await user.post('/api/admin/invites')).status).toBe(403);
    expect((await admin.post('/api/admin/registration', { mode: 'maybe' })).status).toBe(400);
    expect((await server.client().post('/api/admin/invites')).status).toBe(401);
  });

  it('admits a person with an invite while closed, once; stores only the hash; audits both ends', async () => {
    expect((await admin.post('/api/admin/registration', { mode: 'closed' })).status).toBe(200);
    const made = await admin.post('/api/admin/invites');
    expect(made.status).toBe(201);
    const { code, expiresAt } = made.body.invite;
    expect(code).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now() + 24 * 3600_000);
    expect((await server.client().get('/api/setup')).body.registration).toBe('invite');
    const stored = await server.ctx.pool.query(`SELECT code_hash FROM invites`);
    expect(stored.rows.map((r) => r.code_hash)).not.toContain(code);

    expect((await register('reginvalid', { invite: 'not-a-code' })).status).toBe(403);
    const ok = await register('reginvited', { invite: code });
    expect(ok.status).toBe(201);
    const again = await register('reginvited2', { invite: code });
    expect(again.status).toBe(403);
    expect(again.body.error.code).toBe('registration_closed');
    expect((await server.client().get('/api/setup')).body.registration).toBe('closed');

    expect((await audited('invite.create')).map((r) => r.actor_id)).toEqual([admin.userId]);
    expect((await audited('invite.use')).map((r) => r.actor_id)).toEqual([ok.body.user.id]);
  });

  it('refuses an expired invite', async () => {
    const { code } = (await admin.post('/api/admin/invites')).body.invite;
    await server.ctx.pool.query(`UPDATE invites SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL`);
    expect((await register('regexpired', { invite: code })).status).toBe(403);
  });
});
