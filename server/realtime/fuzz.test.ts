/**
 * A fuzzing client: 10,000 random or malformed frames over several real sockets (reconnecting
 * when the server closes one), plus random first frames before authentication. The server must
 * keep running (healthz, a fresh socket works), answer every frame that carries a ref exactly
 * once and never with internal_error, send only frames of the shared schema, and change no data:
 * the fuzzer sends no valid `send` to a channel it belongs to.
 *
 * The generator is seeded; a failure names the seed so it can be replayed (FUZZ_SEED=…).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverFrame } from '../../shared/protocol.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { connect, openSocket, type Frame, type TestSocket } from '../test/ws-client.js';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const TOTAL = 10_000;
const WORKERS = 4;
const BATCH = 250;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A frame to send: text (or raw bytes) and the ref the server should echo, if any. */
interface Shot {
  data: string | Buffer;
  ref?: string;
  /** A valid `typing` is answered only when refused; valid `refresh` with a junk token closes. */
  mayBeSilent?: boolean;
}

class Fuzzer {
  private n = 0;
  constructor(
    private readonly random: () => number,
    private readonly channelId: string,
  ) {}

  private int(max: number): number {
    return Math.floor(this.random() * max);
  }
  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  private string(maxLen = 40): string {
    const alphabets = ['abcdefghijklmnopqrstuvwxyz0123456789', '\u0000\u0001\u001f"\\\n\t{}[]:,', 'äöü€𝄞中文😀\u202e\uffff', '0123456789'];
    const alphabet = [...this.pick(alphabets)];
    let s = '';
    const len = this.int(maxLen + 1);
    for (let i = 0; i < len; i++) s += this.pick(alphabet);
    return s;
  }

