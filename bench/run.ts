/**
 * `npm run bench [-- --quick] [-- --only=raw,sio,relay,cluster,pop,loginstorm,storm,stormtoken] [-- --profile]`
 *
 * Side by side, in one run, with one load client (bench/load-worker.ts) and one 100-byte body:
 *   raw ws (bench/raw-server.ts), Socket.IO 4 (bench/socketio-server.ts), Relay (bench/relay-server.ts
 *   → the real startServer, its own process, embedded Postgres), and two Relay instances on Redis.
 * Prints a table and writes bench/results/latest.json. Not a test: nothing here fails on a target;
 * the table says which targets were met and by how much they were missed.
 *
 * Then, on the single Relay: authenticated connections of bound devices (proofs) against raw ws
 * handshakes (bench/pop.ts), send→deliver latency with and without a storm of logins (argon2id)
 * in interleaved windows, and reconnect storms (bench/reconnect-storm.ts): Relay restarted under
 * N subscribed sockets that come back like the browser's client.
 *
 * Every server and the load generator run as separate processes; this orchestrator only sets up
 * (HTTP), samples counters and runs the light revoke→close probe and the logins. All traffic is on loopback.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { startEmbeddedPostgres, freePort, type EmbeddedDatabase } from '../server/db/embedded.js';
import { BENCH_DIR, Child, percentileOf, sleep, startChild, type LatencySummary } from './common.js';
import type { ConnectResult, Cred, Target } from './load-worker.js';
import { RelayHttp, mapLimit } from './relay-http.js';
import { reconnectStorm, type ReconnectStormResult, type RelayProcess } from './reconnect-storm.js';
import { bindBenchDevices, boundVsRaw, measureAuthWithProofs, popRows, type PopResult } from './pop.js';
import type { TokenPolicy } from './storm-client.js';

// ------------------------------------------------------------------------------ parameters

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const PARTS = ['raw', 'sio', 'relay', 'cluster', 'pop', 'loginstorm', 'storm', 'stormtoken'];
/** The quick run leaves out the second reconnect storm (token per attempt), ~30 s; --only=stormtoken adds it. */
const DEFAULT_PARTS = QUICK ? PARTS.filter((p) => p !== 'stormtoken') : PARTS;
const ONLY = new Set((argv.find((a) => a.startsWith('--only='))?.slice(7) ?? DEFAULT_PARTS.join(',')).split(','));
for (const part of ONLY) if (!PARTS.includes(part)) throw new Error(`--only: unknown part ${part} (known: ${PARTS.join(', ')})`);
/** The single Relay instance runs for its own comparisons and for the storms. */
const SINGLE_RELAY = ['relay', 'pop', 'loginstorm', 'storm', 'stormtoken'].some((k) => ONLY.has(k));

/**
 * The machine is shared and noisy, so every comparison is interleaved: all servers run at once
 * (idle ones cost nothing), and the measurement is cut into short windows taken in turn —
 * raw, Socket.IO, Relay, Relay on Redis, … — rotating the order each round. A burst of someone
 * else's load then hits every contender alike, and ratios stay meaningful.
 */
const P = QUICK
  ? {
      idleSockets: 1_000,
      connectRounds: 2,
      popBatches: 3,
      popPerBatch: 500,
      connectConcurrency: 50,
      subscribers: 1_000,
      senders: 50,
      windowMsgs: 10,
      rounds: 2,
      warmupMs: 500,
      windowMs: 1_500,
      latencyRounds: 2,
      latencyWarmupMs: 500,
      latencyWindowMs: 1_500,
      users: 10,
      revokeSamples: 10,
      // Login storm: fixed moderate rate, quiet and storm windows interleaved.
      lsSubscribers: 300,
      lsRate: 20,
      lsLoginsPerSec: 10,
      lsRounds: 4,
      lsWarmupMs: 500,
      lsWindowMs: 2_000,
      // Reconnect storm: sockets held while Relay restarts (quick: fewer than full).
      stormSockets: 2_000,
      stormDeadlineMs: 60_000,
    }
  : {
      idleSockets: 5_000,
      connectRounds: 5,
      popBatches: 5,
      popPerBatch: 1_000,
      connectConcurrency: 50,
      subscribers: 1_000,
      senders: 50,
      windowMsgs: 10,
      rounds: 6,
      warmupMs: 1_000,
      windowMs: 2_000,
      latencyRounds: 4,
      latencyWarmupMs: 1_000,
      latencyWindowMs: 3_000,
      users: 100,
      revokeSamples: 60,
      lsSubscribers: 300,
      lsRate: 20,
      lsLoginsPerSec: 10,
      lsRounds: 6,
      lsWarmupMs: 1_000,
      lsWindowMs: 3_000,
      stormSockets: 5_000,
      stormDeadlineMs: 60_000,
    };

