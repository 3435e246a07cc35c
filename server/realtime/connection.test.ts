/**
 * One socket's subscription state (SEQ3), driven directly: what is held while a replay runs,
 * what goes out afterwards, and what a gap does. The integration tests (stream*.test.ts) drive
 * the same code through real sockets and real Postgres.
 */
import { describe, expect, it } from 'vitest';
import { Connection, REPLAY_HOLD_BYTES, REPLAY_HOLD_MAX } from './connection.js';
import { TokenBucket } from './limiter.js';

function connection() {
  const sent: string[] = [];
  const conn = new Connection(
    'c1',
    { send: (d) => sent.push(String(d)), close: () => {}, bufferedAmount: 0 },
    { ip: '127.0.0.1' },
    new TokenBucket(100, 100),
    { onMessage: () => {}, onClosed: () => {}, onTaskFailed: () => {}, maxBufferedBytes: 1 << 20 },
  );
  const types = () => sent.map((t) => JSON.parse(t) as { type: string; seq?: number }).map((f) => (f.seq ? `${f.type}:${f.seq}` : f.type));
  return { conn, types, sent };
}
const stream = (seq: number) => Buffer.from(`{"type":"message","seq":${seq}}`);
const presence = Buffer.from('{"type":"presence","status":"offline"}');

describe('Connection subscriptions', () => {
  it('SEQ3: frames outside the stream held during a replay go out even when the held stream events overflowed', () => {
    const { conn, types } = connection();
    conn.beginReplay('ch');
    conn.deliver('ch', presence, 0, '');
    for (let seq = 1; seq <= REPLAY_HOLD_MAX + 5; seq++) conn.deliver('ch', stream(seq), seq, '');
    // Overflowed: the stream events are read back from the database by the caller…
    expect(conn.endReplay('ch')).toBe(false);
    // …but the presence frame, which no database holds, was not dropped with them.
    expect(types()).toEqual(['presence']);
  });

  it('SEQ3: held stream frames are bounded by bytes too: long messages overflow to a database read well before the count bound', () => {
    const { conn, types } = connection();
    const long = (seq: number) => Buffer.from(JSON.stringify({ type: 'message', seq, body: 'x'.repeat(16_000) }));
    conn.beginReplay('ch');
    const fit = Math.floor(REPLAY_HOLD_BYTES / long(1).length);
    expect(fit).toBeLessThan(REPLAY_HOLD_MAX);
    for (let seq = 1; seq <= fit + 1; seq++) conn.deliver('ch', long(seq), seq, '');
    expect(conn.endReplay('ch')).toBe(false);
    expect(types()).toEqual([]);
    // A replay that held fewer bytes than the bound sends them all, in order.
    const again = connection();
    again.conn.beginReplay('ch');
    for (let seq = 1; seq <= fit; seq++) again.conn.deliver('ch', long(seq), seq, '');
    expect(again.conn.endReplay('ch')).toBe(true);
    expect(again.types()).toEqual(Array.from({ length: fit }, (_, i) => `message:${i + 1}`));
  });

  it('SEQ3: a presence frame held behind a gap survives the catch-up that restarts the hold', () => {
    const { conn, types } = connection();
    const sub = conn.beginReplay('ch');
    expect(conn.endReplay('ch')).toBe(true);
    expect(conn.deliver('ch', stream(2), 2, '')).toBe(false); // 1 is missing: hold from here
    conn.deliver('ch', presence, 0, '');
    conn.beginReplay('ch'); // the catch-up: read 1 and 2 from the database…
    for (const seq of [1, 2]) {
      conn.sendRaw(stream(seq));
      sub.sent = seq;
    }
    expect(conn.endReplay('ch')).toBe(true);
    expect(types()).toEqual(['message:1', 'message:2', 'presence']);
  });

  it('SEQ3: an event replayed and then published late, or held during the replay, reaches the socket once, in seq order', () => {
    // What the restart test hit under load: the reader's replay read message 7 (committed), the
    // sender's instance published 7 only after the replay was flushed, and 7 arrived twice.
    const { conn, sent } = connection();
    const frame = stream;
    const sub = conn.beginReplay('ch');
    sub.sent = 4;
    expect(conn.deliver('ch', frame(6), 6, '')).toBe(true); // live during the replay: held, then dropped (replayed)
    for (const seq of [5, 6, 7]) {
      conn.send({ type: 'message', seq }); // the replay itself
      sub.sent = seq;
    }
    expect(conn.endReplay('ch')).toBe(true);
    expect(conn.deliver('ch', frame(7), 7, '')).toBe(true); // the late publish of a replayed message
    expect(conn.deliver('ch', frame(8), 8, '')).toBe(true); // a new message
    expect(conn.deliver('ch', frame(9), 9, 'c1')).toBe(true); // this socket's own: it got the ack
    expect(conn.deliver('other', frame(3), 3, '')).toBe(true); // not subscribed: ignored
    expect(conn.deliver('ch', Buffer.from('{"type":"typing"}'), 0, '')).toBe(true); // not a stream event
    expect(conn.deliver('ch', frame(11), 11, '')).toBe(false); // 10 is missing: the caller repairs
    expect(conn.deliver('ch', frame(12), 12, '')).toBe(true); // held behind the gap
    const seqs = sent.map((t) => (JSON.parse(t) as { seq?: number; type: string }).seq ?? (JSON.parse(t) as { type: string }).type);
    expect(seqs).toEqual([5, 6, 7, 8, 'typing']);
    expect(sub.sent).toBe(9);
  });
});