  private value(depth = 0): unknown {
    const k = this.int(depth > 2 ? 6 : 8);
    switch (k) {
      case 0:
        return null;
      case 1:
        return this.random() < 0.5;
      case 2:
        return this.pick([0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER, 2 ** 64]);
      case 3:
      case 4:
        return this.string();
      case 5:
        return this.pick(['', 'ping', 'send', 'subscribe', this.channelId, randomUUID(), '1', '9'.repeat(20)]);
      case 6:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) o[this.pick(['type', 'ref', 'channelId', 'body', 'since', 'token', this.string(8)])] = this.value(depth + 1);
        return o;
      }
    }
  }

  /** A known frame type with exactly one field broken (so it never passes validation). */
  private broken(ref: string): Record<string, unknown> {
    const channelId = this.channelId;
    const base = this.pick<Record<string, unknown>>([
      { type: 'send', channelId, clientMsgId: `fz-${ref}`, body: 'fuzz' },
      { type: 'subscribe', channelId, since: '1' },
      { type: 'unsubscribe', channelId },
      { type: 'typing', channelId },
      { type: 'refresh', token: 'x' },
      { type: 'ping' },
      { type: 'authenticate', token: 'x' },
    ]);
    const frame: Record<string, unknown> = { ...base, ref };
    const fields = Object.keys(base).filter((f) => f !== 'type');
    const breakers: Array<() => void> = [
      () => (frame[this.pick(['admin', 'id', '__proto__x', 'Type'])] = this.value()),
      () => (frame.type = this.pick([`${base.type} `, String(base.type).toUpperCase(), 7, null, [base.type]])),
    ];
    if (fields.length) {
      const field = this.pick(fields);
      breakers.push(
        () => delete frame[field],
        () => (frame[field] = this.pick([null, 1, true, [], {}, ''])),
        () => (frame[field] = 'x'.repeat(field === 'body' ? 4001 : field === 'token' ? 4097 : 65)),
      );
    }
    if (base.type === 'subscribe') breakers.push(() => (frame.since = this.pick(['-1', '1.5', 'abc', ' 1', '1e3', '9'.repeat(21), ''])));
    if (base.type === 'send') {
      breakers.push(
        () => (frame.body = ''),
        () => (frame.clientMsgId = ''),
        () => (frame.body = `nul \u0000 ${this.string(10)}`),
        () => (frame.clientMsgId = `\u0000${ref}`),
      );
    }
    this.pick(breakers)();
    return frame;
  }

  next(): Shot {
    const ref = `z${++this.n}`;
    const r = this.random();
    if (r < 0.15) return { data: JSON.stringify(this.value()) };
    if (r < 0.4) {
      // A random type with random fields; channel ids are never the fuzzer's channel.
      const frame: Record<string, unknown> = { type: this.pick(['send', 'subscribe', 'typing', 'unsubscribe', 'ping', 'dance', '', 'message', 'ack', 'PING']), ref };
      for (let i = this.int(4); i > 0; i--) frame[this.pick(['channelId', 'body', 'clientMsgId', 'since', this.string(6)])] = this.value(1);
      if (typeof frame.channelId === 'string' && frame.channelId === this.channelId) frame.channelId = randomUUID();
      return { data: JSON.stringify(frame), ref, mayBeSilent: frame.type === 'typing' };
    }
    if (r < 0.7) return { data: JSON.stringify(this.broken(ref)), ref };
    if (r < 0.72) return { data: JSON.stringify({ ['__proto__']: { type: 'send' }, constructor: { prototype: { admin: true } }, type: 'ping', ref, x: 1 }), ref };
    if (r < 0.73) {
      const big = 'b'.repeat(30_000 + this.int(30_000));
      return this.pick<Shot>([
        { data: JSON.stringify({ type: 'send', channelId: this.channelId, clientMsgId: ref, body: big, ref }), ref },
        { data: JSON.stringify({ type: big.slice(0, 50_000), ref }), ref },
        { data: big },
        { data: JSON.stringify({ type: 'ping', ref, pad: big }), ref },
      ]);
    }
    if (r < 0.97) {
      const text = this.pick([
        this.string(200),
        '{"type":"ping"',
        '{"type":"send","channelId":',
        `{"type":"ping","ref":"${ref}"}}`,
        '\u0000',
        ' ',
        '{}'.repeat(this.int(100)),
        '['.repeat(2000),
        '{"a":'.repeat(1000),
      ]);
      return { data: text };
    }
    if (r < 0.98) {
      // Valid: ping, or asking for a channel the fuzzer is not in (nothing changes).
      return this.pick<Shot>([
        { data: JSON.stringify({ type: 'ping', ref }), ref },
        { data: JSON.stringify({ type: 'subscribe', channelId: randomUUID(), ref }), ref },
        { data: JSON.stringify({ type: 'send', channelId: randomUUID(), clientMsgId: ref, body: 'x', ref }), ref },
        { data: JSON.stringify({ type: 'typing', channelId: randomUUID(), ref }), ref },
        { data: JSON.stringify({ type: 'subscribe', channelId: this.channelId, since: this.pick(['0', '9'.repeat(19), '9'.repeat(20)]), ref }), ref },
      ]);
    }
    if (r < 0.995) return { data: JSON.stringify({ type: 'typing', channelId: this.channelId, ref }), ref, mayBeSilent: true };
    if (r < 0.998) return { data: JSON.stringify({ type: 'refresh', token: `junk.${this.string(20)}.x`, ref }), ref };
    // Random bytes as a text frame: mostly not UTF-8.
    return { data: Buffer.from(Array.from({ length: 1 + this.int(64) }, () => this.int(256))) };
  }
}