const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const HOST = '127.0.0.1';
/** Client source addresses: spreads ephemeral ports (and TIME_WAIT) over several loopback IPs. */
const LOCAL_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
const started = Date.now();
const log = (msg: string) => console.log(`[bench +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

// ------------------------------------------------------------------------------ resources to clean up

const cleanups: Array<() => Promise<unknown>> = [];
async function cleanupAll(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}
process.on('SIGINT', () => {
  void cleanupAll().then(() => process.exit(130));
});

// ------------------------------------------------------------------------------ machine CPU (/proc/stat)

function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

// ------------------------------------------------------------------------------ contenders

interface Snapshot {
  at: number;
  delivered: number;
  sent: number;
  acks: number;
  errors: number;
  overloaded: boolean;
  inFlight: number;
  closeCodes: Record<string, number>;
  errorSamples: string[];
}

interface CpuSample {
  userUs: number;
  systemUs: number;
}

async function cpuOf(children: Child[]): Promise<number> {
  const samples = await Promise.all(children.map((s) => s.call<CpuSample>('cpu')));
  return samples.reduce((a, s) => a + s.userUs + s.systemUs, 0);
}

/** One thing being measured: its server processes and the groups of sockets the worker holds for it. */
interface Contender {
  key: string;
  label: string;
  servers: Child[];
  /** Connects of its fan-out subscribers: [target, count, group]. */
  subscribe: Array<{ target: Target; count: number; group: string }>;
  senderGroup: string;
  channelId?: string;
  creds?: Cred[];
  /** Something that runs during each of its windows (warm-up included), e.g. the login storm. */
  around?: { start(): void; stop(): Promise<void> };
}

export interface FanoutResult {
  mode: 'closed' | 'open';
  subscribers: number;
  senders: number;
  rateTarget?: number;
  windows: number;
  /** Total deliveries over total measured time. */
  deliveriesPerSec: number;
  /** Median of the per-window rates. */
  medianWindowDeliveriesPerSec: number;
  perWindow: number[];
  messagesPerSec: number;
  /** Server CPU (all instances) in cores while measured. */
  serverCores: number;
  loadCores: number;
  machineBusy: number;
  serverCpuUsPerKDeliveries: number;
  latencyMs?: LatencySummary;
  /** With perWindowLatency: each window's own latency summary, in round order. */
  windowLatencyMs?: Array<LatencySummary | undefined>;
  errors: number;
  missingAfterDrain: number;
  overloaded: boolean;
  closeCodes: Record<string, number>;
  errorSamples: string[];
}

class FanoutAccumulator {
  windows: number[] = [];
  ms = 0;
  deliveries = 0;
  sent = 0;
  cpuUs = 0;
  loadUs = 0;
  busy = 0;
  total = 0;
  errors = 0;
  missing = 0;
  overloaded = false;
  subscribers = 0;
  senders = 0;
  closeCodes: Record<string, number> = {};
  errorSamples: string[] = [];

  result(mode: 'closed' | 'open', latency: LatencySummary | undefined, rate?: number): FanoutResult {
    const seconds = this.ms / 1000;
    return {
      mode,
      subscribers: this.subscribers,
      senders: this.senders,
      rateTarget: rate,
      windows: this.windows.length,
      deliveriesPerSec: this.deliveries / seconds,
      medianWindowDeliveriesPerSec: percentileOf(this.windows, 50),
      perWindow: this.windows.map((w) => Math.round(w)),
      messagesPerSec: this.sent / seconds,
      serverCores: this.cpuUs / 1e6 / seconds,
      loadCores: this.loadUs / 1e6 / seconds,
      machineBusy: this.busy / Math.max(1, this.total),
      serverCpuUsPerKDeliveries: this.deliveries ? (this.cpuUs / this.deliveries) * 1000 : NaN,
      latencyMs: latency,
      errors: this.errors,
      missingAfterDrain: this.missing,
      overloaded: this.overloaded,
      closeCodes: this.closeCodes,
      errorSamples: this.errorSamples,
    };
  }
}

/** One measured window for one contender: start the sender, warm up, measure, stop and drain. */
async function fanoutWindow(
  worker: Child,
  c: Contender,
  acc: FanoutAccumulator,
  opts: { mode: 'closed' | 'open'; rate?: number; warmupMs: number; windowMs: number; latencyKey: string; windowKey?: string; prefix: string },
): Promise<void> {
  const groups = c.subscribe.map((s) => s.group);
  const started = await worker.call<{ subscribers: number; senders: number }>('run', {
    mode: opts.mode,
    groups,
    senders: P.senders,
    senderGroup: c.senderGroup,
    windowMsgs: P.windowMsgs,
    rate: opts.rate,
    maxDurationMs: opts.warmupMs + opts.windowMs + 5_000,
    channelId: c.channelId,
    msgPrefix: opts.prefix,
  });
  acc.subscribers = started.subscribers;
  acc.senders = started.senders;
  await sleep(opts.warmupMs);
  await worker.call('record', { key: opts.latencyKey, windowKey: opts.windowKey });
  const [s0, c0, l0] = await Promise.all([worker.call<Snapshot>('snapshot'), cpuOf(c.servers), cpuOf([worker])]);
  const m0 = machineCpu();
  await sleep(opts.windowMs);
  const [s1, c1, l1] = await Promise.all([worker.call<Snapshot>('snapshot'), cpuOf(c.servers), cpuOf([worker])]);
  const m1 = machineCpu();
  await worker.call('record', { key: null });
  const stop = await worker.call<{ missing: number; overloaded: boolean }>('stop', { drainMs: 5_000 });
  const ms = s1.at - s0.at;
  const deliveries = s1.delivered - s0.delivered;
  acc.windows.push((deliveries / ms) * 1000);
  acc.ms += ms;
  acc.deliveries += deliveries;
  acc.sent += s1.sent - s0.sent;
  acc.cpuUs += c1 - c0;
  acc.loadUs += l1 - l0;
  acc.busy += m1.busy - m0.busy;
  acc.total += m1.total - m0.total;
  acc.errors += s1.errors - s0.errors;
  acc.missing += stop.missing;
  acc.overloaded ||= stop.overloaded || s1.overloaded;
  Object.assign(acc.closeCodes, s1.closeCodes);
  for (const e of s1.errorSamples) if (acc.errorSamples.length < 3 && !acc.errorSamples.includes(e)) acc.errorSamples.push(e);
}

/** Interleaved rounds over the contenders; returns a result per contender key. */
async function interleavedFanout(
  worker: Child,
  contenders: Contender[],
  opts: { mode: 'closed' | 'open'; rate?: number; rounds: number; warmupMs: number; windowMs: number; tag: string; perWindowLatency?: boolean },
): Promise<Record<string, FanoutResult>> {
  const accs = new Map(contenders.map((c) => [c.key, new FanoutAccumulator()]));
  for (let round = 0; round < opts.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const c of order) {
      const profile = PROFILE && opts.mode === 'closed' && round === Math.floor(opts.rounds / 2) && c.key.startsWith('relay');
      if (profile) await c.servers[0].call('profileStart');
      c.around?.start();
      await fanoutWindow(worker, c, accs.get(c.key)!, {
        ...opts,
        latencyKey: `${opts.tag}-${c.key}`,
        windowKey: opts.perWindowLatency ? `${opts.tag}-${c.key}#${round}` : undefined,
        prefix: `${opts.tag}-${c.key}-${round}`,
      });
      await c.around?.stop();
      if (profile) {
        const file = path.join(RESULTS_DIR, `${c.key}-${opts.tag}.cpuprofile`);
        await c.servers[0].call('profileStop', { file });
        log(`profile of ${c.label} written to ${path.relative(process.cwd(), file)}`);
      }
      await sleep(200);
    }
    log(
      `${opts.tag} round ${round + 1}/${opts.rounds}: ` +
        contenders.map((c) => `${c.key} ${fmt(accs.get(c.key)!.windows.at(-1))}/s`).join(', '),
    );
  }
  const out: Record<string, FanoutResult> = {};
  for (const c of contenders) {
    const latency = await worker.call<LatencySummary | undefined>('latency', { key: `${opts.tag}-${c.key}` });
    out[c.key] = accs.get(c.key)!.result(opts.mode, latency, opts.rate);
    if (opts.perWindowLatency) {
      out[c.key].windowLatencyMs = [];
      for (let round = 0; round < opts.rounds; round++) {
        out[c.key].windowLatencyMs!.push(await worker.call<LatencySummary | undefined>('latency', { key: `${opts.tag}-${c.key}#${round}` }));
      }
    }
  }
  return out;
}

interface ServerResult {
  idle?: IdleResult;
  fanout?: FanoutResult;
  latency?: FanoutResult;
}

interface IdleResult {
  connect: { opened: number; failed: number; elapsedMs: number; perSecond: number; handshakeP50: number; handshakeP99: number; errors: Record<string, number> };
  sockets: number;
  rssDelta: number;
  heapDelta: number;
  externalDelta: number;
  rssPerSocket: number;
  heapPerSocket: number;
  before: Record<string, number>;
  after: Record<string, number>;
}

/**
 * Connection rate and memory per idle socket, interleaved: warm each server up, take its memory,
 * then open idleSockets per server in connectRounds batches taken in turn (each batch timed),
 * let them settle, take memory again. Relay sockets are authenticated (upgrade + authenticate).
 */
