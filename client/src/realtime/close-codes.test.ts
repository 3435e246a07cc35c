/**
 * What the client does for each close code, with a scripted socket and token endpoint (the close
 * codes 4401 and 4429 are hard to provoke on cue from a real server; client.test.ts covers the
 * rest against it).
 */
import { describe, expect, it } from 'vitest';
import { FakeSocket } from '../../test/fake-socket.js';
import { RealtimeClient } from './client.js';

const user = { id: 'u1', username: 'alice', displayName: 'alice', role: 'user' as const };

function setup(tokenStatus: () => number = () => 200) {
  FakeSocket.all = [];
  let tokens = 0;
  const rt = new RealtimeClient({
    baseUrl: 'http://relay.test',
    WebSocket: FakeSocket,
    random: () => 0.5,
    fetch: async () => {
      tokens++;
      const status = tokenStatus();
      const body = status === 200 ? { token: `t${tokens}`, expiresAt: new Date().toISOString() } : { error: { code: 'unauthenticated', message: 'x' } };
      return new Response(JSON.stringify(body), { status });
    },
  });
  /** Every retry the client scheduled, as the delay it chose. */
  const delays: number[] = [];
  rt.on('status', (s) => {
    if (s.retryAt) delays.push(s.retryAt - Date.now());
  });
  const settle = () => new Promise((r) => setTimeout(r, 10));
  return { rt, delays, settle, tokenCount: () => tokens };
}

describe('close codes', () => {
  it('uses a bare same-origin /ws URL and sends the token only in the first frame', async () => {
    const { rt, settle } = setup();
    rt.connect();
    await settle();
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe('ws://relay.test/ws');
    ws.open();
    expect(ws.sent).toEqual([{ type: 'authenticate', token: 't1' }]);
    ws.receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date().toISOString() });
    expect(rt.getStatus().state).toBe('live');
    rt.disconnect();
  });

  it('4401: one immediate retry with a fresh token, then backoff', async () => {
    const { rt, settle, delays, tokenCount } = setup();
    rt.connect();
    await settle();
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(4401, 'token_expired');
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    expect(tokenCount()).toBe(2);
    expect(delays).toEqual([]);
    FakeSocket.all[1].open();
    expect(FakeSocket.all[1].sent[0]).toEqual({ type: 'authenticate', token: 't2' });
    FakeSocket.all[1].drop(4401, 'invalid_token');
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    expect(rt.getStatus()).toMatchObject({ state: 'disconnected', attempt: 1, stopped: null });
    expect(rt.getStatus().retryAt).not.toBeNull();
    rt.disconnect();
  });

  it('4401 and then the token request answers 401: stops with session_ended', async () => {
    let status = 200;
    const { rt, settle } = setup(() => status);
    rt.connect();
    await settle();
    FakeSocket.all[0].open();
    status = 401;
    FakeSocket.all[0].drop(4401, 'invalid_token');
    await settle();
    expect(rt.getStatus()).toMatchObject({ state: 'disconnected', stopped: 'session_ended' });
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('4429 waits on the longer rate-limited backoff; 1001 on the normal one', async () => {
    const rt429 = new RealtimeClient({ baseUrl: 'http://relay.test', WebSocket: FakeSocket, random: () => 0.5, fetch: async () => new Response('{"token":"t"}') });
    FakeSocket.all = [];
    rt429.connect();
    await new Promise((r) => setTimeout(r, 10));
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(4429, 'rate_limited');
    const wait429 = rt429.getStatus().retryAt! - Date.now();
    rt429.disconnect();

    const rt1001 = new RealtimeClient({ baseUrl: 'http://relay.test', WebSocket: FakeSocket, random: () => 0.5, fetch: async () => new Response('{"token":"t"}') });
    FakeSocket.all = [];
    rt1001.connect();
    await new Promise((r) => setTimeout(r, 10));
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(1001, 'going_away');
    const wait1001 = rt1001.getStatus().retryAt! - Date.now();
    expect(rt1001.getStatus()).toMatchObject({ state: 'disconnected', stopped: null, closeCode: 1001 });
    rt1001.disconnect();

    expect(wait1001).toBeLessThanOrEqual(250); // 0.5 × 500 ms
    expect(wait429).toBeGreaterThanOrEqual(2_400); // 0.5 × 5 s
  });

  it('4403 stops for good, with the reason', async () => {
    const { rt, settle } = setup();
    rt.connect();
    await settle();
    FakeSocket.all[0].open();
    FakeSocket.all[0].drop(4403, 'account_disabled');
    await settle();
    expect(rt.getStatus()).toMatchObject({ state: 'disconnected', stopped: 'signed_out', closeReason: 'account_disabled', retryAt: null });
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('a send written just before the connection dropped stays pending through a long outage and is written again once', async () => {
    FakeSocket.all = [];
    const rt = new RealtimeClient({
      baseUrl: 'http://relay.test',
      WebSocket: FakeSocket,
      random: () => 0.5,
      ackTimeoutMs: 30,
      backoff: { baseMs: 400, maxMs: 400 },
      fetch: async () => new Response('{"token":"t"}'),
    });
    const settle = (ms = 10) => new Promise((r) => setTimeout(r, ms));
    rt.connect();
    await settle();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date().toISOString() });
    const id = rt.send('c1', 'hello');
    expect(FakeSocket.all[0].sent.filter((f) => f.type === 'send')).toHaveLength(1);
    FakeSocket.all[0].drop(1001, 'going_away');
    // Down for longer than the ack timeout (the retry waits 0.5 × 400 ms).
    await settle(120);
    expect(rt.getOutbox()).toMatchObject([{ clientMsgId: id, status: 'pending' }]);
    await settle(200);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1].open();
    FakeSocket.all[1].receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date().toISOString() });
    expect(FakeSocket.all[1].sent.filter((f) => f.type === 'send')).toEqual([{ type: 'send', channelId: 'c1', clientMsgId: id, body: 'hello', ref: `send:${id}` }]);
    rt.disconnect();
  });

  it('ignores frames that do not match the protocol', async () => {
    const { rt, settle } = setup();
    const seen: unknown[] = [];
    rt.on('message', (m) => seen.push(m));
    rt.connect();
    await settle();
    const ws = FakeSocket.all[0];
    ws.open();
    ws.receive({ type: 'authenticated', user, deviceId: 'd1', expiresAt: new Date().toISOString() });
    ws.receive({ type: 'message', message: { id: 1 } });
    ws.onmessage?.({ data: 'not json' });
    const message = { id: '7', channelId: 'c', seq: 1, senderId: 'u2', clientMsgId: 'x', body: 'hi', mentions: [], createdAt: new Date().toISOString(), editedAt: null, deletedAt: null };
    // v1's shape (no seq) is not the protocol any more.
    ws.receive({ type: 'message', message: { ...message, seq: undefined } });
    ws.receive({ type: 'message', seq: 1, message });
    expect(seen).toHaveLength(1);
    rt.disconnect();
  });
});
