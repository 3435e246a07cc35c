/**
 * One socket's subscription state (SEQ3), driven directly: what is held while a replay runs,
 * what goes out afterwards, and what a gap does. The integration tests (stream*.test.ts) drive
 * the same code through real sockets and real Postgres.
 */
import { describe, expect, it } from 'vitest';
import { Connection, REPLAY_HOLD_MAX } from './connection.js';
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
  return { conn, types };
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
});