async function interleavedIdle(worker: Child, contenders: Array<{ key: string; server: Child; target: Target; creds?: Cred[] }>): Promise<Record<string, IdleResult>> {
  for (const c of contenders) {
    await worker.call('connect', { target: c.target, count: 200, concurrency: P.connectConcurrency, creds: c.creds, group: `warm-${c.key}`, localAddresses: LOCAL_ADDRESSES });
  }
  await worker.call('closeGroups', { groups: contenders.map((c) => `warm-${c.key}`) });
  await sleep(1_500);
  const before = new Map<string, Record<string, number>>();
  for (const c of contenders) before.set(c.key, await c.server.call('memory'));
  const batches = new Map<string, ConnectResult[]>(contenders.map((c) => [c.key, []]));
  const perRound = Math.ceil(P.idleSockets / P.connectRounds);
  for (let round = 0; round < P.connectRounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const c of order) {
      const profile = PROFILE && round === 0 && c.key === 'relay';
      if (profile) await c.server.call('profileStart');
      const r = await worker.call<ConnectResult>('connect', {
        target: c.target,
        count: Math.min(perRound, P.idleSockets - round * perRound),
        concurrency: P.connectConcurrency,
        creds: c.creds,
        group: `idle-${c.key}`,
        localAddresses: LOCAL_ADDRESSES,
      });
      if (profile) {
        const file = path.join(RESULTS_DIR, `${c.key}-connect.cpuprofile`);
        await c.server.call('profileStop', { file });
        log(`profile of ${c.key} accepting ${r.opened} sockets: ${path.relative(process.cwd(), file)}`);
      }
      batches.get(c.key)!.push(r);
      await sleep(200);
    }
  }
  await sleep(2_000);
  const out: Record<string, IdleResult> = {};
  for (const c of contenders) {
    const after = await c.server.call('memory');
    if (PROFILE) {
      const file = path.join(RESULTS_DIR, `${c.key}-idle.heapsnapshot`);
      await c.server.call('heapSnapshot', { file });
      log(`heap snapshot of ${c.key} with ${P.idleSockets} idle sockets: ${path.relative(process.cwd(), file)}`);
    }
    const b = before.get(c.key)!;
    const list = batches.get(c.key)!;
    const opened = list.reduce((a, r) => a + r.opened, 0);
    const elapsedMs = list.reduce((a, r) => a + r.elapsedMs, 0);
    const errors: Record<string, number> = {};
    for (const r of list) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const n = Math.max(1, opened);
    out[c.key] = {
      connect: {
        opened,
        failed: list.reduce((a, r) => a + r.failed, 0),
        elapsedMs,
        perSecond: (opened / elapsedMs) * 1000,
        handshakeP50: percentileOf(list.map((r) => r.handshake.p50), 50),
        handshakeP99: Math.max(...list.map((r) => r.handshake.p99)),
        errors,
      },
      sockets: opened,
      rssDelta: after.rss - b.rss,
      heapDelta: after.heapUsed - b.heapUsed,
      externalDelta: after.external - b.external,
      rssPerSocket: (after.rss - b.rss) / n,
      heapPerSocket: (after.heapUsed - b.heapUsed) / n,
      before: b,
      after,
    };
  }
  await worker.call('closeGroups', { groups: contenders.map((c) => `idle-${c.key}`) });
  return out;
}

async function connectSubscribers(worker: Child, c: Contender): Promise<void> {
  for (const s of c.subscribe) {
    const r = await worker.call<ConnectResult>('connect', {
      target: s.target,
      count: s.count,
      concurrency: P.connectConcurrency,
      creds: c.creds,
      group: s.group,
      subscribe: { channelId: c.channelId },
      localAddresses: LOCAL_ADDRESSES,
    });
    if (r.opened !== s.count) throw new Error(`${c.label}: only ${r.opened}/${s.count} subscribers connected: ${JSON.stringify(r.errors)}`);
  }
}

// ------------------------------------------------------------------------------ Relay

function relayEnv(extra: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST,
    PORT: '0',
    LOG_LEVEL: 'warn',
    TOKEN_TTL: '2h',
    MAX_SOCKETS_PER_USER: '100000',
    MAX_PENDING_SOCKETS_PER_IP: '100000',
    LOGIN_RATE_LIMIT_PER_IP: '100000',
    LOGIN_RATE_LIMIT_PER_USERNAME: '100000',
    ...extra,
  };
}

async function startRelay(name: string, env: Record<string, string>): Promise<RelayProcess> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `relay-bench-${name}-`));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const { child, info } = await startChild(name, 'relay-server.ts', { env: { ...env, DATA_DIR: dataDir } });
  cleanups.push(() => child.stop());
  const url = `http://${HOST}:${info.port}`;
  return { child, url, target: { proto: 'relay', host: HOST, port: info.port, origin: url }, startup: info.startup };
}

interface RelaySetup {
  users: RelayHttp[];
  usernames: string[];
  creds: Cred[];
  /** One public channel per Relay contender (and per storm), every bench user a member of each. */
  channels: Record<'single' | 'redisOne' | 'redisTwo' | 'logins' | 'storm', string>;
}

async function setupRelay(url: string): Promise<RelaySetup> {
  const t0 = Date.now();
  const admin = await RelayHttp.register(url, 'benchadmin');
  if (admin.auth.user.role !== 'admin') throw new Error('the first registered user should be an admin');
  const usernames = Array.from({ length: P.users }, (_, i) => `bench${String(i).padStart(4, '0')}`);
  // argon2 makes each registration ~50 ms of server CPU: one login serves many sockets.
  const users = await mapLimit(usernames, 4, (u) => RelayHttp.register(url, u));
  const channels = {} as RelaySetup['channels'];
  for (const key of ['single', 'redisOne', 'redisTwo', 'logins', 'storm'] as const) {
    const { channel } = await admin.expect('POST', '/api/channels', { name: `bench-${key.toLowerCase()}`, kind: 'public' }, 201);
    await mapLimit(users, 8, (u) => u.expect('POST', `/api/channels/${channel.id}/join`, {}, 200));
    channels[key] = channel.id as string;
  }
  log(`relay: registered ${users.length + 1} users, ${Object.keys(channels).length} channels, memberships (${Date.now() - t0} ms)`);
  return { users, usernames, creds: users.map((u) => ({ cookie: u.cookieHeader(), token: u.auth.token as string })), channels };
}

async function startPostgres(): Promise<EmbeddedDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-bench-pg-'));
  if (process.getuid?.() === 0) chmodSync(dir, 0o755);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const db = await startEmbeddedPostgres({ dataDir: dir, database: 'relay_bench' });
  cleanups.push(() => db.stop());
  return db;
}

async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  proc.stdout!.resume();
  return { url: `redis://127.0.0.1:${port}`, proc };
}

interface RevokeResult {
  samples: number;
  failures: number;
  closeMs: { p50: number; p99: number; max: number };
  httpMs: { p50: number; p99: number };
  reasons: Record<string, number>;
}

/** Revoke on instance A (admin API), socket held on instance B: time until B closes it with 4403. */
async function measureRevoke(setup: RelaySetup, a: string, b: string): Promise<RevokeResult> {
  const admin = await RelayHttp.login(a, 'benchadmin', 'bench-admin');
  const closeMs: number[] = [];
  const httpMs: number[] = [];
  const reasons: Record<string, number> = {};
  let failures = 0;
  for (let i = 0; i < P.revokeSamples; i++) {
    const username = setup.usernames[i % setup.usernames.length];
    const user = await RelayHttp.login(b, username, `revoke-${i}`);
    const ws = await user.openSocket({ baseUrl: b });
    await sleep(50);
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: performance.now() })),
    );
    const t0 = performance.now();
    const res = await admin.request('POST', `/api/admin/devices/${user.auth.device.id}/revoke`, {});
    const t1 = performance.now();
    const outcome = await Promise.race([closed, sleep(5_000).then(() => undefined)]);
    if (res.status !== 200 || !outcome || outcome.code !== 4403) {
      failures++;
      reasons[`http ${res.status} / ${outcome ? `${outcome.code} ${outcome.reason}` : 'no close in 5 s'}`] =
        (reasons[`http ${res.status} / ${outcome ? `${outcome.code} ${outcome.reason}` : 'no close in 5 s'}`] ?? 0) + 1;
      ws.terminate();
      continue;
    }
    reasons[`${outcome.code} ${outcome.reason}`] = (reasons[`${outcome.code} ${outcome.reason}`] ?? 0) + 1;
    closeMs.push(outcome.at - t0);
    httpMs.push(t1 - t0);
  }
  return {
    samples: closeMs.length,
    failures,
    closeMs: { p50: percentileOf(closeMs, 50), p99: percentileOf(closeMs, 99), max: Math.max(...closeMs) },
    httpMs: { p50: percentileOf(httpMs, 50), p99: percentileOf(httpMs, 99) },
    reasons,
  };
}

// ------------------------------------------------------------------------------ login storm

