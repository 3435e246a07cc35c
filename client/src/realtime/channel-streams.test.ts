/**
 * The client's place in each channel's stream (contract v2 "The channel stream", SEQ4), with a
 * scripted socket and a clock moved by hand: duplicates by seq, the contiguous position, the
 * resubscribe with sinceSeq, truncated replays and holes.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '../../../shared/api.js';
import { FakeClock, FakeSocket, settle } from '../../test/fake-socket.js';
import { RealtimeClient, type RealtimeOptions } from './client.js';

const user = { id: 'u1', username: 'alice', displayName: 'alice', role: 'user' as const };
const C = 'c0ffee00-0000-4000-8000-000000000001';

function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: String(1000 + seq),
    channelId: C,
    seq,
    senderId: 'u2',
    clientMsgId: `theirs-${seq}`,
    body: `#${seq}`,
    mentions: [],
    createdAt: new Date(0).toISOString(),
    editedAt: null,
    deletedAt: null,
    ...over,
  };
}

const message = (seq: number) => ({ type: 'message', seq, message: msg(seq) });
const subscribed = (lastSeq: number, truncated?: boolean) => ({ type: 'subscribed', channelId: C, presence: {}, lastSeq, readSeq: 0, ...(truncated ? { truncated } : {}), ref: `sub:${C}` });

/** Opens the newest socket and authenticates it. */
async function goLive(): Promise<FakeSocket> {
  await settle(); // the token request
  const ws = FakeSocket.last();
  ws.open();
  ws.receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  return ws;
}

async function setup(opts: RealtimeOptions = {}) {
  FakeSocket.all = [];
  const clock = new FakeClock();
  const rt = new RealtimeClient({
    baseUrl: 'http://relay.test',
    WebSocket: FakeSocket,
    timers: clock,
    random: () => 0, // reconnect at once
    fetch: async () => new Response('{"token":"t"}'),
    gapTimeoutMs: 10_000,
    resubscribeDelayMs: 1_000,
    ...opts,
  });
  const seen: string[] = [];
  rt.on('message', ({ message, replay }) => seen.push(`${message.seq}${replay ? ' (replay)' : ''}`));
  rt.subscribe(C);
  rt.connect();
  const ws = await goLive();
  /** Loses the connection and returns the next one, live. */
  const reconnect = async (socket: FakeSocket) => {
    socket.drop(1006, '');
    await clock.advance(0);
    return goLive();
  };
  return { rt, clock, seen, ws, reconnect };
}

