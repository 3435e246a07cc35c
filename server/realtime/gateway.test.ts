/**
 * The gateway core driven through an in-memory socket: no `ws`, no port, the same rules. The
 * context (Postgres, bus, tokens) is a real test server's, so revocations and channel events
 * made over its HTTP API reach this second gateway through the shared bus.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS, type EventBus } from '../bus/bus.js';
import { LocalPresence } from '../presence/local.js';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { Gateway } from './gateway.js';
import type { ConnectionHandle, GatewaySocket } from './socket.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;

/** One end of an in-memory socket: records what the core sends and how it closes. */
class MemorySocket implements GatewaySocket {
  readonly sent: Frame[] = [];
  closed?: { code: number; reason: string };
  bufferedAmount = 0;
  handle!: ConnectionHandle;

  send(data: string | Buffer): void {
    if (this.closed) throw new Error('send after close');
    this.sent.push(JSON.parse(data.toString()) as Frame);
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }
  frame(frame: unknown): void {
    this.handle.message(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }
  async reply(type: string, ref?: string): Promise<Frame> {
    let found: Frame | undefined;
    await expect.poll(() => (found = this.sent.find((f) => f.type === type && (ref === undefined || f.ref === ref)))).toBeDefined();
    return found!;
  }
}

describe('the gateway core without ws', () => {
  let server: TestServer;
  let gateway: Gateway;
  let alice: HttpClient;
  let bob: HttpClient;
  let channelId: string;

  const accept = (client?: HttpClient, gw = gateway) => {
    const socket = new MemorySocket();
    socket.handle = gw.accept(socket, { ip: '203.0.113.7', fingerprint: client?.cookies.get('relay_fp') });
    return socket;
  };
  const authenticated = async (client: HttpClient) => {
    const s = accept(client);
    s.frame({ type: 'authenticate', token: client.token, ref: 'auth' });
    await s.reply('authenticated', 'auth');
    return s;
  };

  beforeAll(async () => {
    server = await startTestServer();
    gateway = new Gateway(
      { ...server.ctx, config: { ...server.ctx.config, authTimeoutMs: 200, ws: { ...server.ctx.config.ws, maxBufferedBytes: 1024 } } },
      new LocalPresence(),
    );
    await gateway.start();
    alice = await server.register('galice');
    bob = await server.register('gbob');
    channelId = (await alice.post('/api/channels', { name: 'g-general', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
  });
  afterAll(async () => {
    await gateway?.close();
    await server?.close();
  });

  it('the core modules load without ws, however indirectly (only ws-adapter.ts brings it in)', async () => {
    // A fresh Node process loads the modules for real, with a resolve hook that refuses the `ws`
    // package: a static import of it anywhere in their graph fails the load and names the module
    // that asked. (A source grep saw neither imports through other modules nor other spellings.)
    // ws-adapter.ts, which does import ws, is the control that the hook catches it.
    const hook = `export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context);
      if (resolved.url.includes('/node_modules/ws/')) throw new Error('ws imported by ' + context.parentURL);
      return resolved;
    }`;
    const groups = { core: ['gateway.ts', 'connection.ts', 'hub.ts', 'limiter.ts', 'socket.ts'], adapter: ['ws-adapter.ts'] };
    const script = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
      const out = {};
      for (const [group, files] of Object.entries(${JSON.stringify(groups)})) {
        try {
          for (const file of files) await import(new URL(file, ${JSON.stringify(new URL('./', import.meta.url).href)}).href);
          out[group] = 'loaded';
        } catch (err) {
          out[group] = String(err.message);
        }
      }
      console.log(JSON.stringify(out));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      timeout: 25_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(out.core).toBe('loaded');
    expect(out.adapter).toMatch(/^ws imported by .*\/server\/realtime\/ws-adapter\.ts$/);
  });

  it('AUTH6/SUB1/MSG1: authenticate, subscribe and send in one burst, answered in order; fan-out to the other socket', async () => {
    const b = await authenticated(bob);
    b.frame({ type: 'subscribe', channelId, ref: 'bs' });
    await b.reply('subscribed', 'bs');
    const a = accept(alice);
    a.frame({ type: 'authenticate', token: alice.token, ref: '1' });
    a.frame({ type: 'subscribe', channelId, ref: '2' });
    a.frame({ type: 'send', channelId, clientMsgId: 'mem-1', body: 'in memory', ref: '3' });
    a.frame({ type: 'ping', ref: '4' });
    await a.reply('pong', '4');
    expect(a.sent.map((f) => f.type)).toEqual(['challenge', 'authenticated', 'subscribed', 'ack', 'pong']);
    expect(a.sent[2].presence).toEqual({ [alice.userId]: 'online', [bob.userId]: 'online' });
    const ack = a.sent[3];
    const { rows } = await server.ctx.pool.query(`SELECT body FROM messages WHERE id = $1::bigint`, [ack.message.id]);
    expect(rows).toEqual([{ body: 'in memory' }]);
    expect((await b.reply('message')).message).toEqual(ack.message);
    expect(a.sent.filter((f) => f.type === 'message')).toEqual([]);
    // Presence: bob's watcher saw alice come online once.
    expect(b.sent.filter((f) => f.type === 'presence')).toEqual([{ type: 'presence', channelId, userId: alice.userId, status: 'online' }]);
    a.handle.closed();
    await expect.poll(() => b.sent.filter((f) => f.type === 'presence').map((f) => f.status)).toEqual(['online', 'offline']);
    b.handle.closed();
  });

  it('AUTH2/AUTH3: a wrong first frame closes 4401; no frame closes 4408 after authTimeoutMs', async () => {
    const wrong = accept(alice);
    wrong.frame({ type: 'ping' });
    expect(wrong.closed).toEqual({ code: 4401, reason: 'authentication_required' });
    const silent = accept(alice);
    await expect.poll(() => silent.closed).toEqual({ code: 4408, reason: 'authentication_timeout' });
    const noCookie = accept();
    noCookie.frame({ type: 'authenticate', token: alice.token });
    await expect.poll(() => noCookie.closed).toEqual({ code: 4401, reason: 'invalid_token' });
    expect(noCookie.sent.map((f) => f.type)).toEqual(['challenge']);
  });

  it('FLOW3: a binary frame closes 1003; a peer close forgets the socket', async () => {
    const before = gateway.size;
    const s = await authenticated(alice);
    expect(gateway.size).toBe(before + 1);
    s.handle.binary();
    expect(s.closed).toEqual({ code: 1003, reason: 'binary_not_supported' });
    expect(gateway.size).toBe(before);
    const t = await authenticated(alice);
    t.handle.closed();
    expect(gateway.size).toBe(before);
    // Frames after the close are ignored, not answered.
    t.frame({ type: 'ping' });
    expect(t.sent.filter((f) => f.type === 'pong')).toEqual([]);
  });

  it('FLOW4: a socket whose unsent data passes WS_MAX_BUFFERED_BYTES is closed 1008 slow_consumer', async () => {
    const s = await authenticated(alice);
    s.bufferedAmount = 4096;
    s.frame({ type: 'ping', ref: 'slow' });
    await expect.poll(() => s.closed).toEqual({ code: 1008, reason: 'slow_consumer' });
    expect(s.sent.find((f) => f.ref === 'slow')).toBeUndefined();
  });

  it('REV1/MSG5: revocations and channel events published by the HTTP API reach this core through the bus', async () => {
    const laptop = await server.login('gbob');
    const s = await authenticated(laptop);
    const other = (await alice.post('/api/channels', { name: 'g-second', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
    expect((await s.reply('channel_added')).channel.id).toBe(other);
    expect((await bob.post(`/api/devices/${laptop.deviceId}/revoke`)).status).toBe(200);
    await expect.poll(() => s.closed).toEqual({ code: 4403, reason: 'device_revoked' });
  });

  it('MSG5: every socket of a user, not only the first, hears `authenticated` only once the user topic listens', async () => {
    const carol = await server.register('gcarol');
    const carolPhone = await server.login('gcarol');
    // A bus whose subscribe to carol's user topic waits for a gate (a slow Redis SUBSCRIBE).
    const bus = server.ctx.bus;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let requested!: () => void;
    const subscribeRequested = new Promise<void>((resolve) => (requested = resolve));
    const slowBus: EventBus = {
      publish: (topic, payload) => bus.publish(topic, payload),
      subscribe: async (topic, handler) => {
        if (topic === TOPICS.user(carol.userId)) {
          requested();
          await gate;
        }
        return bus.subscribe(topic, handler);
      },
      close: async () => {},
    };
    // The real token check, counted: what the gateway does after it, up to waiting for the
    // subscription, takes no I/O (LocalPresence is in memory).
    const tokens = server.ctx.tokens;
    let verified = 0;
    const countingTokens: typeof tokens = Object.assign(Object.create(tokens), {
      verify: async (...args: Parameters<typeof tokens.verify>) => {
        const result = await tokens.verify(...args);
        verified += 1;
        return result;
      },
    });
    const gw = new Gateway({ ...server.ctx, bus: slowBus, tokens: countingTokens }, new LocalPresence());
    await gw.start();
    try {
      const first = accept(carol, gw);
      first.frame({ type: 'authenticate', token: carol.token, ref: 'a1' });
      const second = accept(carolPhone, gw);
      second.frame({ type: 'authenticate', token: carolPhone.token, ref: 'a2' });
      // Both wait for the subscription; neither is told it is live before it can hear its events.
      // Barrier, not a sleep: the subscribe is asked for, both tokens are checked, and a turn of
      // the event loop lets everything that follows a check without I/O run.
      await subscribeRequested;
      await expect.poll(() => verified, { timeout: 10_000 }).toBe(2);
      await new Promise((resolve) => setImmediate(resolve));
      expect([...first.sent, ...second.sent].map((f) => f.type)).toEqual(['challenge', 'challenge']);
      open();
      await first.reply('authenticated', 'a1');
      await second.reply('authenticated', 'a2');
      const added = (await alice.post('/api/channels', { name: 'g-late', kind: 'private', memberIds: [carol.userId] })).body.channel.id;
      expect((await first.reply('channel_added')).channel.id).toBe(added);
      expect((await second.reply('channel_added')).channel.id).toBe(added);
    } finally {
      open();
      await gw.close();
    }
  });

  it('SUB3: the replay budget is the socket\'s: what it has not sent yet counts, so stacked replays cannot pile up', async () => {
    const ch = (await alice.post('/api/channels', { name: 'g-budget', kind: 'private', memberIds: [bob.userId] })).body.channel.id;
    // Frames of ~450 bytes; this core's slow-consumer bound is 1,024 bytes, its replay budget 512.
    await server.ctx.pool.query(
      `WITH bump AS (UPDATE channels SET last_seq = last_seq + 3 WHERE id = $1::uuid RETURNING last_seq - 3 AS base)
       INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body)
       SELECT $1::uuid, bump.base + g, $2::uuid, 'budget-' || g, repeat('b', 300) FROM bump, generate_series(1, 3) g ORDER BY g`,
      [ch, alice.userId],
    );
    const s = await authenticated(bob);
    s.bufferedAmount = 600; // earlier replays not yet taken by the peer
    s.frame({ type: 'subscribe', channelId: ch, since: '0', ref: 'busy' });
    expect(await s.reply('subscribed', 'busy')).toMatchObject({ truncated: true });
    expect(s.sent.filter((f) => f.type === 'message')).toEqual([]);
    s.bufferedAmount = 0; // drained: the replay moves forward again
    s.frame({ type: 'unsubscribe', channelId: ch, ref: 'u' });
    s.frame({ type: 'subscribe', channelId: ch, since: '0', ref: 'drained' });
    expect(await s.reply('subscribed', 'drained')).toMatchObject({ truncated: true });
    expect(s.sent.filter((f) => f.type === 'message').map((f) => f.message.clientMsgId)).toEqual(['budget-1']);
    s.handle.closed();
  });

  it('SHUT1: a socket still authenticating when shutdown begins is sent away 1001, never counted online', async () => {
    class CountingPresence extends LocalPresence {
      connects = 0;
      override async connect(userId: string, deviceId: string) {
        this.connects += 1;
        return super.connect(userId, deviceId);
      }
    }
    const presence = new CountingPresence();
    const gw = new Gateway(server.ctx, presence);
    await gw.start();
    const s = accept(alice, gw);
    s.frame({ type: 'authenticate', token: alice.token, ref: 'late' });
    await gw.close();
    expect(s.closed).toEqual({ code: 1001, reason: 'going_away' });
    expect(s.sent.filter((f) => f.type === 'authenticated')).toEqual([]);
    expect(presence.connects).toBe(0);
  });

  it('SHUT1: close() sends every socket away with 1001 going_away and refuses new ones', async () => {
    const own = new Gateway(server.ctx, new LocalPresence());
    await own.start();
    const open = [accept(alice, own), accept(bob, own)];
    open[1].frame({ type: 'authenticate', token: bob.token });
    await open[1].reply('authenticated');
    await own.close();
    for (const s of open) expect(s.closed).toEqual({ code: 1001, reason: 'going_away' });
    expect(own.canAcceptFrom('203.0.113.7')).toBe(false);
    const late = accept(alice, own);
    expect(late.closed).toEqual({ code: 1001, reason: 'going_away' });
    expect(own.size).toBe(0);
  });
});
