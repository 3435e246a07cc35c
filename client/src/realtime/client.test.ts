/**
 * The realtime client against the real server (gateway, Postgres), in Node with `ws` and the
 * cookies of a login, as a command-line client would run it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../../../server/test/harness.js';
import { nextEvent, nodeRealtime, sleep, waitForState } from '../../test/node-realtime.js';
import { backoffCeiling } from './backoff.js';
import type { RealtimeClient } from './client.js';
import { exportJWK, generateKeyPair } from 'jose';
import { dpopProof, publicMembers, ServerClock, type ProofKey } from '../../../shared/proofs.js';

const clients: RealtimeClient[] = [];
function track<T extends { rt: RealtimeClient }>(x: T): T {
  clients.push(x.rt);
  return x;
}
afterEach(() => {
  for (const rt of clients.splice(0)) rt.disconnect();
});

async function channelWith(owner: HttpClient, ...others: HttpClient[]): Promise<string> {
  const res = await owner.post('/api/channels', { name: `room-${Math.random().toString(36).slice(2, 8)}`, kind: 'public' });
  expect(res.status).toBe(201);
  const id: string = res.body.channel.id;
  for (const o of others) expect((await o.post(`/api/channels/${id}/join`)).status).toBe(200);
  return id;
}

async function history(http: HttpClient, channelId: string) {
  const res = await http.get(`/api/channels/${channelId}/messages?limit=200`);
  expect(res.status).toBe(200);
  return res.body.messages as Array<{ id: string; seq: number; clientMsgId: string; body: string; senderId: string }>;
}

describe('RealtimeClient against the real server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('connects: fresh token, bare /ws URL, authenticate as the first frame, then live', async () => {
    const alice = await server.register();
    const { rt, rec } = track(nodeRealtime(server.url, alice));
    const states: string[] = [];
    rt.on('status', (s) => states.push(s.state));
    rt.connect();
    const auth = await nextEvent(rt, 'authenticated');
    expect(auth.user.id).toBe(alice.userId);
    expect(auth.deviceId).toBe(alice.deviceId);
    expect(rt.getStatus().state).toBe('live');
    expect(states).toEqual(['connecting', 'authenticating', 'live']);
    expect(rec.sockets[0][0]).toMatchObject({ type: 'authenticate' });
    // The token of the first frame is not the one of the login response: it was fetched fresh.
    expect(rec.sockets[0][0].token).not.toBe(alice.token);
  });

  it('backs off with full jitter while the server is unreachable, within [0, ceiling) per attempt', async () => {
    const alice = await server.register();
    const policy = { baseMs: 20, maxMs: 160 };
    const dead = 'http://127.0.0.1:1'; // nothing listens on port 1
    const { rt } = track(nodeRealtime(dead, alice, { backoff: policy, random: () => 0.999 }));
    const delays: number[] = [];
    rt.on('status', (s) => {
      if (s.state === 'disconnected' && s.retryAt) delays.push(s.retryAt - Date.now());
    });
    rt.connect();
    while (delays.length < 6) await sleep(20);
    rt.disconnect();
    delays.slice(0, 6).forEach((d, attempt) => {
      const ceiling = backoffCeiling(attempt, policy);
      expect(d).toBeLessThan(ceiling + 1);
      expect(d).toBeGreaterThanOrEqual(ceiling * 0.999 - 15); // random pinned near 1: close to the ceiling
    });
    expect(Math.max(...delays)).toBeLessThanOrEqual(policy.maxMs);
  });

  it('SEQ4: after a reconnect it resubscribes with sinceSeq = the last contiguous seq and gets the missed messages once, in order', async () => {
    const alice = await server.register();
    const bob = await server.register();
    const channelId = await channelWith(alice, bob);
    const a = track(nodeRealtime(server.url, alice));
    const b = track(nodeRealtime(server.url, bob));
    a.rt.subscribe(channelId);
    b.rt.subscribe(channelId);
    const aSubscribed = nextEvent(a.rt, 'subscribed');
    a.rt.connect();
    b.rt.connect();
    await aSubscribed;
    await waitForState(b.rt, 'live');

    const seen: Array<{ body: string; replay: boolean }> = [];
    a.rt.on('message', ({ message, replay }) => seen.push({ body: message.body, replay }));
    const first = nextEvent(a.rt, 'message');
    b.rt.send(channelId, 'one');
    const m1 = (await first).message;

    a.rt.disconnect();
    b.rt.send(channelId, 'two');
    b.rt.send(channelId, 'three');
    await nextEvent(b.rt, 'ack', (x) => x.message.body === 'three');

    const resubscribed = nextEvent(a.rt, 'subscribed');
    a.rt.connect();
    await resubscribed;
    const second = a.rec.sockets[a.rec.sockets.length - 1];
    expect(second.find((f) => f.type === 'subscribe')).toEqual({ type: 'subscribe', channelId, sinceSeq: m1.seq, ref: `sub:${channelId}` });
    expect(seen).toEqual([
      { body: 'one', replay: false },
      { body: 'two', replay: true },
      { body: 'three', replay: true },
    ]);
    expect(a.rt.position(channelId)).toBe((await history(alice, channelId)).at(-1)!.seq);
  });

  it('MSG2: a send whose ack was lost is written again on the next connection with the same clientMsgId, exactly once, and stored once', async () => {
    const alice = await server.register();
    const channelId = await channelWith(alice);
    const a = track(nodeRealtime(server.url, alice, { ackTimeoutMs: 60_000 }));
    // The first socket never sees an ack: the message is stored but the client cannot know it.
    a.rec.dropIncoming = (f, socket) => socket === 0 && f.type === 'ack';
    a.rt.subscribe(channelId);
    const subscribed = nextEvent(a.rt, 'subscribed');
    a.rt.connect();
    await subscribed;

    const id1 = a.rt.send(channelId, 'lost ack');
    const id2 = a.rt.send(channelId, 'second, same connection');
    // Both stored (their acks were dropped on the way back), so the client cannot know it.
    await expect.poll(async () => (await history(alice, channelId)).length, { timeout: 10_000 }).toBe(2);
    expect(a.rt.getOutbox().map((e) => [e.body, e.status])).toEqual([
      ['lost ack', 'pending'],
      ['second, same connection', 'pending'],
    ]);
    // On one connection each entry was written once, even though the outbox was flushed twice.
    const sendsOn = (i: number) => a.rec.sockets[i].filter((f) => f.type === 'send').map((f) => f.clientMsgId);
    expect(sendsOn(0)).toEqual([id1, id2]);

    const acked = new Set<string>();
    a.rt.on('ack', ({ clientMsgId }) => acked.add(clientMsgId));
    a.rt.reconnectNow();
    await waitForState(a.rt, 'live');
    await expect.poll(() => a.rt.getOutbox(), { timeout: 10_000 }).toEqual([]);
    expect(sendsOn(1)).toEqual([id1, id2]);
    expect([...acked].sort()).toEqual([id1, id2].sort());

    const rows = await history(alice, channelId);
    expect(rows.filter((m) => m.clientMsgId === id1)).toHaveLength(1);
    expect(rows.filter((m) => m.clientMsgId === id2)).toHaveLength(1);
    expect(rows).toHaveLength(2);
  });

  it('queues sends while disconnected and writes them once live', async () => {
    const alice = await server.register();
    const channelId = await channelWith(alice);
    const a = track(nodeRealtime(server.url, alice));
    a.rt.subscribe(channelId);
    const clientMsgId = a.rt.send(channelId, 'written offline');
    expect(a.rt.getOutbox()[0]).toMatchObject({ clientMsgId, status: 'pending' });
    const ack = nextEvent(a.rt, 'ack');
    a.rt.connect();
    expect((await ack).message.clientMsgId).toBe(clientMsgId);
    expect((await history(alice, channelId)).map((m) => m.body)).toEqual(['written offline']);
  });

  it('REV1: close 4403 stops the client for good and says the device was signed out', async () => {
    const alice = await server.register();
    const other = await server.login(alice.auth.user.username);
    const a = track(nodeRealtime(server.url, alice));
    a.rt.connect();
    await waitForState(a.rt, 'live');
    const stopped = nextEvent(a.rt, 'status', (s) => s.stopped !== null);
    expect((await other.post(`/api/devices/${alice.deviceId}/revoke`)).status).toBe(200);
    const s = await stopped;
    expect(s).toMatchObject({ state: 'disconnected', stopped: 'signed_out', closeCode: 4403, closeReason: 'device_revoked', retryAt: null });
    // Stopped for good: no retry is scheduled (retryAt null above), and it stays disconnected.
    expect(a.rt.getStatus().state).toBe('disconnected');
  });

  it('goes to sign-in (session_ended) when POST /api/auth/token answers 401', async () => {
    const nobody = server.client();
    const a = track(nodeRealtime(server.url, nobody));
    a.rt.connect();
    const s = await nextEvent(a.rt, 'status', (x) => x.stopped !== null);
    expect(s.stopped).toBe('session_ended');
    expect(a.rec.sockets).toHaveLength(0);
  });
});

describe('RealtimeClient across a server restart', () => {
  it('SHUT1: reconnects after 1001, resubscribes with sinceSeq and delivers the outbox exactly once', async () => {
    let server = await startTestServer();
    const alice = await server.register();
    const bob = await server.register();
    const channelId = await channelWith(alice, bob);
    const a = track(nodeRealtime(server.url, alice, { backoff: { baseMs: 200, maxMs: 1_000 } }));
    const b = track(nodeRealtime(server.url, bob, { backoff: { baseMs: 200, maxMs: 1_000 } }));
    a.rt.subscribe(channelId);
    b.rt.subscribe(channelId);
    const bSub = nextEvent(b.rt, 'subscribed');
    a.rt.connect();
    b.rt.connect();
    await bSub;
    await waitForState(a.rt, 'live');
    const bodies: string[] = [];
    b.rt.on('message', ({ message }) => bodies.push(message.body));
    a.rt.send(channelId, 'before restart');
    await nextEvent(b.rt, 'message');

    const closed = nextEvent(a.rt, 'status', (s) => s.closeCode === 1001);
    const { port, env } = server;
    await server.close();
    await closed;
    a.rt.send(channelId, 'during restart');
    server = await startTestServer({
      databaseUrl: env.DATABASE_URL,
      env: { PORT: String(port), JWT_SECRET: env.JWT_SECRET, SESSION_SECRET: env.SESSION_SECRET },
    });
    try {
      await waitForState(a.rt, 'live', 15_000);
      await waitForState(b.rt, 'live', 15_000);
      for (let i = 0; i < 100 && !bodies.includes('during restart'); i++) await sleep(50);
      a.rt.send(channelId, 'after restart');
      for (let i = 0; i < 100 && !bodies.includes('after restart'); i++) await sleep(50);
      expect(bodies).toEqual(['before restart', 'during restart', 'after restart']);
      expect((await history(alice, channelId)).map((m) => m.body)).toEqual(['before restart', 'during restart', 'after restart']);
    } finally {
      a.rt.disconnect();
      b.rt.disconnect();
      await server.close();
    }
  });
});

describe('RealtimeClient token lifecycle', () => {
  let server: TestServer;
  beforeAll(async () => {
    // TOK1: with a short lifetime the server warns at half of it (here after 3 s).
    server = await startTestServer({ env: { TOKEN_TTL: '6s' } });
  });
  afterAll(() => server?.close());

  it('TOK2: answers token_expiring with refresh and a fresh token, and stays on the same connection past the first expiry', async () => {
    const alice = await server.register();
    const a = track(nodeRealtime(server.url, alice));
    a.rt.connect();
    const auth = await nextEvent(a.rt, 'authenticated');
    const refreshed = await nextEvent(a.rt, 'refreshed', () => true, 10_000);
    expect(new Date(refreshed.expiresAt).getTime()).toBeGreaterThan(new Date(auth.expiresAt).getTime());
    const refresh = a.rec.sockets[0].find((f) => f.type === 'refresh');
    expect(refresh?.token).toEqual(expect.any(String));
    expect(refresh?.token).not.toBe(a.rec.sockets[0][0].token);
    await sleep(Math.max(0, new Date(auth.expiresAt).getTime() - Date.now()) + 1_500);
    expect(a.rt.getStatus().state).toBe('live');
    expect(a.rec.sockets).toHaveLength(1);
  }, 30_000);
});

describe('RealtimeClient with a device key (proof of possession)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TOKEN_TTL: '6s' } });
  });
  afterAll(() => server?.close());

  const newKey = async (): Promise<ProofKey> => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    return { privateKey, publicJwk: publicMembers(await exportJWK(publicKey)) };
  };

  it('POP: a bound device proves its key on the token request, the authenticate and every refresh, on one connection', async () => {
    const key = await newKey();
    const alice = await server.register(undefined, undefined, { deviceKey: key.publicJwk });
    const a = track(nodeRealtime(server.url, alice, { proofKey: async () => key }));
    a.rt.connect();
    const auth = await nextEvent(a.rt, 'authenticated');
    expect(auth.deviceId).toBe(alice.deviceId);
    // The first frame still is the authenticate, now with a proof (written after the challenge).
    expect(a.rec.sockets[0][0]).toMatchObject({ type: 'authenticate', proof: expect.any(String) });
    await nextEvent(a.rt, 'refreshed', () => true, 10_000);
    await nextEvent(a.rt, 'refreshed', () => true, 10_000);
    const refreshes = a.rec.sockets[0].filter((f) => f.type === 'refresh');
    expect(refreshes.length).toBeGreaterThanOrEqual(2);
    for (const r of refreshes) expect(r.proof).toEqual(expect.any(String));
    expect(a.rt.getStatus().state).toBe('live');
    expect(a.rec.sockets).toHaveLength(1);
  }, 30_000);

  it('CLOCK: a bound client whose clock is 5 minutes fast learns the server time from Date, retries its token request once, and goes live', async () => {
    const key = await newKey();
    const dave = await server.register(undefined, undefined, { deviceKey: key.publicJwk });
    const clock = new ServerClock(() => Date.now() + 5 * 60_000); // the system clock is left alone
    const tokenAnswers: number[] = [];
    const d = track(
      nodeRealtime(server.url, dave, {
        proofKey: async () => key,
        clock,
        fetch: async (input, init) => {
          const res = await fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), cookie: dave.cookieHeader() } });
          if (String(input).endsWith('/api/auth/token')) tokenAnswers.push(res.status);
          return res;
        },
      }),
    );
    d.rt.connect();
    const auth = await nextEvent(d.rt, 'authenticated', () => true, 15_000);
    expect(auth.deviceId).toBe(dave.deviceId);
    // The first proof was dated 5 minutes ahead: refused, and the answer's Date corrected the clock.
    expect(tokenAnswers).toEqual([401, 200]);
    expect(Math.abs(clock.offset + 5 * 60_000)).toBeLessThan(5_000);
    // The socket proofs are dated on the corrected clock too: refreshes keep the one connection live.
    await nextEvent(d.rt, 'refreshed', () => true, 15_000);
    expect(d.rt.getStatus().state).toBe('live');
    expect(d.rec.sockets).toHaveLength(1);
    // The session is untouched: an API request with a proof on the corrected clock works.
    const me = await fetch(server.url + '/api/auth/me', {
      headers: { cookie: dave.cookieHeader(), dpop: await dpopProof(key, 'GET', server.url + '/api/auth/me', clock) },
    });
    expect(me.status).toBe(200);
  }, 30_000);

  it('POP: the same cookies with another key (a copied session without the key file) never get live', async () => {
    const key = await newKey();
    const bob = await server.register(undefined, undefined, { deviceKey: key.publicJwk });
    const thief = await newKey();
    const b = track(nodeRealtime(server.url, bob, { proofKey: async () => thief }));
    b.rt.connect();
    const stopped = await nextEvent(b.rt, 'status', (s) => s.stopped !== null, 15_000);
    expect(stopped.stopped).toBe('session_ended');
    expect(b.rec.sockets).toHaveLength(0);
  }, 30_000);
});
