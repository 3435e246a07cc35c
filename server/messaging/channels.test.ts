/**
 * The channels and messages HTTP API (CONTRACT rows /api/channels…, /api/direct), against a
 * real server on port 0 and a real Postgres: statuses, bodies, and the rows that are or are not
 * in the database afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channel as channelSchema, message as messageSchema } from '../../shared/api.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';

describe('channels and messages over HTTP', () => {
  let server: TestServer;
  let alice: HttpClient;
  let bob: HttpClient;
  let carol: HttpClient;
  const count = async (sql: string, values: unknown[] = []) => (await server.ctx.pool.query(sql, values)).rows[0].n as number;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.register('calice');
    bob = await server.register('cbob');
    carol = await server.register('ccarol');
  });
  afterAll(() => server?.close());

  it('POST /api/channels creates the channel with the creator as a member (201)', async () => {
    const res = await alice.post('/api/channels', { name: 'c-general', kind: 'public' });
    expect(res.status).toBe(201);
    expect(channelSchema.parse(res.body.channel)).toMatchObject({ name: 'c-general', kind: 'public', memberIds: [alice.userId] });
    const withMembers = await alice.post('/api/channels', { name: 'c-team', kind: 'private', memberIds: [bob.userId, alice.userId, bob.userId] });
    expect(withMembers.status).toBe(201);
    expect([...withMembers.body.channel.memberIds].sort()).toEqual([alice.userId, bob.userId].sort());
    expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1', [withMembers.body.channel.id])).toBe(2);
  });

  it('POST /api/channels: a taken name (case-insensitive) is 409 name_taken and writes nothing', async () => {
    await alice.post('/api/channels', { name: 'c-Unique', kind: 'public' });
    const before = await count('SELECT count(*)::int AS n FROM channels');
    for (const name of ['c-unique', 'C-UNIQUE', 'c-Unique']) {
      const res = await bob.post('/api/channels', { name, kind: 'private', memberIds: [carol.userId] });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('name_taken');
    }
    expect(await count('SELECT count(*)::int AS n FROM channels')).toBe(before);
  });

  it('POST /api/channels: bad bodies are 400 invalid_request naming the field; unknown members are 404; nothing is written', async () => {
    const before = await count('SELECT count(*)::int AS n FROM channels');
    const cases: Array<[unknown, string]> = [
      [{ kind: 'public' }, 'name'],
      [{ name: '', kind: 'public' }, 'name'],
      [{ name: '   ', kind: 'public' }, 'name'],
      [{ name: 'x'.repeat(81), kind: 'public' }, 'name'],
      [{ name: 'c-bad', kind: 'direct' }, 'kind'],
      [{ name: 'c-bad' }, 'kind'],
      [{ name: 'c-bad', kind: 'public', memberIds: 'everyone' }, 'memberIds'],
      [{ name: 'c-bad', kind: 'public', owner: alice.userId }, 'owner'],
      [{ name: 'c-\u0000bad', kind: 'public' }, 'name'],
      [{ name: 'c-bad', kind: 'public', memberIds: [`${bob.userId}\u0000`] }, 'memberIds'],
    ];
    for (const [body, field] of cases) {
      const res = await alice.post('/api/channels', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toContain(field);
    }
    const unknown = await alice.post('/api/channels', { name: 'c-ghosts', kind: 'private', memberIds: [randomUUID()] });
    expect(unknown.status).toBe(404);
    const malformed = await alice.post('/api/channels', { name: 'c-ghosts', kind: 'private', memberIds: ['nope'] });
    expect(malformed.status).toBe(404);
    expect(await count('SELECT count(*)::int AS n FROM channels')).toBe(before);
    expect((await server.client().post('/api/channels', { name: 'c-anon', kind: 'public' })).status).toBe(401);
  });

  it("GET /api/channels lists the caller's channels and every public one, not others' private or direct ones", async () => {
    const pub = (await bob.post('/api/channels', { name: 'c-bob-public', kind: 'public' })).body.channel;
    const priv = (await bob.post('/api/channels', { name: 'c-bob-private', kind: 'private' })).body.channel;
    const shared = (await bob.post('/api/channels', { name: 'c-bob-carol', kind: 'private', memberIds: [carol.userId] })).body.channel;
    const direct = (await bob.post('/api/direct', { userId: carol.userId })).body.channel;
    const ids = async (c: HttpClient) => {
      const res = await c.get('/api/channels');
      expect(res.status).toBe(200);
      for (const ch of res.body.channels) channelSchema.parse(ch);
      return res.body.channels.map((ch: { id: string }) => ch.id) as string[];
    };
    const forAlice = await ids(alice);
    expect(forAlice).toContain(pub.id);
    for (const hidden of [priv.id, shared.id, direct.id]) expect(forAlice).not.toContain(hidden);
    const forCarol = await ids(carol);
    for (const visible of [pub.id, shared.id, direct.id]) expect(forCarol).toContain(visible);
    expect(forCarol).not.toContain(priv.id);
    expect((await server.client().get('/api/channels')).status).toBe(401);
  });

  it('POST /api/channels/:id/join: public 200 (idempotent); private and unknown the same 403, so existence does not leak', async () => {
    const pub = (await alice.post('/api/channels', { name: 'c-joinable', kind: 'public' })).body.channel;
    const priv = (await alice.post('/api/channels', { name: 'c-closed', kind: 'private' })).body.channel;
    const joined = await carol.post(`/api/channels/${pub.id}/join`);
    expect(joined.status).toBe(200);
    expect(joined.body.channel.memberIds).toContain(carol.userId);
    expect((await carol.post(`/api/channels/${pub.id}/join`)).status).toBe(200);
    expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1 AND user_id = $2', [pub.id, carol.userId])).toBe(1);

    const refused = await carol.post(`/api/channels/${priv.id}/join`);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');
    expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1', [priv.id])).toBe(1);
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await carol.post(`/api/channels/${id}/join`);
      expect(res.status).toBe(403);
      expect(res.body).toEqual(refused.body);
    }
    // A direct channel cannot be joined by a third person.
    const direct = (await alice.post('/api/direct', { userId: bob.userId })).body.channel;
    const third = await carol.post(`/api/channels/${direct.id}/join`);
    expect(third.status).toBe(403);
    expect(third.body).toEqual(refused.body);
  });

  it('POST /api/channels/:id/leave: 200 for a member, 404 when not a member or unknown', async () => {
    const pub = (await alice.post('/api/channels', { name: 'c-leavable', kind: 'public', memberIds: [bob.userId] })).body.channel;
    expect((await bob.post(`/api/channels/${pub.id}/leave`)).status).toBe(200);
    expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1 AND user_id = $2', [pub.id, bob.userId])).toBe(0);
    const again = await bob.post(`/api/channels/${pub.id}/leave`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('not_found');
    expect((await carol.post(`/api/channels/${pub.id}/leave`)).status).toBe(404);
    expect((await carol.post(`/api/channels/${randomUUID()}/leave`)).status).toBe(404);
    expect((await carol.post('/api/channels/not-a-uuid/leave')).status).toBe(404);
    // Alice is still there.
    expect((await alice.get('/api/channels')).body.channels.find((c: { id: string }) => c.id === pub.id).memberIds).toEqual([alice.userId]);
  });

  it('POST /api/channels/:id/members: a member adds someone (200); a non-member is 403; an unknown user or channel 404', async () => {
    const priv = (await alice.post('/api/channels', { name: 'c-members', kind: 'private' })).body.channel;
    const pub = (await alice.post('/api/channels', { name: 'c-members-pub', kind: 'public' })).body.channel;
    const added = await alice.post(`/api/channels/${priv.id}/members`, { userId: bob.userId });
    expect(added.status).toBe(200);
    expect([...added.body.channel.memberIds].sort()).toEqual([alice.userId, bob.userId].sort());
    // Adding someone already there changes nothing.
    expect((await bob.post(`/api/channels/${priv.id}/members`, { userId: alice.userId })).status).toBe(200);
    expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1', [priv.id])).toBe(2);

    for (const channelId of [priv.id, pub.id]) {
      const res = await carol.post(`/api/channels/${channelId}/members`, { userId: carol.userId });
      expect(res.status, channelId).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1 AND user_id = $2', [channelId, carol.userId])).toBe(0);
    }
    for (const userId of [randomUUID(), 'not-a-uuid']) {
      const res = await alice.post(`/api/channels/${priv.id}/members`, { userId });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await alice.post(`/api/channels/${randomUUID()}/members`, { userId: bob.userId })).status).toBe(404);
    expect((await alice.post(`/api/channels/${priv.id}/members`, { userId: '\u0000' })).status).toBe(400);
    const bad = await alice.post(`/api/channels/${priv.id}/members`, {});
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('userId');
    // A direct conversation stays two people.
    const direct = (await alice.post('/api/direct', { userId: carol.userId })).body.channel;
    expect((await alice.post(`/api/channels/${direct.id}/members`, { userId: bob.userId })).status).toBe(403);
    expect(await count('SELECT count(*)::int AS n FROM channel_members WHERE channel_id = $1', [direct.id])).toBe(2);
  });

  it('POST /api/direct: one channel of kind direct per pair, from either side; unknown user 404', async () => {
    const dave = await server.register('cdave');
    const first = await dave.post('/api/direct', { userId: alice.userId });
    expect(first.status).toBe(200);
    expect(first.body.channel).toMatchObject({ kind: 'direct' });
    expect([...first.body.channel.memberIds].sort()).toEqual([alice.userId, dave.userId].sort());
    const results = await Promise.all([
      dave.post('/api/direct', { userId: alice.userId }),
      alice.post('/api/direct', { userId: dave.userId }),
      alice.post('/api/direct', { userId: dave.userId }),
    ]);
    for (const r of results) expect(r.body.channel.id).toBe(first.body.channel.id);
    expect(await count(`SELECT count(*)::int AS n FROM channels WHERE kind = 'direct' AND $1::uuid IN (SELECT user_id FROM channel_members WHERE channel_id = channels.id)`, [dave.userId])).toBe(1);
    // Concurrent first contact of a new pair still makes one channel.
    const erin = await server.register('cerin');
    const race = await Promise.all([erin.post('/api/direct', { userId: dave.userId }), dave.post('/api/direct', { userId: erin.userId })]);
    expect(race.map((r) => r.status)).toEqual([200, 200]);
    expect(race[0].body.channel.id).toBe(race[1].body.channel.id);
    for (const userId of [randomUUID(), 'nope']) {
      const res = await dave.post('/api/direct', { userId });
      expect(res.status).toBe(404);
    }
    expect((await dave.post('/api/direct', {})).status).toBe(400);
  });

  describe('GET /api/channels/:id/messages', () => {
    let pub: string;
    let priv: string;
    let ids: string[];

    beforeAll(async () => {
      pub = (await alice.post('/api/channels', { name: 'c-history', kind: 'public', memberIds: [bob.userId] })).body.channel.id;
      priv = (await alice.post('/api/channels', { name: 'c-history-private', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
      // 250 messages, with ids crossing a power of ten on the way, in a few statements.
      await server.ctx.pool.query(
        `WITH bump AS (UPDATE channels SET last_seq = last_seq + 250 WHERE id = $1::uuid RETURNING last_seq - 250 AS base)
         INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body)
         SELECT $1::uuid, bump.base + g, $2::uuid, 'hist-' || g, 'message ' || g FROM bump, generate_series(1, 250) g ORDER BY g`,
        [pub, alice.userId],
      );
      await server.ctx.pool.query(
        `WITH bump AS (UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1::uuid RETURNING last_seq)
         INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body) SELECT $1, last_seq, $2, 'hist-private', 'secret' FROM bump`,
        [priv, alice.userId],
      );
      const { rows } = await server.ctx.pool.query(`SELECT id::text AS id FROM messages WHERE channel_id = $1 ORDER BY messages.id`, [pub]);
      ids = rows.map((r: { id: string }) => r.id);
    });

    const page = async (c: HttpClient, channelId: string, query = '') => {
      const res = await c.get(`/api/channels/${channelId}/messages${query}`);
      return { status: res.status, body: res.body, ids: (res.body.messages ?? []).map((m: { id: string }) => m.id) as string[] };
    };

    it('defaults to the latest 50, oldest first, in the contract shape', async () => {
      const res = await page(alice, pub);
      expect(res.status).toBe(200);
      expect(res.ids).toEqual(ids.slice(-50));
      for (const m of res.body.messages) messageSchema.parse(m);
      expect(res.body.messages.at(-1)).toMatchObject({ channelId: pub, senderId: alice.userId, body: 'message 250', clientMsgId: 'hist-250' });
    });

    it('pages with before and after, limit 1..200', async () => {
      expect((await page(alice, pub, `?before=${ids[100]}&limit=20`)).ids).toEqual(ids.slice(80, 100));
      expect((await page(alice, pub, `?after=${ids[100]}&limit=20`)).ids).toEqual(ids.slice(101, 121));
      expect((await page(alice, pub, `?after=${ids[10]}&before=${ids[15]}`)).ids).toEqual(ids.slice(11, 15));
      expect((await page(alice, pub, '?limit=200')).ids).toEqual(ids.slice(-200));
      expect((await page(alice, pub, '?limit=1')).ids).toEqual(ids.slice(-1));
      expect((await page(alice, pub, `?before=${ids[0]}`)).ids).toEqual([]);
      expect((await page(alice, pub, `?after=${ids.at(-1)}`)).ids).toEqual([]);
      expect((await page(alice, pub, '?after=9223372036854775807')).ids).toEqual([]);
      // Walking backwards from the end visits every message once.
      const seen: string[] = [];
      let before = '';
      for (;;) {
        const res = await page(alice, pub, `?limit=60${before}`);
        if (res.ids.length === 0) break;
        seen.unshift(...res.ids);
        before = `&before=${res.ids[0]}`;
      }
      expect(seen).toEqual(ids);
      // Ids past Postgres's bigint range are malformed, not a server error.
      for (const q of ['?limit=0', '?limit=201', '?limit=abc', '?limit=1.5', '?before=abc', '?after=-1', '?since=1', '?before=9223372036854775808', `?after=${'9'.repeat(30)}`]) {
        const res = await page(alice, pub, q);
        expect(res.status, q).toBe(400);
        expect(res.body.error.code).toBe('invalid_request');
        expect(res.body.error.message).toMatch(/limit|before|after|since/);
      }
    });

    it('public channels are readable by anyone signed in; private and direct ones only by members; unknown ones the same 403', async () => {
      expect((await page(carol, pub, '?limit=5')).ids).toEqual(ids.slice(-5));
      const refused = await page(carol, priv);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
      expect((await page(bob, priv)).body.messages.map((m: { body: string }) => m.body)).toEqual(['secret']);
      const direct = (await alice.post('/api/direct', { userId: bob.userId })).body.channel.id;
      expect((await page(carol, direct)).status).toBe(403);
      expect((await page(bob, direct)).status).toBe(200);
      // A missing channel answers exactly as a private one, so ids cannot be probed for existence.
      for (const id of [randomUUID(), 'not-a-uuid']) {
        const missing = await page(carol, id);
        expect(missing.status).toBe(403);
        expect(missing.body).toEqual(refused.body);
      }
      expect((await server.client().get(`/api/channels/${pub}/messages`)).status).toBe(401);
    });
  });
});
