/**
 * Read state, edits and deletions (contract v2 "The channel stream"; SPEC READ1–READ3,
 * EDIT1–EDIT3) on two instances sharing one Postgres and one real Redis: cursors that only move
 * forward, unread and mention counts, read receipts in direct channels, and edits and deletions
 * as stream events with seqs of their own, live and replayed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient, TestServer } from '../test/harness.js';
import { startInstancePair } from '../test/instance-pair.js';
import { connect, type Frame, type TestSocket } from '../test/ws-client.js';

let pair: Awaited<ReturnType<typeof startInstancePair>>;
let a: TestServer;
let b: TestServer;
const sockets: TestSocket[] = [];
let refs = 0;

beforeAll(async () => {
  pair = await startInstancePair();
  ({ a, b } = pair);
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.ws.terminate();
});
afterAll(() => pair?.close());

async function socket(server: TestServer, user: HttpClient): Promise<TestSocket> {
  const s = await connect(server.url, user);
  sockets.push(s);
  return s;
}

async function request(s: TestSocket, frame: Record<string, unknown>): Promise<Frame> {
  const ref = `r${++refs}`;
  s.send({ ...frame, ref });
  return s.find((f) => f.ref === ref);
}

async function send(s: TestSocket, channelId: string, body: string): Promise<Frame> {
  const f = await request(s, { type: 'send', channelId, clientMsgId: `m${++refs}`, body });
  expect(f.type).toBe('ack');
  return f.message;
}

async function stateOf(user: HttpClient, channelId: string) {
  const res = await user.get('/api/channels');
  const c = res.body.channels.find((x: { id: string }) => x.id === channelId);
  return { lastSeq: c.lastSeq, readSeq: c.readSeq, unread: c.unread, mentions: c.mentions };
}

describe('READ: read cursors', () => {
  it('READ3: mute is stored per member and listed; a non-member cannot mute', async () => {
    const ann = await a.register('muteann');
    const ch = (await ann.post('/api/channels', { name: 'mute-one', kind: 'public' })).body.channel.id;
    expect((await ann.post(`/api/channels/${ch}/mute`, { muted: true })).body).toEqual({ muted: true });
    expect((await ann.get('/api/channels')).body.channels.find((c: { id: string }) => c.id === ch).muted).toBe(true);
    const ben = await b.register('muteben');
    expect((await ben.post(`/api/channels/${ch}/mute`, { muted: true })).status).toBe(403);
    expect((await ann.post(`/api/channels/${ch}/mute`, { muted: 'yes' })).status).toBe(400);
  });

  it('READ1: a cursor starts at the channel\'s lastSeq for a new member, follows the sender, only moves forward, and is clamped to lastSeq', async () => {
    const [ann, ben] = await Promise.all([a.register('readann'), b.register('readben')]);
    const ch = (await ann.post('/api/channels', { name: 'read-one', kind: 'public' })).body.channel.id;
    const s = await socket(a, ann);
    for (const i of [1, 2, 3]) await send(s, ch, `before ${i}`);
    expect((await ben.post(`/api/channels/${ch}/join`)).status).toBe(200);
    // Nothing from before Ben joined is unread for him; Ann's own messages never are for her.
    expect(await stateOf(ben, ch)).toEqual({ lastSeq: 3, readSeq: 3, unread: 0, mentions: 0 });
    expect(await stateOf(ann, ch)).toEqual({ lastSeq: 3, readSeq: 3, unread: 0, mentions: 0 });
    for (const i of [4, 5]) await send(s, ch, i === 5 ? 'hi @ReadBen. look' : `after ${i}`);
    expect(await stateOf(ben, ch)).toEqual({ lastSeq: 5, readSeq: 3, unread: 2, mentions: 1 });

    expect((await ben.post(`/api/channels/${ch}/read`, { seq: 4 })).body).toEqual({ readSeq: 4, unread: 1, mentions: 1 });
    // Lower: changes nothing (200, the current cursor). Beyond lastSeq: clamped.
    expect((await ben.post(`/api/channels/${ch}/read`, { seq: 2 })).body).toEqual({ readSeq: 4, unread: 1, mentions: 1 });
    expect((await ben.post(`/api/channels/${ch}/read`, { seq: 99 })).body).toEqual({ readSeq: 5, unread: 0, mentions: 0 });
    // Bad input changes nothing.
    expect((await ben.post(`/api/channels/${ch}/read`, { seq: -1 })).status).toBe(400);
    expect((await ben.post(`/api/channels/${ch}/read`, { seq: '3' })).status).toBe(400);
    const stranger = await b.register('readstranger');
    expect((await stranger.post(`/api/channels/${ch}/read`, { seq: 1 })).status).toBe(403);
    expect((await stranger.post('/api/channels/not-a-uuid/read', { seq: 1 })).status).toBe(403);
    expect(await stateOf(ben, ch)).toEqual({ lastSeq: 5, readSeq: 5, unread: 0, mentions: 0 });
  });

  it('READ1: two moves of one cursor at the same moment, on two instances, end at the larger', async () => {
    const ann = await a.register('raceann');
    const ch = (await ann.post('/api/channels', { name: 'read-race', kind: 'private' })).body.channel.id;
    const ben = await b.register('raceben');
    expect((await ann.post(`/api/channels/${ch}/members`, { userId: ben.userId })).status).toBe(200);
    const s = await socket(a, ann);
    for (let i = 0; i < 20; i++) await send(s, ch, `m${i}`);
    const onA = await socket(a, ben);
    const onB = await socket(b, ben);
    await Promise.all(Array.from({ length: 20 }, (_, i) => request(i % 2 ? onA : onB, { type: 'read', channelId: ch, seq: i + 1 })));
    expect((await stateOf(ben, ch)).readSeq).toBe(20);
  });

  it('READ2: a move reaches every socket of the reader on both instances, subscribed or not; in a direct channel the other member too; in a group nobody else', async () => {
    const [ann, ben, cat] = await Promise.all([a.register('rcptann'), b.register('rcptben'), a.register('rcptcat')]);
    const dm = (await ann.post('/api/direct', { userId: ben.userId })).body.channel.id;
    const group = (await ann.post('/api/channels', { name: 'read-group', kind: 'private', memberIds: [ben.userId, cat.userId] })).body.channel.id;
    const annSock = await socket(a, ann);
    await send(annSock, dm, 'are you there?');
    await send(annSock, group, 'hello all');
    const benPhone = await socket(b, ben);
    const benLaptop = await socket(a, ben); // not subscribed to anything
    const catSock = await socket(b, cat);

    const reply = await request(benPhone, { type: 'read', channelId: dm, seq: 1 });
    expect(reply).toMatchObject({ type: 'read', channelId: dm, userId: ben.userId, seq: 1 });
    expect(await benLaptop.find((f) => f.type === 'read' && f.channelId === dm)).toMatchObject({ userId: ben.userId, seq: 1 });
    // The read receipt: Ann sees that Ben has read her message.
    expect(await annSock.find((f) => f.type === 'read' && f.channelId === dm)).toMatchObject({ userId: ben.userId, seq: 1 });
    // The phone that asked got it once, with its ref.
    expect(benPhone.all('read').filter((f) => f.channelId === dm)).toHaveLength(1);
    // After a reload Ann's page reads the receipt from the channel list (peerReadSeq, direct only).
    const annDm = (await ann.get('/api/channels')).body.channels.find((c: { id: string }) => c.id === dm);
    expect(annDm.peerReadSeq).toBe(1);

    await request(benPhone, { type: 'read', channelId: group, seq: 1 });
    expect((await ann.get('/api/channels')).body.channels.find((c: { id: string }) => c.id === group).peerReadSeq).toBeUndefined();
    expect(await benLaptop.find((f) => f.type === 'read' && f.channelId === group)).toMatchObject({ seq: 1 });
    // Barriers: a frame each of Ann and Cat gets after the move would have been sent.
    await send(annSock, group, 'barrier');
    await request(catSock, { type: 'ping' });
    await expect.poll(() => annSock.all('read').filter((f) => f.channelId === group).length).toBe(0);
    expect(catSock.all('read').filter((f) => f.channelId === group && f.userId === ben.userId)).toEqual([]);
  });
});

describe('EDIT: edits and deletions', () => {
  it('EDIT1/EDIT2: an edit and a deletion are stream events with seqs of their own, live on the other instance and replayed in their current state', async () => {
    const [ann, ben] = await Promise.all([a.register('editann'), b.register('editben')]);
    const ch = (await ann.post('/api/channels', { name: 'edit-one', kind: 'private', memberIds: [ben.userId] })).body.channel.id;
    const watcher = await socket(b, ben);
    expect((await request(watcher, { type: 'subscribe', channelId: ch, sinceSeq: 0 })).type).toBe('subscribed');
    const s = await socket(a, ann);
    const first = await send(s, ch, 'frist');
    const second = await send(s, ch, 'secret @editben');
    expect(second.mentions).toEqual([ben.userId]);

    const edited = await request(s, { type: 'edit', channelId: ch, messageId: first.id, body: 'first' });
    expect(edited).toMatchObject({ type: 'edited', seq: 3, message: { id: first.id, seq: 1, body: 'first' } });
    expect(edited.message.editedAt).toEqual(expect.any(String));
    const deleted = await request(s, { type: 'delete', channelId: ch, messageId: second.id });
    expect(deleted).toMatchObject({ type: 'deleted', channelId: ch, messageId: second.id, seq: 4 });

    // Live on the other instance, in seq order, with the event's seq at the top level.
    await expect.poll(() => watcher.frames.filter((f) => typeof f.seq === 'number').map((f) => `${f.type}:${f.seq}`)).toEqual([
      'message:1',
      'message:2',
      'message_updated:3',
      'message_deleted:4',
    ]);
    expect(watcher.all('message_updated')[0].message).toMatchObject({ id: first.id, body: 'first', seq: 1 });

    // History: messages by their own seq, in their current state; the tombstone keeps its place.
    const history = (await ben.get(`/api/channels/${ch}/messages`)).body.messages;
    expect(history.map((m: { seq: number; body: string; deletedAt: string | null }) => [m.seq, m.body, m.deletedAt !== null])).toEqual([
      [1, 'first', false],
      [2, '', true],
    ]);
    expect(history[1].mentions).toEqual([]);

    // A replay from before them: each event, each message as it is now (never the erased body).
    const late = await socket(a, ben);
    expect((await request(late, { type: 'subscribe', channelId: ch, sinceSeq: 0 })).lastSeq).toBe(4);
    const replay = late.frames.filter((f) => typeof f.seq === 'number');
    expect(replay.map((f) => `${f.type}:${f.seq}`)).toEqual(['message:1', 'message:2', 'message_updated:3', 'message_deleted:4']);
    expect(JSON.stringify(replay)).not.toContain('secret');
    // Read state: a deleted message is not unread.
    expect((await stateOf(ben, ch)).unread).toBe(1);
  });

  it('EDIT3: someone else\'s message is forbidden (an admin may delete, audited), an unknown one not_found, and a refusal takes no seq', async () => {
    const admin = await a.register('editadmin');
    await a.ctx.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [admin.userId]);
    const [ann, ben] = await Promise.all([a.register('ownerann'), b.register('otherben')]);
    const ch = (await ann.post('/api/channels', { name: 'edit-rights', kind: 'private', memberIds: [ben.userId, admin.userId] })).body.channel.id;
    const annSock = await socket(a, ann);
    const msg = await send(annSock, ch, 'mine');
    const benSock = await socket(b, ben);
    expect(await request(benSock, { type: 'edit', channelId: ch, messageId: msg.id, body: 'hacked' })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await request(benSock, { type: 'delete', channelId: ch, messageId: msg.id })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await request(benSock, { type: 'edit', channelId: ch, messageId: '99999999', body: 'x' })).toMatchObject({ type: 'error', code: 'not_found' });
    expect(await request(benSock, { type: 'delete', channelId: ch, messageId: '1' })).toMatchObject({ type: 'error', code: 'not_found' });
    const adminSock = await socket(a, admin);
    expect(await request(adminSock, { type: 'edit', channelId: ch, messageId: msg.id, body: 'admin edit' })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect((await stateOf(ann, ch)).lastSeq).toBe(1); // no refusal took a seq

    expect(await request(adminSock, { type: 'delete', channelId: ch, messageId: msg.id })).toMatchObject({ type: 'deleted', seq: 2 });
    const audit = (await admin.get('/api/admin/audit')).body.events.filter((e: { action: string }) => e.action === 'message.delete');
    expect(audit).toEqual([expect.objectContaining({ actorId: admin.userId, targetType: 'message', targetId: msg.id })]);
    // Deleting it again, or editing the tombstone: it is gone.
    expect(await request(annSock, { type: 'edit', channelId: ch, messageId: msg.id, body: 'back' })).toMatchObject({ type: 'error', code: 'not_found' });
    expect(await request(annSock, { type: 'delete', channelId: ch, messageId: msg.id })).toMatchObject({ type: 'error', code: 'not_found' });
    expect((await stateOf(ann, ch)).lastSeq).toBe(2);
  });

  it('EDIT1: an edit and a delete of one message racing on two instances: one order wins, seqs stay gap-free, the tombstone stays a tombstone', async () => {
    const ann = await a.register('raceedit');
    const ch = (await ann.post('/api/channels', { name: 'edit-race', kind: 'private' })).body.channel.id;
    const onA = await socket(a, ann);
    const onB = await socket(b, ann);
    for (let round = 0; round < 10; round++) {
      const msg = await send(onA, ch, `round ${round}`);
      const [edit, del] = await Promise.all([
        request(onA, { type: 'edit', channelId: ch, messageId: msg.id, body: `edited ${round}` }),
        request(onB, { type: 'delete', channelId: ch, messageId: msg.id }),
      ]);
      expect(del.type).toBe('deleted');
      expect(['edited', 'error']).toContain(edit.type);
    }
    const { rows } = await a.ctx.pool.query<{ seq: string }>(
      `SELECT seq FROM messages WHERE channel_id = $1 UNION ALL SELECT seq FROM message_changes WHERE channel_id = $1 ORDER BY 1`,
      [ch],
    );
    const seqs = rows.map((r) => Number(r.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const history = (await ann.get(`/api/channels/${ch}/messages`)).body.messages;
    expect(history.every((m: { body: string; deletedAt: string | null }) => m.body === '' && m.deletedAt !== null)).toBe(true);
  });
});