describe('channel streams', () => {
  it('SEQ4: the first subscribe asks for nothing old and starts at lastSeq; a frame at or below the position is dropped, whichever frame type brings it', async () => {
    const { rt, ws, seen } = await setup();
    expect(ws.frames('subscribe')).toEqual([{ type: 'subscribe', channelId: C, ref: `sub:${C}` }]);
    ws.receive(subscribed(4));
    expect(rt.position(C)).toBe(4);

    ws.receive(message(5));
    ws.receive(message(5));
    ws.receive(message(4));
    const id = rt.send(C, 'mine');
    const mine = msg(6, { senderId: user.id, clientMsgId: id, body: 'mine' });
    ws.receive({ type: 'ack', clientMsgId: id, message: mine, ref: `send:${id}` });
    // After a server-side repair our own message may come again as a message frame.
    ws.receive({ type: 'message', seq: 6, message: mine });
    expect(seen).toEqual(['5', '6']);
    expect(rt.getOutbox()).toEqual([]);
    expect(rt.position(C)).toBe(6);
    rt.disconnect();
  });

  it('an ack that runs ahead of messages still in flight does not move the position past them; the resubscribe after a reconnect asks from the contiguous seq', async () => {
    const { rt, ws, seen, reconnect } = await setup();
    ws.receive(subscribed(4));
    const id = rt.send(C, 'mine');
    ws.receive({ type: 'ack', clientMsgId: id, message: msg(7, { senderId: user.id, clientMsgId: id }), ref: `send:${id}` });
    expect(rt.position(C)).toBe(4);
    ws.receive(message(5));
    expect(rt.position(C)).toBe(5);

    const ws2 = await reconnect(ws);
    expect(ws2.frames('subscribe')).toEqual([{ type: 'subscribe', channelId: C, sinceSeq: 5, ref: `sub:${C}` }]);
    ws2.receive(message(6));
    ws2.receive(message(7)); // our own, replayed: held already
    ws2.receive(subscribed(7));
    expect(seen).toEqual(['7', '5', '6 (replay)']);
    expect(rt.position(C)).toBe(7);

    ws2.receive(message(8));
    expect(seen.at(-1)).toBe('8');
    rt.disconnect();
  });

  it('SUB3: a truncated replay is continued from the last seq received, not from lastSeq, until one is not truncated', async () => {
    const { rt, ws, seen, clock, reconnect } = await setup();
    ws.receive(subscribed(2));
    const ws2 = await reconnect(ws);
    expect(ws2.frames('subscribe').at(-1)).toMatchObject({ sinceSeq: 2 });
    for (const seq of [3, 4, 5]) ws2.receive(message(seq));
    ws2.receive(subscribed(9, true));
    expect(rt.position(C)).toBe(5);
    expect(ws2.frames('subscribe').at(-1)).toMatchObject({ sinceSeq: 5 });

    for (const seq of [6, 7, 8, 9]) ws2.receive(message(seq));
    ws2.receive(subscribed(9));
    expect(rt.position(C)).toBe(9);
    expect(seen).toEqual(['3', '4', '5', '6', '7', '8', '9'].map((s) => `${s} (replay)`));
    await clock.advance(20_000);
    expect(ws2.frames('subscribe')).toHaveLength(2);
    rt.disconnect();
  });

  it('a truncated replay that brought nothing new is asked for again after a pause, not in a tight loop', async () => {
    const { rt, ws, clock, reconnect } = await setup();
    ws.receive(subscribed(5));
    const ws2 = await reconnect(ws);
    ws2.receive(subscribed(900, true)); // the socket was still busy: nothing replayed
    expect(ws2.frames('subscribe')).toHaveLength(1);
    await clock.advance(999);
    expect(ws2.frames('subscribe')).toHaveLength(1);
    await clock.advance(1);
    expect(ws2.frames('subscribe')).toEqual([
      { type: 'subscribe', channelId: C, sinceSeq: 5, ref: `sub:${C}` },
      { type: 'subscribe', channelId: C, sinceSeq: 5, ref: `sub:${C}` },
    ]);
    rt.disconnect();
  });

  it('a message frame past a hole is shown, and the channel is subscribed again from the position at once', async () => {
    const { rt, ws, seen } = await setup();
    ws.receive(subscribed(4));
    ws.receive(message(6));
    expect(seen).toEqual(['6']);
    expect(ws.frames('subscribe').at(-1)).toEqual({ type: 'subscribe', channelId: C, sinceSeq: 4, ref: `sub:${C}` });
    for (const seq of [5, 6, 7]) ws.receive(message(seq));
    ws.receive(subscribed(7));
    expect(rt.position(C)).toBe(7);
    expect(seen).toEqual(['6', '5 (replay)', '7 (replay)']);
    expect(ws.frames('subscribe')).toHaveLength(2);
    rt.disconnect();
  });

  it('one subscribe per channel in flight: a reason to ask again meanwhile waits for its answer', async () => {
    const { rt, ws, clock } = await setup();
    ws.receive(subscribed(4));
    ws.receive(message(6)); // a hole: subscribe #2, unanswered for a while
    const id = rt.send(C, 'mine');
    ws.receive({ type: 'ack', clientMsgId: id, message: msg(9, { senderId: user.id, clientMsgId: id }), ref: `send:${id}` });
    await clock.advance(10_000); // the ack's hole outlived gapTimeoutMs
    expect(ws.frames('subscribe')).toHaveLength(2);
    ws.receive(message(5));
    ws.receive(subscribed(6));
    expect(ws.frames('subscribe')).toHaveLength(3);
    expect(ws.frames('subscribe').at(-1)).toMatchObject({ sinceSeq: 6 });
    for (const seq of [7, 8, 9]) ws.receive(message(seq));
    ws.receive(subscribed(9));
    expect(rt.position(C)).toBe(9);
    await clock.advance(10_000);
    expect(ws.frames('subscribe')).toHaveLength(3);
    rt.disconnect();
  });

  it('after our ack ran ahead, the messages in flight get gapTimeoutMs to arrive before the channel is asked for them', async () => {
    const { rt, ws, clock } = await setup();
    ws.receive(subscribed(4));
    const a = rt.send(C, 'one');
    ws.receive({ type: 'ack', clientMsgId: a, message: msg(6, { senderId: user.id, clientMsgId: a }), ref: `send:${a}` });
    await clock.advance(9_999);
    expect(ws.frames('subscribe')).toHaveLength(1);
    await clock.advance(1);
    expect(ws.frames('subscribe').at(-1)).toEqual({ type: 'subscribe', channelId: C, sinceSeq: 4, ref: `sub:${C}` });
    ws.receive(message(5));
    ws.receive(subscribed(6));

    // This time the missing message arrives in time: nothing is asked for.
    const b = rt.send(C, 'two');
    ws.receive({ type: 'ack', clientMsgId: b, message: msg(8, { senderId: user.id, clientMsgId: b }), ref: `send:${b}` });
    ws.receive(message(7));
    expect(rt.position(C)).toBe(8);
    await clock.advance(10_000);
    expect(ws.frames('subscribe')).toHaveLength(2);
    rt.disconnect();
  });

  it('a stream event of a type this client does not know still takes its seq', async () => {
    const { rt, ws, seen } = await setup();
    ws.receive(subscribed(4));
    ws.receive({ type: 'message_updated', channelId: C, seq: 5, message: msg(3, { body: 'edited' }) });
    expect(rt.position(C)).toBe(5);
    ws.receive(message(6));
    expect(seen).toEqual(['6']);
    expect(ws.frames('subscribe')).toHaveLength(1);
    rt.disconnect();
  });

  it('channel_removed and unsubscribe forget the position: no subscribe for it on the next connection', async () => {
    const { rt, ws, reconnect } = await setup();
    const D = 'c0ffee00-0000-4000-8000-000000000002';
    rt.subscribe(D);
    ws.receive(subscribed(4));
    ws.receive({ type: 'subscribed', channelId: D, presence: {}, lastSeq: 1, readSeq: 0, ref: `sub:${D}` });
    ws.receive({ type: 'channel_removed', channelId: C });
    expect(rt.position(C)).toBeUndefined();
    rt.unsubscribe(D);
    expect(ws.frames('unsubscribe')).toEqual([{ type: 'unsubscribe', channelId: D }]);
    const ws2 = await reconnect(ws);
    expect(ws2.frames('subscribe')).toEqual([]);
    rt.disconnect();
  });
});
