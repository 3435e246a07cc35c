/** GET /api/users?q= (CONTRACT "HTTP"): the people a signed-in user can find and talk to. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

describe('user search', () => {
  let server: TestServer;
  let alice: HttpClient;
  let alicia: HttpClient;
  let bob: HttpClient;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('alice', undefined, { displayName: 'Alice Liddell' });
    alicia = await server.register('alicia');
    bob = await server.register('bob', undefined, { displayName: 'Robert Ali' });
    await server.register('under_score');
  });
  afterAll(() => server?.close());

  it('returns matching users by username or display name, with online false when nobody is connected', async () => {
    const res = await bob.get('/api/users?q=ALI');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      users: [
        { id: alice.userId, username: 'alice', displayName: 'Alice Liddell', online: false },
        { id: alicia.userId, username: 'alicia', displayName: 'alicia', online: false },
        { id: bob.userId, username: 'bob', displayName: 'Robert Ali', online: false },
      ],
    });
    const none = await bob.get('/api/users?q=zzz');
    expect(none.body).toEqual({ users: [] });
  });

  it('treats % and _ literally', async () => {
    const pct = await bob.get(`/api/users?q=${encodeURIComponent('%')}`);
    expect(pct.body.users).toEqual([]);
    const us = await bob.get('/api/users?q=_');
    expect(us.body.users.map((u: { username: string }) => u.username)).toEqual(['under_score']);
  });

  it('lists everyone without q, and leaves disabled users out', async () => {
    expect((await bob.get('/api/users')).body.users).toHaveLength(4);
    await server.ctx.pool.query('UPDATE users SET disabled = true WHERE id = $1', [alicia.userId]);
    const res = await bob.get('/api/users?q=ali');
    expect(res.body.users.map((u: { username: string }) => u.username)).toEqual(['alice', 'bob']);
  });

  it('never exposes roles or password hashes', async () => {
    const res = await bob.get('/api/users');
    for (const u of res.body.users) expect(Object.keys(u).sort()).toEqual(['displayName', 'id', 'online', 'username']);
  });

  it('requires a session and validates the query', async () => {
    const anon = await server.client().get('/api/users?q=ali');
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('unauthenticated');
    const long = await bob.get(`/api/users?q=${'a'.repeat(65)}`);
    expect(long.status).toBe(400);
    expect(long.body.error.message).toContain('q');
    const unknown = await bob.get('/api/users?role=admin');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('role');
  });

  it('looks people up by id (?ids=), disabled ones included, unknown and malformed ids skipped', async () => {
    await server.ctx.pool.query('UPDATE users SET disabled = true WHERE id = $1', [alicia.userId]);
    const res = await bob.get(`/api/users?ids=${alice.userId},${alicia.userId},not-a-uuid,00000000-0000-0000-0000-000000000000`);
    expect(res.status).toBe(200);
    expect(res.body.users.map((u: { username: string }) => u.username)).toEqual(['alice', 'alicia']);
    expect(res.body.users[0]).toEqual({ id: alice.userId, username: 'alice', displayName: 'Alice Liddell', online: false });
    const tooMany = await bob.get(`/api/users?ids=${Array.from({ length: 101 }, (_, i) => `id${i}`).join(',')}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toContain('ids');
  });
});
