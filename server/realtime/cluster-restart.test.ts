/**
 * Process-level shutdown and restart (SHUT1, MSG2, SUB3, MSG4) with the real entry point:
 * SIGTERM closes every socket 1001 going_away and exits 0; a client that keeps sending through a
 * restart, with an outbox of unacknowledged messages and `since` on resubscribe, loses nothing
 * and duplicates nothing.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type HttpClient } from '../test/harness.js';
import { baseServerEnv, killSpawned, registerAt, spawnServer, type ServerProcess } from '../test/process.js';
import { connect, openSocket, type TestSocket } from '../test/ws-client.js';

const procs: ServerProcess[] = [];
const pools: pg.Pool[] = [];
const sockets: TestSocket[] = [];
const clients: ReconnectingClient[] = [];

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const p = await spawnServer(env);
  procs.push(p);
  return p;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  for (const s of sockets.splice(0)) s.ws.terminate();
  await Promise.all(procs.splice(0).map((p) => p.killAll()));
  await killSpawned();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

interface Msg {
  id: string;
  channelId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
}

/**
 * What a well-behaved client does: reconnect with exponential backoff and jitter, resubscribe
 * with `since` = the last message id seen, resend every unacknowledged outbox entry with its
 * original clientMsgId. It records everything so the test can check it.
 */
class ReconnectingClient {
  readonly received: Msg[] = [];
  readonly closes: Array<{ code: number; reason: string }> = [];
  readonly outbox = new Map<string, string>();
  readonly acked = new Map<string, string>();
  lastSeenId?: string;
  connects = 0;
  resent = 0;
  /** Where in `received` each (re)subscription's replay began, for failure messages. */
  readonly marks: string[] = [];
  private ws?: WebSocket;
  private ready = false;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly client: HttpClient,
    private readonly channelId: string,
  ) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }

  send(clientMsgId: string, body: string): void {
    this.outbox.set(clientMsgId, body);
    if (this.ready) this.transmit(clientMsgId, body);
  }

  private transmit(clientMsgId: string, body: string): void {
    this.ws!.send(JSON.stringify({ type: 'send', channelId: this.channelId, clientMsgId, body }));
  }

  private seen(id: string): void {
    if (!this.lastSeenId || BigInt(id) > BigInt(this.lastSeenId)) this.lastSeenId = id;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const session = await this.session().catch(() => false);
      if (session) attempt = 0;
      if (this.stopped) break;
      const delay = Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random());
      attempt += 1;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** One connection's life. Resolves true if it got as far as `subscribed`. */
  private session(): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url.replace(/^http/, 'ws') + '/ws', {
        headers: { origin: this.url, cookie: this.client.cookieHeader() },
        perMessageDeflate: false,
      });
      this.ws = ws;
      let subscribed = false;
      ws.on('error', () => {});
      ws.on('open', () => ws.send(JSON.stringify({ type: 'authenticate', token: this.client.token })));
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString());
        if (f.type === 'authenticated') {
          this.connects += 1;
          this.marks.push(`subscribe#${this.connects} since ${this.lastSeenId ?? '-'} at received[${this.received.length}]`);
          ws.send(JSON.stringify({ type: 'subscribe', channelId: this.channelId, ...(this.lastSeenId ? { since: this.lastSeenId } : {}) }));
        } else if (f.type === 'message' && f.message.channelId === this.channelId) {
          this.received.push(f.message);
          this.seen(f.message.id);
          // A replayed message of our own is as good as an ack.
          if (f.message.senderId === this.client.userId && this.outbox.delete(f.message.clientMsgId)) {
            this.acked.set(f.message.clientMsgId, f.message.id);
          }
        } else if (f.type === 'subscribed') {
          subscribed = true;
          this.ready = true;
          for (const [clientMsgId, body] of this.outbox) {
            this.resent += 1;
            this.transmit(clientMsgId, body);
          }
        } else if (f.type === 'ack') {
          this.outbox.delete(f.clientMsgId);
          this.acked.set(f.clientMsgId, f.message.id);
          this.seen(f.message.id);
        }
      });
      ws.on('close', (code, reason) => {
        this.ready = false;
        if (this.connects > 0 || code !== 1006) this.closes.push({ code, reason: reason.toString() });
        if (subscribed) resolve(true);
        else reject(new Error(`closed ${code} before subscribing`));
      });
    });
  }
}

describe('SHUT1: SIGTERM', () => {
  it('SHUT1: SIGTERM closes every socket 1001 going_away (authenticated or not) and the process exits 0', async () => {
    const env = { ...baseServerEnv(), DATABASE_URL: await createTestDatabase() };
    const server = await start(env);
    const users = await Promise.all(['sa', 'sb', 'sc'].map((u) => registerAt(server.url, `shut${u}`)));
    const ch = await users[0].post('/api/channels', { name: 'shut', kind: 'public' });
    for (const u of users.slice(1)) await u.post(`/api/channels/${ch.body.channel.id}/join`);
    const authed: TestSocket[] = [];
    for (const u of users) {
      for (let i = 0; i < 2; i++) {
        const s = await connect(server.url, u);
        s.send({ type: 'subscribe', channelId: ch.body.channel.id });
        await s.next('subscribed');
        authed.push(s);
      }
    }
    const pending = await openSocket(server.url, users[0]); // never authenticates
    sockets.push(...authed, pending);

    const t0 = performance.now();
    // Shutdown's two waits are bounded at 2 s each and nothing is pending here; the ceiling on the
    // exit (stop() rejects past it) catches a hang, and leaves a loaded machine room.
    const exit = server.stop('SIGTERM', 10_000);
    const closes = await Promise.all([...authed, pending].map((s) => s.waitClose(10_000)));
    for (const c of closes) expect(c).toEqual({ code: 1001, reason: 'going_away' });
    const status = await exit;
    const elapsed = performance.now() - t0;
    console.log(`SHUT1: ${closes.length} sockets closed 1001, exit ${status.code} after ${Math.round(elapsed)} ms`);
    expect(status, server.output()).toEqual({ code: 0, signal: null });
    expect(server.output()).not.toMatch(/"level":(50|60)/); // no error or fatal line on the way out
  });
});