interface LoginStats {
  started: number;
  ok: number;
  failures: number;
  /** Not started because 20 were already in flight (the server fell that far behind). */
  skipped: number;
  reasons: Record<string, number>;
  ms: { p50: number; p99: number; max: number };
  /** Logins started per second while the storm ran. */
  ratePerSec: number;
}

/**
 * POST /api/auth/login with the right password (argon2id verify on the server) at a fixed rate,
 * open loop, from this process: started at each storm window's warm-up, stopped (and its logins
 * awaited) after the window, so none spills into a quiet window. Each login is a fresh client
 * (no cookies), a new device and a new session, as on a sign-in page.
 */
class LoginLoad {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly ms: number[] = [];
  private runMs = 0;
  private since = 0;
  private n = 0;
  readonly stats = { started: 0, ok: 0, failures: 0, skipped: 0, reasons: {} as Record<string, number> };

  constructor(
    private readonly url: string,
    private readonly usernames: string[],
    private readonly perSec: number,
  ) {}

  start(): void {
    this.since = performance.now();
    this.timer = setInterval(() => this.fire(), 1000 / this.perSec);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.runMs += performance.now() - this.since;
    await Promise.all(this.inFlight);
  }

  private fire(): void {
    if (this.inFlight.size >= 20) {
      this.stats.skipped++;
      return;
    }
    const i = this.n++;
    this.stats.started++;
    const t0 = performance.now();
    const p = RelayHttp.login(this.url, this.usernames[i % this.usernames.length], `login-storm-${i}`).then(
      () => {
        this.stats.ok++;
        this.ms.push(performance.now() - t0);
      },
      (err: Error) => {
        this.stats.failures++;
        const key = err.message.slice(0, 120);
        this.stats.reasons[key] = (this.stats.reasons[key] ?? 0) + 1;
      },
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  result(): LoginStats {
    return {
      ...this.stats,
      ms: { p50: percentileOf(this.ms, 50), p99: percentileOf(this.ms, 99), max: this.ms.length ? Math.max(...this.ms) : NaN },
      ratePerSec: this.stats.started / (this.runMs / 1000),
    };
  }
}

interface LoginStormResult {
  subscribers: number;
  rate: number;
  loginsPerSec: number;
  quiet: FanoutResult;
  storm: FanoutResult;
  logins: LoginStats;
}

/**
 * Send→deliver latency on the single Relay at a fixed moderate rate (P.lsRate msg/s to
 * P.lsSubscribers subscribers), in windows taken in turn without and with P.lsLoginsPerSec logins.
 */
async function measureLoginStorm(worker: Child, relay: RelayProcess, setup: RelaySetup): Promise<LoginStormResult> {
  const logins = new LoginLoad(relay.url, setup.usernames, P.lsLoginsPerSec);
  const base = {
    servers: [relay.child],
    subscribe: [{ target: relay.target, count: P.lsSubscribers, group: 'ls' }],
    senderGroup: 'ls',
    channelId: setup.channels.logins,
    creds: setup.creds,
  };
  const quiet: Contender = { key: 'quiet', label: 'no logins', ...base };
  const storm: Contender = { key: 'logins', label: `${P.lsLoginsPerSec} logins/s`, ...base, around: logins };
  await connectSubscribers(worker, quiet);
  await sleep(1_000);
  const r = await interleavedFanout(worker, [quiet, storm], {
    mode: 'open',
    rate: P.lsRate,
    rounds: P.lsRounds,
    warmupMs: P.lsWarmupMs,
    windowMs: P.lsWindowMs,
    tag: 'loginstorm',
    perWindowLatency: true,
  });
  await worker.call('closeAll', {});
  return { subscribers: P.lsSubscribers, rate: P.lsRate, loginsPerSec: P.lsLoginsPerSec, quiet: r.quiet, storm: r.logins, logins: logins.result() };
}

// ------------------------------------------------------------------------------ report

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const kb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 1024);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b ? undefined : a / b);

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, c) => (c === 0 ? '-'.repeat(w + 1) + '-' : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join('\n');
}

interface Target_ {
  name: string;
  value: number | undefined;
  goal: string;
  ok: boolean | undefined;
  unit: string;
  /** The --only part that measures it (listed only when that part ran). */
  part?: string;
}

const STORM_LABEL: Record<TokenPolicy, string> = { expired: 'token kept till expiry', attempt: 'token per attempt (client.ts)' };
const secs = (ms: number | undefined, digits = 2) => fmt(ms === undefined ? undefined : ms / 1000, digits);

/** "median (min–max)" of per-window values. */
function medianRange(xs: Array<number | undefined>): string {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length ? `${fmt(percentileOf(v, 50), 1)} (${fmt(Math.min(...v), 1)}–${fmt(Math.max(...v), 1)})` : '—';
}

function loginStormRows(ls: LoginStormResult): string[][] {
  const rows: string[][] = [[`Login storm (Relay, ${ls.subscribers} subscribers, ${ls.rate} msg/s)`, 'no logins', `${ls.loginsPerSec} logins/s`, 'logins / quiet']];
  const q = ls.quiet;
  const st = ls.storm;
  const rounds = (q.windowLatencyMs ?? []).map((w, i) => ratio(st.windowLatencyMs?.[i]?.p99, w?.p99)).filter((x): x is number => x !== undefined && Number.isFinite(x));
  rows.push(['send→deliver p50 ms', fmt(q.latencyMs?.p50, 2), fmt(st.latencyMs?.p50, 2), fmt(ratio(st.latencyMs?.p50, q.latencyMs?.p50), 2)]);
  rows.push(['  p99 ms', fmt(q.latencyMs?.p99, 2), fmt(st.latencyMs?.p99, 2), fmt(ratio(st.latencyMs?.p99, q.latencyMs?.p99), 2)]);
  rows.push(['  max ms', fmt(q.latencyMs?.max, 1), fmt(st.latencyMs?.max, 1), '']);
  rows.push([
    '  p99 per window, median (range)',
    medianRange((q.windowLatencyMs ?? []).map((w) => w?.p99)),
    medianRange((st.windowLatencyMs ?? []).map((w) => w?.p99)),
    rounds.length ? `${fmt(percentileOf(rounds, 50), 2)} (${fmt(Math.min(...rounds), 2)}–${fmt(Math.max(...rounds), 2)})` : '—',
  ]);
  rows.push([`  deliveries timed (${q.windows} windows each)`, fmt(q.latencyMs?.count), fmt(st.latencyMs?.count), '']);
  rows.push(['  server cores / load-gen cores busy', `${fmt(q.serverCores, 2)} / ${fmt(q.loadCores, 2)}`, `${fmt(st.serverCores, 2)} / ${fmt(st.loadCores, 2)}`, '']);
  rows.push(['  machine CPU busy (all tenants)', `${fmt(q.machineBusy * 100)} %`, `${fmt(st.machineBusy * 100)} %`, '']);
  const l = ls.logins;
  rows.push(['logins done / failed (skipped: 20 in flight)', '', `${fmt(l.ok)} / ${fmt(l.failures)} (${fmt(l.skipped)})`, '']);
  rows.push(['  login p50 / p99 / max ms', '', `${fmt(l.ms.p50)} / ${fmt(l.ms.p99)} / ${fmt(l.ms.max)}`, '']);
  rows.push(['  logins started per second', '', fmt(l.ratePerSec, 1), '']);
  return rows;
}

