/**
 * Fault drills with the real entry point (SEQ3, SEQ4, SEQ7, SHUT1): clients that send and read
 * at once, resuming with `sinceSeq` from their contiguous seq, through kill -9 of one of two
 * instances and SIGTERM restarts of the only one, several times each. Afterwards every
 * acknowledged message is stored once and every client holds the channel's whole sequence, in
 * order, exactly as the database has it.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type HttpClient } from '../test/harness.js';
import { baseServerEnv, killSpawned, registerAt, spawnServer, type ServerProcess } from '../test/process.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { StreamClient } from '../test/stream-client.js';

/** A drill starts four to six processes: on a loaded 2-core machine that alone can take 30 s. */
const DRILL_TIMEOUT_MS = 180_000;

const procs: ServerProcess[] = [];
const pools: pg.Pool[] = [];
const clients: StreamClient[] = [];
const redises: TestRedis[] = [];

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const p = await spawnServer(env);
  procs.push(p);
  return p;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await Promise.all(procs.splice(0).map((p) => p.killAll()));
  await killSpawned();
  await Promise.all(redises.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

/** Sends `prefix-0`, `prefix-1`… from `client` every `everyMs` until `stop` says so. */
function keepSending(client: StreamClient, prefix: string, everyMs: number, stop: () => boolean): Promise<string[]> {
  return (async () => {
    const ids: string[] = [];
    while (!stop()) {
      const id = `${prefix}-${ids.length}`;
      ids.push(id);
      client.send(id, `message ${id}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
    return ids;
  })();
}

/** What every drill checks at the end, against the database. */
async function expectNothingLost(databaseUrl: string, channelId: string, clientsOf: StreamClient[], sentIds: string[]): Promise<void> {
  for (const c of clientsOf) await expect.poll(() => c.outbox.size, { timeout: 30_000 }).toBe(0);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pools.push(pool);
  const { rows } = await pool.query<{ seq: string; client_msg_id: string; id: string }>(
    'SELECT seq, client_msg_id, id::text AS id FROM messages WHERE channel_id = $1 ORDER BY seq',
    [channelId],
  );
  // Every message sent is stored exactly once, with seqs 1..n.
  expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
  expect(new Set(rows.map((r) => r.client_msg_id)).size).toBe(rows.length);
  expect([...rows.map((r) => r.client_msg_id)].sort()).toEqual([...sentIds].sort());
  // Every client holds the whole sequence, as stored, and saw nothing twice or out of order.
  for (const c of clientsOf) {
    await expect.poll(() => c.contiguous, { timeout: 30_000 }).toBe(rows.length);
    expect(c.sequence().map((m) => m.id)).toEqual(rows.map((r) => r.id));
    expect(c.problems).toEqual([]);
    for (const [clientMsgId, m] of c.acked) expect(rows[m.seq - 1]?.client_msg_id).toBe(clientMsgId);
  }
}

async function usersAndChannel(url: string, names: string[]): Promise<{ users: HttpClient[]; channelId: string }> {
  const users = await Promise.all(names.map((n) => registerAt(url, n)));
  const ch = await users[0].post('/api/channels', { name: `drill-${names[0]}`, kind: 'private', memberIds: users.slice(1).map((u) => u.userId) });
  expect(ch.status).toBe(201);
  return { users, channelId: ch.body.channel.id };
}

describe('SEQ: fault drills with real processes', () => {
  it('SEQ3/SEQ7: kill -9 of one of two instances while users on both send, three times: every acked message stored once, every client ends with the full sequence', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const databaseUrl = await createTestDatabase();
    const env = { ...baseServerEnv(), DATABASE_URL: databaseUrl, REDIS_URL: redis.url, WS_RATE_PER_SEC: '1000', WS_BURST: '1000' };
    const servers = [await start(env), await start(env)];
    const { users, channelId } = await usersAndChannel(servers[0].url, ['killann', 'killben', 'killcat', 'killdan']);
    // Half start on each instance; each moves to the other when its instance is gone.
    const streamClients = users.map((u, i) => new StreamClient(i % 2 ? [servers[1].url, servers[0].url] : [servers[0].url, servers[1].url], u, channelId));
    clients.push(...streamClients);
    for (const c of streamClients) c.start();
    await expect.poll(() => streamClients.every((c) => c.connects >= 1), { timeout: 15_000 }).toBe(true);

    let stop = false;
    const sending = streamClients.map((c, i) => keepSending(c, `k${i}`, 15, () => stop));
    for (let round = 0; round < 3; round++) {
      const victim = round % 2;
      const acked = () => streamClients.reduce((n, c) => n + c.acked.size, 0);
      const before = acked();
      await expect.poll(acked, { timeout: 15_000 }).toBeGreaterThan(before + 20);
      await servers[victim].kill9();
      // The same instance comes back on its port, so clients can move back to it next round.
      await expect.poll(acked, { timeout: 15_000 }).toBeGreaterThan(before + 40);
      servers[victim] = await start({ ...env, PORT: String(servers[victim].port) });
    }
    stop = true;
    const sentIds = (await Promise.all(sending)).flat();
    await expectNothingLost(databaseUrl, channelId, streamClients, sentIds);
    console.log(
      `kill -9 ×3: ${sentIds.length} messages; reconnects ${streamClients.map((c) => c.connects - 1).join('/')}; resent ${streamClients.reduce((n, c) => n + c.resent, 0)}`,
    );
  }, DRILL_TIMEOUT_MS);

  it('SHUT1/SEQ4: SIGTERM and restart of the only instance mid-stream, three times: every acked message stored once, every client ends with the full sequence', async () => {
    const databaseUrl = await createTestDatabase();
    const env = { ...baseServerEnv(), DATABASE_URL: databaseUrl, WS_RATE_PER_SEC: '1000', WS_BURST: '1000' };
    let server = await start(env);
    const { users, channelId } = await usersAndChannel(server.url, ['termann', 'termben', 'termcat']);
    const streamClients = users.map((u) => new StreamClient([server.url], u, channelId));
    clients.push(...streamClients);
    for (const c of streamClients) c.start();
    await expect.poll(() => streamClients.every((c) => c.connects >= 1), { timeout: 15_000 }).toBe(true);

    let stop = false;
    const sending = streamClients.map((c, i) => keepSending(c, `t${i}`, 10, () => stop));
    for (let round = 0; round < 3; round++) {
      const acked = () => streamClients.reduce((n, c) => n + c.acked.size, 0);
      const before = acked();
      await expect.poll(acked, { timeout: 15_000 }).toBeGreaterThan(before + 30);
      const status = await server.stop('SIGTERM', 10_000);
      expect(status, server.output()).toEqual({ code: 0, signal: null });
      server = await start({ ...env, PORT: String(server.port) });
    }
    stop = true;
    const sentIds = (await Promise.all(sending)).flat();
    await expectNothingLost(databaseUrl, channelId, streamClients, sentIds);
    for (const c of streamClients) expect(c.closes.filter((x) => x.code === 1001).length).toBeGreaterThanOrEqual(1);
    console.log(
      `SIGTERM ×3: ${sentIds.length} messages; reconnects ${streamClients.map((c) => c.connects - 1).join('/')}; resent ${streamClients.reduce((n, c) => n + c.resent, 0)}`,
    );
  }, DRILL_TIMEOUT_MS);
});