describe('restart while a client keeps sending (outbox + since)', () => {
  it('SHUT1/MSG2/SUB3: 200 messages through a SIGTERM and restart on the same port: each stored once, none lost, seen once in order', async () => {
    const N = 200;
    const databaseUrl = await createTestDatabase();
    const env = { ...baseServerEnv(), DATABASE_URL: databaseUrl, WS_RATE_PER_SEC: '1000', WS_BURST: '1000' };
    let server = await start(env);
    const alice = await registerAt(server.url, 'restartalice');
    const bob = await registerAt(server.url, 'restartbob');
    const ch = await alice.post('/api/channels', { name: 'restart', kind: 'public' });
    const channelId = ch.body.channel.id as string;
    expect((await bob.post(`/api/channels/${channelId}/join`)).status).toBe(200);

    const sender = new ReconnectingClient(server.url, alice, channelId);
    const reader = new ReconnectingClient(server.url, bob, channelId);
    clients.push(sender, reader);
    reader.start();
    await expect.poll(() => reader.connects, { timeout: 10_000 }).toBe(1);
    sender.start();
    await expect.poll(() => sender.connects, { timeout: 10_000 }).toBe(1);

    const ids = Array.from({ length: N }, (_, i) => `restart-${String(i).padStart(3, '0')}`);
    let sentCount = 0;
    const sending = (async () => {
      for (const id of ids) {
        sender.send(id, `message ${id}`);
        sentCount += 1;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // Mid-way: SIGTERM, then the same server (same port, same database) again.
    await expect.poll(() => sender.acked.size, { timeout: 15_000, interval: 5 }).toBeGreaterThanOrEqual(N / 4);
    const stopStatus = await server.stop('SIGTERM', 10_000);
    expect(stopStatus, server.output()).toEqual({ code: 0, signal: null });
    const ackedBeforeRestart = sender.acked.size;
    const sentBeforeRestart = sentCount;
    server = await start({ ...env, PORT: String(server.port) });
    await sending;

    await expect.poll(() => sender.acked.size, { timeout: 20_000 }).toBe(N);
    expect(sender.outbox.size).toBe(0);
    await expect.poll(() => reader.received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(N);

    // Both clients were sent away with 1001 going_away and came back.
    for (const c of [sender, reader]) {
      expect(c.closes[0]).toEqual({ code: 1001, reason: 'going_away' });
      expect(c.connects).toBeGreaterThanOrEqual(2);
    }

    // Stored exactly once each.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    pools.push(pool);
    const { rows } = await pool.query<{ client_msg_id: string; n: number; id: string }>(
      `SELECT client_msg_id, count(*)::int AS n, min(id)::text AS id FROM messages WHERE channel_id = $1 GROUP BY client_msg_id ORDER BY min(id)`,
      [channelId],
    );
    expect(rows).toHaveLength(N);
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    expect(rows.map((r) => r.client_msg_id)).toEqual(ids); // one sender, one socket chain: stored in send order
    for (const r of rows) expect(sender.acked.get(r.client_msg_id)).toBe(r.id);

    // The reader saw each exactly once, in order, across its reconnect. A fence message, stored
    // after all of them, is the barrier: a socket gets a channel's messages in seq order, so once
    // the fence is in, every earlier one has come, and a late copy of one would be dropped.
    sender.send('restart-fence', 'fence');
    await expect.poll(() => reader.received.some((m) => m.clientMsgId === 'restart-fence'), { timeout: 10_000 }).toBe(true);
    expect(reader.received.at(-1)?.clientMsgId).toBe('restart-fence');
    const received = reader.received.slice(0, -1);
    const seenTwice = received.filter((m, i) => received.findIndex((o) => o.id === m.id) !== i);
    expect(
      seenTwice.map((m) => `${m.clientMsgId} (id ${m.id}) at received[${received.lastIndexOf(m)}]`),
      `messages the reader saw twice; ${reader.marks.join('; ')}`,
    ).toEqual([]);
    expect(received.map((m) => m.clientMsgId)).toEqual(ids);
    expect(received.map((m) => m.id)).toEqual(rows.map((r) => r.id));
    console.log(
      `restart: SIGTERM after ${ackedBeforeRestart} acks / ${sentBeforeRestart} sent; ` +
        `sender resent ${sender.resent} outbox entries over ${sender.connects} connections; reader reconnected ${reader.connects - 1}×`,
    );
  });
});