function stormRows(storms: Partial<Record<TokenPolicy, ReconnectStormResult>>): string[][] {
  const list = (['expired', 'attempt'] as const).filter((k) => storms[k]).map((k) => storms[k]!);
  const rows: string[][] = [[`Reconnect storm (Relay restarted under ${fmt(list[0].sockets)} subscribed sockets)`, ...list.map((r) => STORM_LABEL[r.tokenPolicy])]];
  const row = (name: string, f: (r: ReconnectStormResult) => string) => rows.push([name, ...list.map(f)]);
  const c = (r: ReconnectStormResult) => r.client;
  const given = (r: ReconnectStormResult) => Object.values(c(r).gaveUp).reduce((a, b) => a + b, 0);
  row('sockets closed 1001 by the old process / all', (r) => `${fmt(c(r).closeCodes['1001'] ?? 0)} / ${fmt(r.sockets)}`);
  row('  old process: exit code, SIGTERM → exit s', (r) => `${r.shutdown.exitCode ?? r.shutdown.signal} in ${secs(r.shutdown.ms)}`);
  row('  exit → new process answers /healthz, s', (r) => secs(r.restartMs));
  row('    of which: modules loaded (tsx) / startServer, s', (r) => `${secs(r.newProcess?.loadMs)} / ${secs(r.newProcess?.startServerMs)}`);
  row('/healthz → 50 % re-authenticated + re-subscribed, s', (r) => secs(c(r).backMs.p50));
  row('/healthz → 99 %, s', (r) => secs(c(r).backMs.p99));
  row('/healthz → 100 %, s', (r) => secs(c(r).backMs.p100));
  row(`gave up / not back ${P.stormDeadlineMs / 1000} s after /healthz`, (r) => `${fmt(given(r))} / ${fmt(c(r).notBack)}`);
  row('  backoff still to wait at /healthz (floor), p50 / p99 s', (r) => `${secs(c(r).waitMs.p50)} / ${secs(c(r).waitMs.p99)}`);
  row('  successful attempt → subscribed, p50 / p99 ms', (r) => `${fmt(c(r).attemptMs.p50)} / ${fmt(c(r).attemptMs.p99)}`);
  row('    upgrade (TCP + HTTP 101), p50 / p99 ms', (r) => `${fmt(c(r).openMs.p50)} / ${fmt(c(r).openMs.p99)}`);
  row('    authenticate / subscribe, p99 ms', (r) => `${fmt(c(r).authMs.p99)} / ${fmt(c(r).subMs.p99)}`);
  row('  attempts per socket, p50 / max', (r) => `${fmt(c(r).attempts.p50)} / ${fmt(c(r).attempts.max)}`);
  const top = (h: Record<string, number>) =>
    Object.entries(h)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ') || 'none';
  row('  failed attempts started while down (top)', (r) => top(c(r).failuresBefore));
  row('  failed attempts started after /healthz (top)', (r) => top(c(r).failuresAfter));
  row('  token requests (failed), p50 / p99 ms', (r) => `${fmt(c(r).tokenRequests)} (${fmt(c(r).tokenFailures)}), ${fmt(c(r).tokenMs.p50)} / ${fmt(c(r).tokenMs.p99)}`);
  row('/healthz every 100 ms: p99 / max ms (n, failed)', (r) => `${fmt(r.healthz.p99, 1)} / ${fmt(r.healthz.max, 1)} (${r.healthz.samples}, ${r.healthz.failures})`);
  row('new process: event-loop delay p99 / max ms', (r) => `${fmt(r.server.loopDelayMs.p99)} / ${fmt(r.server.loopDelayMs.max)}`);
  row('  event-loop utilisation / cores busy', (r) => `${fmt(r.server.loopUtilization, 2)} / ${fmt(r.server.cores, 2)}`);
  row('  main thread on a CPU / waiting for one, s', (r) => `${secs(r.server.mainThread.onCpuMs)} / ${secs(r.server.mainThread.waitingForCpuMs)}`);
  row('  Postgres queries', (r) => fmt(r.server.queries));
  row('load-gen cores busy / machine CPU busy (all tenants)', (r) => `${fmt(r.loadCores, 2)} / ${fmt(r.machineBusy * 100)} %`);
  row('listen overflows / drops (machine-wide)', (r) => `${fmt(r.netstat.ListenOverflows)} / ${fmt(r.netstat.ListenDrops)}`);
  row('presence frames received while coming back', (r) => fmt(c(r).presenceFrames));
  return rows;
}

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  log(`mode ${QUICK ? 'quick' : 'full'}; ${os.cpus().length} CPUs; node ${process.version}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // ---------------------------------------------------------------------------- processes
  const { child: worker } = await startChild('load-worker', 'load-worker.ts');
  cleanups.push(() => worker.stop());
  const servers: Record<string, { child: Child; target: Target; url?: string }> = {};
  if (ONLY.has('raw') || ONLY.has('pop')) {
    const { child, info } = await startChild('raw-server', 'raw-server.ts');
    cleanups.push(() => child.stop());
    servers.raw = { child, target: { proto: 'raw', host: HOST, port: info.port } };
  }
  if (ONLY.has('sio')) {
    const { child, info } = await startChild('socketio-server', 'socketio-server.ts');
    cleanups.push(() => child.stop());
    servers.sio = { child, target: { proto: 'sio', host: HOST, port: info.port } };
  }
  let setup: RelaySetup | undefined;
  /** The single Relay instance's environment: a restart (the storms) starts it again with this and the same port. */
  let singleEnv: Record<string, string> = {};
  /** One bound device per bench user (the pop part). */
  let boundCreds: Cred[] = [];
  if (SINGLE_RELAY || ONLY.has('cluster')) {
    log('starting embedded Postgres' + (ONLY.has('cluster') ? ' and Redis' : ''));
    const db = await startPostgres();
    const secrets = { JWT_SECRET: randomBytes(32).toString('base64url'), SESSION_SECRET: randomBytes(32).toString('base64url') };
    singleEnv = relayEnv({ DATABASE_URL: db.url, ...secrets });
    if (SINGLE_RELAY) servers.relay = await startRelay('relay', singleEnv);
    if (ONLY.has('cluster')) {
      const redis = await startRedis();
      const env = relayEnv({ DATABASE_URL: db.url, REDIS_URL: redis.url, ...secrets });
      const [a, b] = await Promise.all([startRelay('relay-A', env), startRelay('relay-B', env)]);
      servers.relayA = a;
      servers.relayB = b;
    }
    setup = await setupRelay((servers.relay ?? servers.relayA).url!);
    if (servers.relay && ONLY.has('pop')) {
      boundCreds = await bindBenchDevices(servers.relay.url!, setup.usernames);
      log(`relay: ${boundCreds.length} bound devices (one more sign-in each, with a device key)`);
    }
    if (servers.relay) {
      // A fresh process for the measurements: the argon2 work of the set-up (~19 MiB per hash)
      // leaves the allocator's footprint in a state that would blur the per-socket RSS delta.
      // Users, memberships and tokens live in Postgres and stay valid.
      await servers.relay.child.stop();
      servers.relay = await startRelay('relay', singleEnv);
    }
  }
  await sleep(1_000);

  // ---------------------------------------------------------------------------- idle sockets
  const idleContenders = (['raw', 'sio', 'relay'] as const)
    .filter((k) => servers[k] && ONLY.has(k))
    .map((k) => ({ key: k, server: servers[k].child, target: servers[k].target, creds: k === 'relay' ? setup!.creds : undefined }));
  let idle: Record<string, IdleResult> = {};
  if (idleContenders.length) {
    log(`idle: ${fmt(P.idleSockets)} sockets per server (${idleContenders.map((c) => c.key).join(', ')}), ${P.connectRounds} interleaved batches`);
    idle = await interleavedIdle(worker, idleContenders);
    for (const [k, r] of Object.entries(idle)) {
      log(
        `idle ${k}: ${r.connect.opened} opened (${r.connect.failed} failed) at ${fmt(r.connect.perSecond)}/s; ` +
          `RSS +${fmt(r.rssPerSocket / 1024, 2)} KB/socket, heap +${fmt(r.heapPerSocket / 1024, 2)} KB/socket`,
      );
    }
    await sleep(1_000);
  }

  // ---------------------------------------------------------------------------- auth with proofs
  let pop: PopResult | undefined;
  if (ONLY.has('pop') && servers.raw && servers.relay) {
    log(`auth with proofs: ${P.popBatches} interleaved batches of ${fmt(P.popPerBatch)} sockets (raw, Relay unbound, Relay bound)`);
    pop = await measureAuthWithProofs(
      worker,
      [
        { key: 'raw', server: servers.raw.child, target: servers.raw.target },
        { key: 'unbound', server: servers.relay.child, target: servers.relay.target, creds: setup!.creds },
        { key: 'bound', server: servers.relay.child, target: servers.relay.target, creds: boundCreds },
      ],
      { batches: P.popBatches, perBatch: P.popPerBatch, concurrency: P.connectConcurrency, localAddresses: LOCAL_ADDRESSES, log },
    );
    await sleep(1_000);
  }

  // ---------------------------------------------------------------------------- fan-out
  const N = P.subscribers;
  const contenders: Contender[] = [];
  if (servers.raw && ONLY.has('raw')) contenders.push({ key: 'raw', label: 'raw ws', servers: [servers.raw.child], subscribe: [{ target: servers.raw.target, count: N, group: 'fo-raw' }], senderGroup: 'fo-raw' });
  if (servers.sio) contenders.push({ key: 'sio', label: 'Socket.IO', servers: [servers.sio.child], subscribe: [{ target: servers.sio.target, count: N, group: 'fo-sio' }], senderGroup: 'fo-sio' });
  if (servers.relay && ONLY.has('relay'))
    contenders.push({
      key: 'relay',
      label: 'Relay',
      servers: [servers.relay.child],
      subscribe: [{ target: servers.relay.target, count: N, group: 'fo-relay' }],
      senderGroup: 'fo-relay',
      channelId: setup!.channels.single,
      creds: setup!.creds,
    });
  if (servers.relayA) {
    const both = [servers.relayA.child, servers.relayB.child];
    contenders.push({
      key: 'relayRedis1',
      label: 'Relay, 1 instance on Redis',
      servers: both,
      subscribe: [{ target: servers.relayA.target, count: N, group: 'fo-r1' }],
      senderGroup: 'fo-r1',
      channelId: setup!.channels.redisOne,
      creds: setup!.creds,
    });
    contenders.push({
      key: 'relayRedis2',
      label: 'Relay, 2 instances on Redis',
      servers: both,
      subscribe: [
        { target: servers.relayA.target, count: Math.floor(N / 2), group: 'fo-r2a' },
        { target: servers.relayB.target, count: N - Math.floor(N / 2), group: 'fo-r2b' },
      ],
      senderGroup: 'fo-r2a',
      channelId: setup!.channels.redisTwo,
      creds: setup!.creds,
    });
  }
  let fanout: Record<string, FanoutResult> = {};
  let latency: Record<string, FanoutResult> = {};
  let rate = NaN;
  if (contenders.length) {
    for (const c of contenders) await connectSubscribers(worker, c);
    log(`fan-out: ${contenders.map((c) => c.key).join(', ')} — ${N} subscribers each, ${P.rounds} rounds of ${P.windowMs} ms windows`);
    await sleep(1_000);
    fanout = await interleavedFanout(worker, contenders, { mode: 'closed', rounds: P.rounds, warmupMs: P.warmupMs, windowMs: P.windowMs, tag: 'saturation' });

    // -------------------------------------------------------------------------- latency
    const rawSaturation = fanout.raw?.messagesPerSec;
    rate = rawSaturation ? rawSaturation / 2 : 50;
    const latencyContenders = contenders.filter((c) => c.key === 'raw' || c.key === 'sio' || c.key === 'relay');
    if (latencyContenders.length) {
      log(`latency: open loop at ${fmt(rate)} msg/s (${rawSaturation ? 'half of raw ws saturation' : 'fixed: raw ws not measured'})`);
      latency = await interleavedFanout(worker, latencyContenders, {
        mode: 'open',
        rate,
        rounds: P.latencyRounds,
        warmupMs: P.latencyWarmupMs,
        windowMs: P.latencyWindowMs,
        tag: 'latency',
      });
    }
    await worker.call('closeAll', {});
  }

  // ---------------------------------------------------------------------------- revoke
  let revoke: RevokeResult | undefined;
  if (servers.relayA) {
    log(`revoke: on A, socket held on B, ${P.revokeSamples} samples`);
    revoke = await measureRevoke(setup!, servers.relayA.url!, servers.relayB.url!);
    log(`revoke→close p50 ${fmt(revoke.closeMs.p50, 1)} ms, p99 ${fmt(revoke.closeMs.p99, 1)} ms`);
  }

  // ---------------------------------------------------------------------------- login storm
  const single = servers.relay as RelayProcess | undefined;
  let loginStorm: LoginStormResult | undefined;
  if (single && ONLY.has('loginstorm')) {
    log(
      `login storm: ${P.lsSubscribers} subscribers, ${P.lsRate} msg/s; ${P.lsRounds} rounds of a quiet and a ` +
        `${P.lsLoginsPerSec} logins/s window (${P.lsWindowMs} ms), interleaved`,
    );
    loginStorm = await measureLoginStorm(worker, single, setup!);
    log(
      `login storm: p99 ${fmt(loginStorm.quiet.latencyMs?.p99, 1)} ms quiet, ${fmt(loginStorm.storm.latencyMs?.p99, 1)} ms with logins; ` +
        `${loginStorm.logins.ok} logins, p99 ${fmt(loginStorm.logins.ms.p99)} ms, ${loginStorm.logins.failures} failed`,
    );
  }

  // ---------------------------------------------------------------------------- reconnect storm
  // Last: each storm restarts the single Relay (the new process then stands in for it).
  const storms: Partial<Record<TokenPolicy, ReconnectStormResult>> = {};
  for (const [part, tokenPolicy] of [['storm', 'expired'], ['stormtoken', 'attempt']] as const) {
    if (!servers.relay || !ONLY.has(part)) continue;
    log(`reconnect storm (${part}): ${fmt(P.stormSockets)} sockets, Relay restarted under them; tokens: ${tokenPolicy === 'expired' ? 'fetched only when expired' : 'fetched before every attempt (client.ts)'}`);
    const { result, relay } = await reconnectStorm({
      worker,
      relay: servers.relay as RelayProcess,
      restart: (port) => startRelay('relay', { ...singleEnv, PORT: String(port) }),
      creds: setup!.creds,
      channelId: setup!.channels.storm,
      count: P.stormSockets,
      concurrency: P.connectConcurrency,
      localAddresses: LOCAL_ADDRESSES,
      tokenPolicy,
      deadlineMs: P.stormDeadlineMs,
      log,
    });
    servers.relay = relay;
    storms[tokenPolicy] = result;
    await sleep(1_000);
  }

  const results: Record<string, ServerResult> = {};
  for (const k of ['raw', 'sio', 'relay']) if (idle[k] || fanout[k]) results[k] = { idle: idle[k], fanout: fanout[k], latency: latency[k] };
  const cluster = { one: fanout.relay, oneWithRedis: fanout.relayRedis1, two: fanout.relayRedis2, revoke };

  // ---------------------------------------------------------------------------- report
  const raw = results.raw;
  const sio = results.sio;
  const rel = results.relay;
  const rows: string[][] = [['metric', 'raw ws', 'Socket.IO', 'Relay', 'Relay/raw', 'Relay/SIO']];
  const row = (name: string, r?: number, s?: number, x?: number, digits = 0, ratios = true) =>
    rows.push([name, fmt(r, digits), fmt(s, digits), fmt(x, digits), ratios ? fmt(ratio(x, r), 2) : '', ratios ? fmt(ratio(x, s), 2) : '']);
  row('fan-out deliveries/s (1 ch, 1,000 subs)', raw?.fanout?.deliveriesPerSec, sio?.fanout?.deliveriesPerSec, rel?.fanout?.deliveriesPerSec);
  row(`  median of ${P.rounds} windows, deliveries/s`, raw?.fanout?.medianWindowDeliveriesPerSec, sio?.fanout?.medianWindowDeliveriesPerSec, rel?.fanout?.medianWindowDeliveriesPerSec);
  row('  messages/s at saturation', raw?.fanout?.messagesPerSec, sio?.fanout?.messagesPerSec, rel?.fanout?.messagesPerSec);
  row('  server CPU µs per 1,000 deliveries', raw?.fanout?.serverCpuUsPerKDeliveries, sio?.fanout?.serverCpuUsPerKDeliveries, rel?.fanout?.serverCpuUsPerKDeliveries);
  const perCpu = (x?: ServerResult) => (x?.fanout ? 1e9 / x.fanout.serverCpuUsPerKDeliveries : undefined);
  row('  deliveries per server CPU-second', perCpu(raw), perCpu(sio), perCpu(rel));
  row('  server cores busy / load-gen cores', undefined, undefined, undefined, 0, false);
  rows[rows.length - 1] = [
    '  server cores / load-gen cores busy',
    ...[raw, sio, rel].map((x) => (x?.fanout ? `${fmt(x.fanout.serverCores, 2)} / ${fmt(x.fanout.loadCores, 2)}` : '—')),
    '',
    '',
  ];
  row('  saturation p50 latency ms (window 10 msgs)', raw?.fanout?.latencyMs?.p50, sio?.fanout?.latencyMs?.p50, rel?.fanout?.latencyMs?.p50, 1, false);
  row(
    `connections/s (${fmt(P.idleSockets)}; Relay: authenticated)`,
    raw?.idle?.connect.perSecond,
    sio?.idle?.connect.perSecond,
    rel?.idle?.connect.perSecond,
  );
  row('  handshake p50 ms (50 in parallel)', raw?.idle?.connect.handshakeP50, sio?.idle?.connect.handshakeP50, rel?.idle?.connect.handshakeP50, 1, false);
  row('  handshake p99 ms (worst batch)', raw?.idle?.connect.handshakeP99, sio?.idle?.connect.handshakeP99, rel?.idle?.connect.handshakeP99, 1, false);
  row(`memory per idle socket, RSS KB (${fmt(P.idleSockets)})`, kb(raw?.idle?.rssPerSocket), kb(sio?.idle?.rssPerSocket), kb(rel?.idle?.rssPerSocket), 2);
  row('  JS heap KB per idle socket', kb(raw?.idle?.heapPerSocket), kb(sio?.idle?.heapPerSocket), kb(rel?.idle?.heapPerSocket), 2);
  row(`send→deliver p50 ms at ${fmt(rate)} msg/s`, raw?.latency?.latencyMs?.p50, sio?.latency?.latencyMs?.p50, rel?.latency?.latencyMs?.p50, 2);
  row('  p99 ms', raw?.latency?.latencyMs?.p99, sio?.latency?.latencyMs?.p99, rel?.latency?.latencyMs?.p99, 2);
  row('  max ms', raw?.latency?.latencyMs?.max, sio?.latency?.latencyMs?.max, rel?.latency?.latencyMs?.max, 1, false);
  row('  server CPU µs per 1,000 deliveries', raw?.latency?.serverCpuUsPerKDeliveries, sio?.latency?.serverCpuUsPerKDeliveries, rel?.latency?.serverCpuUsPerKDeliveries);

  const crows: string[][] = [['Relay cluster (Postgres + Redis)', 'value', 'vs 1 instance']];
  if (cluster.one) crows.push(['1 instance, no Redis: deliveries/s', fmt(cluster.one.deliveriesPerSec), '1.00']);
  if (cluster.oneWithRedis)
    crows.push(['1 instance on Redis (B idle): deliveries/s', fmt(cluster.oneWithRedis.deliveriesPerSec), fmt(ratio(cluster.oneWithRedis.deliveriesPerSec, cluster.one?.deliveriesPerSec), 2)]);
  if (cluster.two) {
    crows.push(['  (1 instance on Redis) server cores / load-gen cores', `${fmt(cluster.oneWithRedis?.serverCores, 2)} / ${fmt(cluster.oneWithRedis?.loadCores, 2)}`, '']);
    crows.push(['2 instances on Redis (500 + 500): deliveries/s', fmt(cluster.two.deliveriesPerSec), fmt(ratio(cluster.two.deliveriesPerSec, cluster.one?.deliveriesPerSec), 2)]);
    crows.push(['  server cores (A+B) / load-gen cores', `${fmt(cluster.two.serverCores, 2)} / ${fmt(cluster.two.loadCores, 2)}`, '']);
  }
  if (cluster.revoke) {
    crows.push([`revoke on A → 4403 on B, p50 ms (n=${cluster.revoke.samples})`, fmt(cluster.revoke.closeMs.p50, 1), '']);
    crows.push(['  p99 ms / max ms', `${fmt(cluster.revoke.closeMs.p99, 1)} / ${fmt(cluster.revoke.closeMs.max, 1)}`, '']);
    crows.push(['  revoke HTTP response p50 ms', fmt(cluster.revoke.httpMs.p50, 1), '']);
  }

  const targets: Target_[] = [
    { name: 'fan-out Relay/raw', value: ratio(rel?.fanout?.deliveriesPerSec, raw?.fanout?.deliveriesPerSec), goal: '≥ 0.8', unit: '×', ok: undefined },
    { name: 'fan-out Relay/Socket.IO', value: ratio(rel?.fanout?.deliveriesPerSec, sio?.fanout?.deliveriesPerSec), goal: '≥ 1.3', unit: '×', ok: undefined },
    { name: '  CPU-normalised (deliveries per server CPU-s) Relay/raw', value: ratio(perCpu(rel), perCpu(raw)), goal: '≥ 0.8', unit: '×', ok: undefined },
    { name: '  CPU-normalised Relay/Socket.IO', value: ratio(perCpu(rel), perCpu(sio)), goal: '≥ 1.3', unit: '×', ok: undefined },
    { name: 'authenticated conn/s vs raw handshakes/s', value: ratio(rel?.idle?.connect.perSecond, raw?.idle?.connect.perSecond), goal: '≥ 0.7', unit: '×', ok: undefined },
    { name: 'auth with proofs: bound conn/s vs raw handshakes/s', value: boundVsRaw(pop), goal: '≥ 0.8', unit: '×', ok: undefined, part: 'pop' },
    { name: 'idle socket RSS Relay/raw', value: ratio(rel?.idle?.rssPerSocket, raw?.idle?.rssPerSocket), goal: '≤ 1.5', unit: '×', ok: undefined },
    { name: 'idle socket JS heap Relay/raw', value: ratio(rel?.idle?.heapPerSocket, raw?.idle?.heapPerSocket), goal: '≤ 1.5', unit: '×', ok: undefined },
    { name: 'idle socket RSS Relay (KB)', value: kb(rel?.idle?.rssPerSocket), goal: '≤ 10', unit: 'KB', ok: undefined },
    { name: 'idle socket JS heap Relay (KB)', value: kb(rel?.idle?.heapPerSocket), goal: '≤ 10', unit: 'KB', ok: undefined },
    { name: 'send→deliver p99 at half raw saturation (ms)', value: rel?.latency?.latencyMs?.p99, goal: '≤ 25', unit: 'ms', ok: undefined },
    { name: '2 instances on Redis / 1 instance', value: ratio(cluster.two?.deliveriesPerSec, cluster.one?.deliveriesPerSec), goal: '≥ 0.7', unit: '×', ok: undefined },
    { name: 'revoke→close p99 across instances (ms)', value: cluster.revoke?.closeMs.p99, goal: '≤ 250', unit: 'ms', ok: undefined },
    {
      name: 'login storm: send→deliver p99 with/without logins',
      value: ratio(loginStorm?.storm.latencyMs?.p99, loginStorm?.quiet.latencyMs?.p99),
      goal: '≤ 1.2',
      unit: '×',
      ok: undefined,
      part: 'loginstorm',
    },
    { name: 'login storm: failed logins', value: loginStorm?.logins.failures, goal: '≤ 0', unit: 'n', ok: undefined, part: 'loginstorm' },
  ];
  for (const [part, policy] of [['storm', 'expired'], ['stormtoken', 'attempt']] as const) {
    const r = storms[policy];
    targets.push({ name: `reconnect storm, ${STORM_LABEL[policy]}: 99 % back (s)`, value: r && r.client.backMs.p99 / 1000, goal: '≤ 10', unit: 's', ok: undefined, part });
    targets.push({
      name: '  sockets that gave up or were not back',
      value: r && Object.values(r.client.gaveUp).reduce((a, b) => a + b, 0) + r.client.notBack,
      goal: '≤ 0',
      unit: 'n',
      ok: undefined,
      part,
    });
  }
  for (const t of targets) {
    if (t.value === undefined || !Number.isFinite(t.value)) {
      // A target whose measurement did not finish (e.g. nobody reached 99 %) is missed.
      if (t.part && ONLY.has(t.part)) t.ok = false;
      continue;
    }
    if (t.value === undefined || !Number.isFinite(t.value)) continue;
    const limit = Number(t.goal.slice(2));
    t.ok = t.goal.startsWith('≥') ? t.value >= limit : t.value <= limit;
  }
  const trows: string[][] = [['target', 'measured', 'goal', 'met']];
  for (const t of targets) {
    if (t.part && !ONLY.has(t.part)) continue;
    trows.push([t.name, fmt(t.value, t.unit === '×' ? 3 : t.unit === 'n' ? 0 : 2), t.goal, t.ok === undefined ? 'n/a' : t.ok ? 'yes' : 'NO']);
  }

  const warnings: string[] = [];
  for (const [name, r] of Object.entries(results)) {
    for (const [phase, f] of [['fan-out', r.fanout], ['latency', r.latency]] as const) {
      if (!f) continue;
      if (f.errors) warnings.push(`${name} ${phase}: ${f.errors} error frames, e.g. ${f.errorSamples[0] ?? ''}`);
      if (f.missingAfterDrain > 0) warnings.push(`${name} ${phase}: ${f.missingAfterDrain} deliveries missing after a 5 s drain`);
      if (f.overloaded) warnings.push(`${name} ${phase}: backlog over 5 s of deliveries; the sender stopped (overload)`);
      if (Object.keys(f.closeCodes).length) warnings.push(`${name} ${phase}: sockets closed during the run: ${JSON.stringify(f.closeCodes)}`);
    }
    if (r.idle?.connect.failed) warnings.push(`${name} connect: ${r.idle.connect.failed} failed: ${JSON.stringify(r.idle.connect.errors)}`);
  }
  if (pop) for (const [k, r] of Object.entries(pop.rates)) if (r.failed) warnings.push(`auth with proofs, ${k}: ${r.failed} sockets failed: ${JSON.stringify(r.errors)}`);
  if (cluster.revoke?.failures) warnings.push(`revoke: ${cluster.revoke.failures} samples failed: ${JSON.stringify(cluster.revoke.reasons)}`);
  if (loginStorm) {
    for (const f of [loginStorm.quiet, loginStorm.storm]) {
      if (f.errors) warnings.push(`login storm: ${f.errors} error frames, e.g. ${f.errorSamples[0] ?? ''}`);
      if (f.missingAfterDrain > 0) warnings.push(`login storm: ${f.missingAfterDrain} deliveries missing after a 5 s drain`);
      if (f.overloaded) warnings.push('login storm: backlog over 5 s of deliveries; the sender stopped (overload)');
      if (Object.keys(f.closeCodes).length) warnings.push(`login storm: sockets closed during the run: ${JSON.stringify(f.closeCodes)}`);
    }
    if (loginStorm.logins.failures) warnings.push(`login storm: ${loginStorm.logins.failures} logins failed: ${JSON.stringify(loginStorm.logins.reasons)}`);
  }
  for (const r of Object.values(storms)) {
    const tag = `reconnect storm (${STORM_LABEL[r.tokenPolicy]})`;
    if (r.shutdown.exitCode !== 0) warnings.push(`${tag}: the old process exited ${r.shutdown.exitCode ?? r.shutdown.signal}${r.shutdown.killed ? ' (SIGKILL after 15 s)' : ''}`);
    const other = Object.entries(r.client.closeCodes).filter(([k]) => k !== '1001');
    if (other.length) warnings.push(`${tag}: sockets closed with other codes than 1001: ${JSON.stringify(Object.fromEntries(other))}`);
    if (r.client.notBack) warnings.push(`${tag}: ${r.client.notBack} sockets not back; gave up: ${JSON.stringify(r.client.gaveUp)}`);
    if (r.healthz.failures) warnings.push(`${tag}: ${r.healthz.failures} /healthz probes failed: ${JSON.stringify(r.healthz.errors)}`);
  }

  const text = [
    '',
    `fan-out: closed loop, ${P.senders} sender sockets among the subscribers, ${P.windowMsgs} messages in flight; ` +
      `${P.rounds} interleaved ${P.windowMs / 1000}-s windows per contender; latency: open loop, ${P.latencyRounds} windows of ${P.latencyWindowMs / 1000} s`,
    `login storm: open loop, ${P.lsRate} msg/s to ${P.lsSubscribers} subscribers, ${P.lsRounds} rounds of a quiet and a ${P.lsLoginsPerSec} logins/s ` +
      `window (${P.lsWindowMs / 1000} s, in turn); reconnect storm: ${fmt(P.stormSockets)} sockets, full-jitter backoff (client's DEFAULT_BACKOFF), times from the new process's first /healthz`,
    `Relay benchmark (${QUICK ? 'quick' : 'full'}) — ${new Date().toISOString()} — ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
    ...(Object.keys(results).length ? ['', table(rows)] : []),
    ...(crows.length > 1 ? ['', table(crows)] : []),
    ...(pop ? ['', table(popRows(pop))] : []),
    ...(loginStorm ? ['', table(loginStormRows(loginStorm))] : []),
    ...(Object.keys(storms).length ? ['', table(stormRows(storms))] : []),
    '',
    table(trows),
    ...(warnings.length ? ['', 'Warnings:', ...warnings.map((w) => `- ${w}`)] : []),
    '',
  ].join('\n');
  console.log(text);

  const json = {
    mode: QUICK ? 'quick' : 'full',
    at: new Date().toISOString(),
    durationSec: (Date.now() - started) / 1000,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg(), totalMemory: os.totalmem() },
    params: P,
    results,
    cluster,
    authWithProofs: pop,
    loginStorm,
    reconnectStorm: storms,
    targets,
    warnings,
    table: text,
  };
  writeFileSync(path.join(RESULTS_DIR, 'latest.json'), JSON.stringify(json, null, 2));
  writeFileSync(path.join(RESULTS_DIR, `${QUICK ? 'quick' : 'full'}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(json, null, 2));
  log(`wrote ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'latest.json'))}`);
}

main()
  .catch((err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanupAll();
    // Child processes are gone; make sure nothing keeps the event loop alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
  });
