/** GET /api/search (CONTRACT "HTTP", "Search covers…"): full-text search on real Postgres. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpClient, type TestServer } from '../test/harness.js';
import { connect, type TestSocket } from '../test/ws-client.js';
import { toSegments } from './snippet.js';

let server: TestServer;
let ann: HttpClient;
let ben: HttpClient;
let annSocket: TestSocket;
let benSocket: TestSocket;
let refs = 0;

async function send(s: TestSocket, channelId: string, body: string): Promise<{ id: string }> {
  const ref = `r${++refs}`;
  s.send({ type: 'send', channelId, clientMsgId: `m${refs}`, body, ref });
  const f = await s.find((x) => x.ref === ref, 15_000);
  expect(f.type).toBe('ack');
  return f.message;
}

async function channel(owner: HttpClient, name: string, kind: 'public' | 'private'): Promise<string> {
  const res = await owner.post('/api/channels', { name, kind });
  expect(res.status).toBe(201);
  return res.body.channel.id;
}

const search = (who: HttpClient, params: Record<string, string>) => who.get(`/api/search?${new URLSearchParams(params)}`);
const bodies = (res: { body: { results: Array<{ message: { body: string } }> } }) => res.body.results.map((r) => r.message.body);

beforeAll(async () => {
  server = await startTestServer();
  ann = await server.register('searchann');
  ben = await server.register('searchben');
  annSocket = await connect(server.url, ann);
  benSocket = await connect(server.url, ben);
});
afterAll(async () => {
  annSocket?.ws.terminate();
  benSocket?.ws.terminate();
  await server?.close();
});

describe('search', () => {
  it('finds the messages holding the words of q, newest first, and not the others', async () => {
    const ch = await channel(ann, 'search-words', 'public');
    await send(annSocket, ch, 'The quarterly report is ready');
    await send(annSocket, ch, 'lunch at noon?');
    await send(annSocket, ch, 'Report sent to the Board');
    const res = await search(ann, { q: 'report' });
    expect(res.status).toBe(200);
    expect(bodies(res)).toEqual(['Report sent to the Board', 'The quarterly report is ready']);
    expect(res.body.results[0].channel).toMatchObject({ id: ch, name: 'search-words', kind: 'public' });
    expect(res.body.results[0].message).toMatchObject({ channelId: ch, deletedAt: null });
    expect(bodies(await search(ann, { q: 'quarterly report' }))).toEqual(['The quarterly report is ready']);
    expect(bodies(await search(ann, { q: 'nothinglikethis' }))).toEqual([]);
  });

  it('marks the matched words in the snippet as plain-text segments, never HTML', async () => {
    const ch = await channel(ann, 'search-snippet', 'public');
    await send(annSocket, ch, 'deploy <b>tonight</b> \u0001fake\u0002 please, the zebra build');
    const res = await search(ann, { q: 'zebra', channelId: ch });
    expect(res.status).toBe(200);
    const snippet = res.body.results[0].snippet as Array<{ text: string; match: boolean }>;
    expect(snippet.filter((s) => s.match)).toEqual([{ text: 'zebra', match: true }]);
    const text = snippet.map((s) => s.text).join('');
    expect(text).toContain('<b>tonight</b>');
    expect(text).toContain('zebra build');
    expect(text).not.toMatch(/[\u0001\u0002]/);
  });

  it('finds messages of a public channel the caller is not in, never of a private channel they left', async () => {
    const pub = await channel(ann, 'search-open', 'public');
    const priv = await channel(ann, 'search-secret', 'private');
    expect((await ann.post(`/api/channels/${priv}/members`, { userId: ben.userId })).status).toBe(200);
    await send(annSocket, pub, 'giraffe in the open');
    await send(annSocket, priv, 'giraffe in secret');
    expect(bodies(await search(ben, { q: 'giraffe' }))).toEqual(['giraffe in secret', 'giraffe in the open']);
    expect((await ben.post(`/api/channels/${priv}/leave`)).status).toBe(200);
    expect(bodies(await search(ben, { q: 'giraffe' }))).toEqual(['giraffe in the open']);
    const narrowed = await search(ben, { q: 'giraffe', channelId: priv });
    expect(narrowed.status).toBe(403);
    expect(narrowed.body.error.code).toBe('forbidden');
    const missing = await search(ben, { q: 'giraffe', channelId: '00000000-0000-0000-0000-000000000000' });
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual(narrowed.body);
  });

  it('never finds a deleted message', async () => {
    const ch = await channel(ann, 'search-deleted', 'public');
    const gone = await send(annSocket, ch, 'pelican one');
    await send(annSocket, ch, 'pelican two');
    await server.ctx.pool.query(`UPDATE messages SET deleted_at = now(), body = '' WHERE id = $1`, [gone.id]);
    expect(bodies(await search(ann, { q: 'pelican' }))).toEqual(['pelican two']);
    // A row marked deleted whose body was somehow kept is still not found.
    await server.ctx.pool.query(`UPDATE messages SET deleted_at = now() WHERE body = 'pelican two'`);
    expect(bodies(await search(ann, { q: 'pelican' }))).toEqual([]);
  });

  it('pages with before (a message id) and limit', async () => {
    const ch = await channel(ann, 'search-pages', 'public');
    for (let i = 1; i <= 5; i++) await send(annSocket, ch, `walrus ${i}`);
    const first = await search(ann, { q: 'walrus', limit: '2' });
    expect(bodies(first)).toEqual(['walrus 5', 'walrus 4']);
    const second = await search(ann, { q: 'walrus', limit: '2', before: first.body.results[1].message.id });
    expect(bodies(second)).toEqual(['walrus 3', 'walrus 2']);
    const third = await search(ann, { q: 'walrus', limit: '2', before: second.body.results[1].message.id });
    expect(bodies(third)).toEqual(['walrus 1']);
  });

  it('finds matches older than the newest 5,000 messages (the index phase), and pages across the two phases', async () => {
    const ch = await channel(ann, 'search-deep', 'public');
    const old = await send(annSocket, ch, 'ocelot from long ago');
    // 6,000 newer messages without the word, written straight to the table.
    await server.ctx.pool.query(
      `INSERT INTO messages (channel_id, seq, sender_id, client_msg_id, body)
       SELECT $1, 1 + i, $2, 'filler' || i, 'filler words ' || i FROM generate_series(1, 6000) i`,
      [ch, ann.userId],
    );
    await server.ctx.pool.query(`UPDATE channels SET last_seq = 6001 WHERE id = $1`, [ch]);
    const recent = await send(annSocket, ch, 'ocelot today');
    expect(bodies(await search(ann, { q: 'ocelot' }))).toEqual(['ocelot today', 'ocelot from long ago']);
    const next = await search(ann, { q: 'ocelot', limit: '1', before: recent.id });
    expect(next.body.results.map((r: { message: { id: string } }) => r.message.id)).toEqual([old.id]);
    expect(bodies(await search(ben, { q: 'ocelot', channelId: ch }))).toEqual(['ocelot today', 'ocelot from long ago']);
  });

  it('refuses an empty or blank q, a bad limit, and strangers', async () => {
    for (const q of ['', '   ']) {
      const res = await search(ann, { q });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toContain('q');
    }
    expect((await ann.get('/api/search')).status).toBe(400);
    expect((await search(ann, { q: 'x', limit: '51' })).status).toBe(400);
    expect((await search(ann, { q: 'x', before: 'abc' })).status).toBe(400);
    expect((await server.client().get('/api/search?q=x')).status).toBe(401);
  });
});

describe('toSegments', () => {
  it('splits on the markers and keeps text outside them', () => {
    expect(toSegments('a \u0001b\u0002 c \u0001d\u0002')).toEqual([
      { text: 'a ', match: false },
      { text: 'b', match: true },
      { text: ' c ', match: false },
      { text: 'd', match: true },
    ]);
    expect(toSegments('plain')).toEqual([{ text: 'plain', match: false }]);
  });
});
