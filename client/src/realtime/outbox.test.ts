/**
 * Unsent messages across page loads: the realtime client with an outbox storage (in memory
 * here, IndexedDB in the browser) and a scripted socket.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '../../../shared/api.js';
import { FakeClock, FakeSocket, settle } from '../../test/fake-socket.js';
import { RealtimeClient } from './client.js';
import { Outbox, type OutboxStorage, type SavedSend } from './outbox.js';

const user = { id: 'u1', username: 'alice', displayName: 'alice', role: 'user' as const };
const C = 'c0ffee00-0000-4000-8000-000000000001';

class MemoryStorage implements OutboxStorage {
  readonly saved = new Map<string, SavedSend>();
  failing = false;
  async load() {
    if (this.failing) throw new Error('no IndexedDB');
    return [...this.saved.values()];
  }
  async save(send: SavedSend) {
    if (this.failing) throw new Error('no IndexedDB');
    this.saved.set(send.clientMsgId, send);
  }
  async remove(clientMsgId: string) {
    if (this.failing) throw new Error('no IndexedDB');
    this.saved.delete(clientMsgId);
  }
  ids() {
    return [...this.saved.keys()].sort();
  }
}

function stored(send: SavedSend, seq: number): Message {
  return { id: String(100 + seq), channelId: send.channelId, seq, senderId: user.id, clientMsgId: send.clientMsgId, body: send.body, mentions: [], createdAt: send.createdAt, editedAt: null, deletedAt: null };
}

function client(storage: OutboxStorage, log?: (m: string) => void) {
  FakeSocket.all = [];
  const clock = new FakeClock();
  let n = 0;
  return new RealtimeClient({
    baseUrl: 'http://relay.test',
    WebSocket: FakeSocket,
    timers: clock,
    random: () => 0,
    fetch: async () => new Response('{"token":"t"}'),
    newId: () => `page-${++n}`,
    outboxStorage: storage,
    log,
  });
}

async function goLive(rt: RealtimeClient): Promise<FakeSocket> {
  rt.connect();
  await settle();
  const ws = FakeSocket.last();
  ws.open();
  ws.receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  return ws;
}

describe('outbox across page loads', () => {
  it('a send is in storage from the moment it is queued until its ack', async () => {
    const storage = new MemoryStorage();
    const rt = client(storage);
    await rt.restored;
    const id = rt.send(C, 'hello');
    await settle();
    expect(storage.saved.get(id)).toMatchObject({ clientMsgId: id, channelId: C, body: 'hello' });
    const ws = await goLive(rt);
    expect(ws.frames('send')).toEqual([{ type: 'send', channelId: C, clientMsgId: id, body: 'hello', ref: `send:${id}` }]);
    ws.receive({ type: 'ack', clientMsgId: id, message: stored(storage.saved.get(id)!, 1), ref: `send:${id}` });
    await settle();
    expect(storage.ids()).toEqual([]);
    expect(rt.getOutbox()).toEqual([]);
    rt.disconnect();
  });

  it('what an earlier page left unsent shows as pending and is written with its own clientMsgId, oldest first, once live', async () => {
    const storage = new MemoryStorage();
    const older = { clientMsgId: 'old-2', channelId: C, body: 'second', createdAt: '2025-01-01T10:00:02.000Z' };
    const oldest = { clientMsgId: 'old-1', channelId: C, body: 'first', createdAt: '2025-01-01T10:00:01.000Z' };
    await storage.save(older);
    await storage.save(oldest);
    const rt = client(storage);
    const outboxes: string[][] = [];
    rt.on('outbox', (o) => outboxes.push(o.map((e) => `${e.clientMsgId} ${e.status}`)));
    await rt.restored;
    expect(outboxes).toEqual([['old-1 pending', 'old-2 pending']]);

    const ws = await goLive(rt);
    expect(ws.frames('send').map((f) => f.clientMsgId)).toEqual(['old-1', 'old-2']);
    ws.receive({ type: 'ack', clientMsgId: 'old-1', message: stored(oldest, 1), ref: 'send:old-1' });
    // The server stored old-2 before the reload; its replay brings it as a message frame.
    ws.receive({ type: 'message', seq: 2, message: stored(older, 2) });
    await settle();
    expect(rt.getOutbox()).toEqual([]);
    expect(storage.ids()).toEqual([]);
    rt.disconnect();
  });

  it('refused for good (forbidden, invalid_message): failed and out of storage; too fast: failed but kept for the next page', async () => {
    const storage = new MemoryStorage();
    const rt = client(storage);
    const ws = await goLive(rt);
    const [a, b, c] = ['not a member', 'bad', 'fast'].map((body) => rt.send(C, body));
    ws.receive({ type: 'error', code: 'forbidden', message: 'Not a member of this channel', ref: `send:${a}` });
    ws.receive({ type: 'error', code: 'invalid_message', message: 'clientMsgId: already used', ref: `send:${b}` });
    ws.receive({ type: 'error', code: 'rate_limited', ref: `send:${c}` });
    await settle();
    expect(rt.getOutbox().map((e) => [e.body, e.status, e.error])).toEqual([
      ['not a member', 'failed', 'Not allowed here'],
      ['bad', 'failed', 'clientMsgId: already used'],
      ['fast', 'failed', 'Sending too fast'],
    ]);
    expect(storage.ids()).toEqual([c]);

    rt.retry(a); // asked for by the person: kept again while it is tried
    await settle();
    expect(storage.ids()).toEqual([a, c].sort());
    rt.discard(c);
    await settle();
    expect(storage.ids()).toEqual([a]);
    rt.disconnect();
  });

  it('without working storage, sending goes on in memory and the failure is logged', async () => {
    const storage = new MemoryStorage();
    storage.failing = true;
    const logged: string[] = [];
    const rt = client(storage, (m) => logged.push(m));
    await rt.restored;
    const ws = await goLive(rt);
    const id = rt.send(C, 'still sent');
    expect(ws.frames('send')).toHaveLength(1);
    ws.receive({ type: 'ack', clientMsgId: id, message: stored({ clientMsgId: id, channelId: C, body: 'still sent', createdAt: new Date().toISOString() }, 1), ref: `send:${id}` });
    await settle();
    expect(rt.getOutbox()).toEqual([]);
    expect(logged).toEqual(['could not read the saved outbox', 'could not save an unsent message', 'could not remove a sent message from storage']);
    rt.disconnect();
  });

  it('a restore that read storage before an ack removed the entry does not bring it back', async () => {
    const storage = new MemoryStorage();
    const send = { clientMsgId: 'x', channelId: C, body: 'b', createdAt: '2025-01-01T10:00:00.000Z' };
    await storage.save(send);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: OutboxStorage = {
      load: async () => {
        const all = await storage.load();
        await gate;
        return all;
      },
      save: (s) => storage.save(s),
      remove: (id) => storage.remove(id),
    };
    const outbox = new Outbox(slow, () => {});
    const restoring = outbox.restore();
    outbox.add(send); // this page resent it meanwhile
    outbox.remove('x'); // and it was acknowledged
    release();
    expect(await restoring).toBe(0);
    expect(outbox.list()).toEqual([]);
  });
});