describe(`fuzzing the protocol (seed ${SEED})`, () => {
  let server: TestServer;
  let fuzzer: HttpClient;
  let channelId: string;
  const received: Frame[] = [];
  const counts = async () =>
    (
      await server.ctx.pool.query(
        `SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM channels)::int AS channels,
                (SELECT count(*) FROM channel_members)::int AS members, (SELECT count(*) FROM devices WHERE revoked_at IS NULL)::int AS devices,
                (SELECT count(*) FROM users WHERE disabled)::int AS disabled`,
      )
    ).rows[0];

  beforeAll(async () => {
    server = await startTestServer({ env: { WS_RATE_PER_SEC: '1000000', WS_BURST: '1000000', AUTH_TIMEOUT_MS: '2000', MAX_PENDING_SOCKETS_PER_IP: '1000' } });
    fuzzer = await server.register('fuzzer');
    const other = await server.register('fuzzother');
    channelId = (await fuzzer.post('/api/channels', { name: 'fuzz', kind: 'private', memberIds: [other.userId] })).body.channel.id;
    const s = await connect(server.url, fuzzer);
    s.send({ type: 'send', channelId, clientMsgId: 'seed', body: 'the one message' });
    await s.next('ack');
    s.close();
  });
  afterAll(() => server?.close());

  it(`FLOW1/FLOW3: ${TOTAL} malformed frames over ${WORKERS} sockets: every ref answered once, no internal_error, no data changed, server alive`, async () => {
    const before = await counts();
    const random = rng(SEED);
    const gen = new Fuzzer(random, channelId);
    const unanswered: string[] = [];
    const duplicated: string[] = [];
    const closes: string[] = [];
    const sentByRef = new Map<string, string>();
    let sent = 0;
    let sessions = 0;

    const worker = async () => {
      while (sent < TOTAL) {
        const batch: Shot[] = [];
        while (batch.length < BATCH && sent < TOTAL) {
          batch.push(gen.next());
          sent++;
        }
        const s = await connect(server.url, fuzzer);
        sessions++;
        for (const shot of batch) {
          if (shot.ref) sentByRef.set(shot.ref, String(shot.data).slice(0, 300));
          if (typeof shot.data === 'string') s.ws.send(shot.data);
          else s.ws.send(shot.data, { binary: false });
        }
        const end = `end-${sessions}-${randomUUID()}`;
        s.send({ type: 'ping', ref: end });
        await Promise.race([s.closedPromise, (async () => { for (;;) if ((await s.next('pong', 20_000)).ref === end) return; })()]);
        received.push(...s.frames);
        if (s.closed) {
          closes.push(`${s.closed.code} ${s.closed.reason}`);
          continue;
        }
        const byRef = new Map<string, number>();
        for (const f of s.frames) if (typeof f.ref === 'string') byRef.set(f.ref, (byRef.get(f.ref) ?? 0) + 1);
        for (const shot of batch) {
          if (!shot.ref) continue;
          const n = byRef.get(shot.ref) ?? 0;
          if (n > 1) duplicated.push(shot.ref);
          if (n === 0 && !shot.mayBeSilent) unanswered.push(`${shot.ref}: ${String(shot.data).slice(0, 200)}`);
        }
        s.close();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));

    expect(sent).toBe(TOTAL);
    expect(unanswered).toEqual([]);
    expect(duplicated).toEqual([]);
    // A session ends early only by a rule: junk refresh (4401), bytes that are not UTF-8 (1007).
    for (const c of closes) expect(['4401 invalid_token', '1007 ']).toContainEqual(c.startsWith('1007') ? '1007 ' : c);
    const internal = received.filter((f) => f.type === 'error' && f.code === 'internal_error').map((f) => sentByRef.get(f.ref) ?? f.ref);
    expect(internal).toEqual([]);
    const offSchema = received.filter((f) => !serverFrame.safeParse(f).success);
    expect(offSchema).toEqual([]);
    // Only the seed message exists; nothing else changed.
    expect(await counts()).toEqual(before);

    expect((await server.client().get('/healthz')).status).toBe(200);
    const fresh = await connect(server.url, fuzzer);
    fresh.send({ type: 'subscribe', channelId, since: '0', ref: 's' });
    expect((await fresh.next('message')).message.body).toBe('the one message');
    await fresh.next('subscribed');
    fresh.send({ type: 'send', channelId, clientMsgId: randomUUID(), body: 'still works', ref: 'ok' });
    expect((await fresh.next('ack')).ref).toBe('ok');
    expect((await counts()).messages).toBe(before.messages + 1);
    fresh.close();
  });

  it('AUTH2: random first frames before authentication close 4401 (or 1007 for bytes that are not UTF-8), nothing else', async () => {
    const gen = new Fuzzer(rng(SEED + 1), channelId);
    const before = await counts();
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const shot = gen.next();
          let s: TestSocket;
          s = await openSocket(server.url, fuzzer);
          if (typeof shot.data === 'string') s.ws.send(shot.data);
          else s.ws.send(shot.data, { binary: false });
          const { code, reason } = await s.waitClose(5_000);
          const key = code === 1007 ? '1007' : `${code} ${reason}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          expect(s.frames.map((f) => f.type)).toEqual(['challenge']); // POP2: sent on upgrade, nothing after
        }),
      );
    }
    for (const key of outcomes.keys()) expect(['4401 authentication_required', '4401 invalid_token', '1007']).toContain(key);
    expect(await counts()).toEqual(before);
    expect((await server.client().get('/healthz')).status).toBe(200);
  });
});
