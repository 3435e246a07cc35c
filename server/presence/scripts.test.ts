/**
 * The presence scripts on a real redis-server (PRES3): every key a script touches is one it
 * declared in KEYS (watched with MONITOR, which lists the commands a script runs), and after
 * their first use the scripts go by EVALSHA, never their text (INFO commandstats).
 */
import { spawn } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from '../redis.js';
import { startRedis, type TestRedis } from '../test/redis-server.js';
import { RedisPresence } from './redis.js';
import { PRESENCE_SCRIPTS, PRESENCE_TAG } from './scripts.js';

const log = pino({ level: 'silent' });
const BOUND_MS = 1_000; // lease 600 ms, heartbeat 200 ms

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' };

/** Parses the quoted arguments of a MONITOR line (escaped as Redis's sdscatrepr does). */
function monitorArgs(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1].replace(/\\(x[0-9a-f]{2}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (ESCAPES[e] ?? e))),
  );
}

/** Where the keys are in the arguments of each command the presence scripts run. */
const KEY_POSITIONS: Record<string, (args: string[]) => string[]> = {
  sadd: (a) => [a[0]],
  srem: (a) => [a[0]],
  scard: (a) => [a[0]],
  smembers: (a) => [a[0]],
  get: (a) => [a[0]],
  set: (a) => [a[0]],
  incr: (a) => [a[0]],
  exists: (a) => a,
  del: (a) => a,
  time: () => [],
};

describe('presence scripts', () => {
  let server: TestRedis;
  const clients: RedisClient[] = [];
  const client = async () => {
    const c = createRedis(server.url, log, 'test');
    await c.connect();
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await server.stop();
  });

  /**
   * Runs every presence script at least once, through RedisPresence as the server uses it: a
   * transition each way, a snapshot, a reaffirm, the reaping of a crashed instance and an
   * instance leaving on stop.
   */
  async function exercise(tag: string) {
    const crashed = new RedisPresence(await client(), log, BOUND_MS);
    const offline: string[] = [];
    const survivor = new RedisPresence(await client(), log, BOUND_MS);
    crashed.start({ offline: () => {}, online: () => {} });
    survivor.start({ offline: (changes) => offline.push(...changes.map((c) => c.userId)), online: () => {} });
    const seq = (await crashed.connect(`${tag}-crashed`, `${tag}-d1`))!;
    await survivor.connect(`${tag}-leaving`, `${tag}-d2`);
    await survivor.connect(`${tag}-brief`, `${tag}-d3`);
    await survivor.disconnect(`${tag}-brief`, `${tag}-d3`);
    expect((await survivor.snapshot([`${tag}-crashed`, `${tag}-leaving`])).online).toEqual(new Set([`${tag}-crashed`, `${tag}-leaving`]));
    expect(await survivor.reaffirm(`${tag}-crashed`, seq)).toBe(seq);
    // The crash: no more heartbeats, the lease gone; the survivor reaps it.
    clearInterval((crashed as unknown as { timer: NodeJS.Timeout }).timer);
    await (await client()).del(`${PRESENCE_TAG}:alive:${crashed.instanceId}`);
    await expect.poll(() => offline, { timeout: 10_000 }).toEqual([`${tag}-crashed`]);
    await survivor.stop(); // leaves, reaping itself
    expect(offline).toEqual([`${tag}-crashed`, `${tag}-leaving`]);
  }

  it('PRES3: every key a presence script touches is declared in its KEYS, and all carry the one hash tag', async () => {
    const admin = await client();
    const monitor = spawn('redis-cli', ['-p', String(server.port), 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    monitor.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out.startsWith('OK'), { timeout: 10_000 }).toBe(true);
      await exercise('mon');
      // Everything up to this marker is in the output once it is.
      await admin.echo('monitor-done');
      await expect.poll(() => out.includes('"monitor-done"'), { timeout: 10_000 }).toBe(true);
    } finally {
      monitor.kill('SIGKILL');
    }

    const byHash = new Map(PRESENCE_SCRIPTS.map((s) => [s.sha1, s.name]));
    const ran = new Set<string>();
    const touched: string[] = [];
    let declared: Set<string> | null = null; // the keys of the script running, while its commands are listed
    let current = '';
    for (const line of out.split('\n')) {
      const args = monitorArgs(line);
      if (args.length === 0) continue;
      if (!line.includes(' lua] ')) {
        declared = null;
        const command = args[0].toLowerCase();
        if (command !== 'evalsha' && command !== 'eval') continue;
        const keys = args.slice(3, 3 + Number(args[2]));
        current = command === 'evalsha' ? (byHash.get(args[1]) ?? args[1]) : (PRESENCE_SCRIPTS.find((s) => s.source === args[1])?.name ?? 'eval');
        ran.add(current);
        for (const key of keys) expect(key.startsWith(`${PRESENCE_TAG}:`), `${current} declares ${key}`).toBe(true);
        declared = new Set(keys);
        continue;
      }
      // A command run by the script being executed (Redis runs one script at a time).
      expect(declared, `a script command outside a script: ${line}`).not.toBeNull();
      const command = args[0].toLowerCase();
      const keysOf = KEY_POSITIONS[command];
      expect(keysOf, `${current} runs ${command}, whose keys this test does not know`).toBeDefined();
      for (const key of keysOf(args.slice(1))) {
        touched.push(key);
        expect(declared!.has(key), `${current} touches ${key} without declaring it`).toBe(true);
      }
    }
    expect([...ran].sort()).toEqual(PRESENCE_SCRIPTS.map((s) => s.name).sort());
    expect(touched.length).toBeGreaterThan(20);
  });

  it('PRES3: after their first use the scripts go by EVALSHA, their text is not sent again (INFO commandstats)', async () => {
    const admin = await client();
    await admin.scriptFlush(); // as after a Redis restart: the first use of each loads it (NOSCRIPT, then EVAL)
    await exercise('warm');
    await admin.configResetStat();
    await exercise('hot');
    const stats = await admin.info('commandstats');
    const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('evalsha')).toBeGreaterThanOrEqual(10);
    expect(calls('eval')).toBe(0);
    expect(stats).not.toMatch(/cmdstat_evalsha:.*failed_calls=[1-9]/); // no NOSCRIPT once loaded
  });
});
