/**
 * WORKERS=2: node:cluster workers sharing one port, one Redis and one Postgres. Ten clients
 * connected through the shared port can all message each other and see each other's presence,
 * which only works if fan-out crosses workers (MSG1, PRES1); SIGTERM to the primary closes every
 * socket 1001 and stops every worker (SHUT1).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type HttpClient } from '../test/harness.js';
import { baseServerEnv, killSpawned, registerAt, spawnServer, type ServerProcess } from '../test/process.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { connect, type TestSocket } from '../test/ws-client.js';

const CLIENTS = 10;
let redis: TestRedis;
let server: ServerProcess;
const sockets: TestSocket[] = [];

/** Pids of the primary's live children (the workers), read from /proc. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Socket inodes held open by a process (its fds that are sockets). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* fd closed meanwhile */
    }
  }
  return inodes;
}

/** The worker pid whose accepted TCP socket has this client port as its peer (0 if none). */
function workerOf(clientPort: number, workers: number[]): number {
  const peer = clientPort.toString(16).toUpperCase().padStart(4, '0');
  const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const inodes = rows.filter((r) => r.length > 9 && r[2].endsWith(`:${peer}`)).map((r) => r[9]);
  for (const pid of workers) {
    const held = socketInodes(pid);
    if (inodes.some((i) => held.has(i))) return pid;
  }
  return 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  redis = await startRedis();
  server = await spawnServer(
    {
      ...baseServerEnv(),
      DATABASE_URL: await createTestDatabase(),
      REDIS_URL: redis.url,
      WORKERS: '2',
      PRESENCE_TTL_MS: '3000',
    },
    { readyTimeoutMs: 45_000 },
  );
});

afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await server?.killAll();
  await killSpawned();
  await redis?.stop();
});

describe('WORKERS=2 on one port', () => {
  it('MSG1/PRES1: ten clients through the shared port see each other online and receive every message once', async () => {
    // Both workers must be up before we rely on round-robin.
    await expect.poll(() => childPids(server.pid).length, { timeout: 30_000 }).toBe(2);

    const users: HttpClient[] = [];
    for (let i = 0; i < CLIENTS; i++) users.push(await registerAt(server.url, `worker${i}`));
    const ch = await users[0].post('/api/channels', { name: 'everyone', kind: 'public' });
    expect(ch.status).toBe(201);
    const channelId = ch.body.channel.id as string;
    for (const u of users.slice(1)) expect((await u.post(`/api/channels/${channelId}/join`)).status).toBe(200);

    // The observer subscribes first; the other nine arrive one by one.
    const conns: TestSocket[] = [];
    for (const u of users) {
      const s = await connect(server.url, u);
      sockets.push(s);
      s.send({ type: 'subscribe', channelId });
      await s.next('subscribed', 10_000);
      conns.push(s);
    }
    const observer = conns[0];
    const onlineSeen = () =>
      new Set(observer.all('presence').filter((f) => f.status === 'online' && f.channelId === channelId).map((f) => f.userId as string));
    await expect.poll(() => onlineSeen().size, { timeout: 10_000 }).toBe(CLIENTS - 1);
    expect(onlineSeen()).toEqual(new Set(users.slice(1).map((u) => u.userId)));

    // Sockets really are spread over both workers: find the worker holding each client's TCP peer.
    const owner = conns.map((s) => workerOf((s.ws as unknown as { _socket: { localPort: number } })._socket.localPort, childPids(server.pid)));
    const counts = new Map<number, number>();
    for (const pid of owner) counts.set(pid, (counts.get(pid) ?? 0) + 1);
    console.log(`WORKERS=2: sockets per worker pid: ${JSON.stringify(Object.fromEntries(counts))}`);
    expect(owner.every((pid) => pid > 0)).toBe(true);
    expect(counts.size).toBe(2);

    // Everyone sends one message; everyone else receives each exactly once.
    const acks = await Promise.all(
      conns.map(async (s, i) => {
        s.send({ type: 'send', channelId, clientMsgId: `w${i}`, body: `from ${i}` });
        return (await s.next('ack', 10_000)).message.id as string;
      }),
    );
    for (const [i, s] of conns.entries()) {
      const expected = acks.filter((_, j) => j !== i).sort();
      await expect.poll(() => s.all('message').length, { timeout: 10_000 }).toBe(CLIENTS - 1);
      expect(s.all('message').map((f) => f.message.id as string).sort()).toEqual(expected);
    }
  });

  it('SHUT1: SIGTERM to the primary closes every socket 1001 and stops both workers; the primary exits 0', async () => {
    const workers = childPids(server.pid);
    expect(workers).toHaveLength(2);
    const open = sockets.filter((s) => !s.closed);
    expect(open.length).toBe(CLIENTS);
    const t0 = Date.now();
    const exit = server.stop('SIGTERM', 15_000);
    const closes = await Promise.all(open.map((s) => s.waitClose(10_000)));
    for (const c of closes) expect(c).toEqual({ code: 1001, reason: 'going_away' });
    const status = await exit;
    console.log(`WORKERS=2 SIGTERM: primary exit ${JSON.stringify(status)} after ${Date.now() - t0} ms`);
    expect(status, server.output()).toEqual({ code: 0, signal: null });
    for (const pid of workers) expect(alive(pid), `worker ${pid} still alive`).toBe(false);
  });
});
