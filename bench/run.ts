/**
 * `npm run bench [-- --quick] [-- --only=raw,sio,relay,cluster] [-- --profile]`
 *
 * Side by side, in one run, with one load client (bench/load-worker.ts) and one 100-byte body:
 *   raw ws (bench/raw-server.ts), Socket.IO 4 (bench/socketio-server.ts), Relay (bench/relay-server.ts
 *   → the real startServer, its own process, embedded Postgres), and two Relay instances on Redis.
 * Prints a table and writes bench/results/latest.json. Not a test: nothing here fails on a target;
 * the table says which targets were met and by how much they were missed.
 *
 * Every server and the load generator run as separate processes; this orchestrator only sets up
 * (HTTP), samples counters and runs the light revoke→close probe. All traffic is on loopback.
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

// ------------------------------------------------------------------------------ parameters

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const ONLY = new Set((argv.find((a) => a.startsWith('--only='))?.slice(7) ?? 'raw,sio,relay,cluster').split(','));

const P = QUICK
  ? {
      idleSockets: 1_000,
      connectConcurrency: 50,
      subscribers: 1_000,
      senders: 50,
      windowMsgs: 10,
      warmupMs: 1_500,
      measureMs: 4_000,
      latencyWarmupMs: 1_000,
      latencyMeasureMs: 4_000,
      users: 10,
      revokeSamples: 10,
    }
  : {
      idleSockets: 5_000,
      connectConcurrency: 50,
      subscribers: 1_000,
      senders: 50,
      windowMsgs: 10,
      warmupMs: 3_000,
      measureMs: 10_000,
      latencyWarmupMs: 2_000,
      latencyMeasureMs: 10_000,
      users: 100,
      revokeSamples: 60,
    };

const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const HOST = '127.0.0.1';
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

// ------------------------------------------------------------------------------ measurements

interface Snapshot {
  at: number;
  delivered: number;
  sent: number;
  acks: number;
  errors: number;
  latency: LatencySummary;
  overloaded: boolean;
  inFlight: number;
  closeCodes: Record<string, number>;
  errorSamples: string[];
}

interface CpuSample {
  userUs: number;
  systemUs: number;
}

async function serverCpu(servers: Child[]): Promise<number> {
  const samples = await Promise.all(servers.map((s) => s.call<CpuSample>('cpu')));
  return samples.reduce((a, s) => a + s.userUs + s.systemUs, 0);
}

export interface FanoutResult {
  mode: 'closed' | 'open';
  subscribers: number;
  senders: number;
  rateTarget?: number;
  /** Whole-window mean. */
  deliveriesPerSec: number;
  medianSecondDeliveriesPerSec: number;
  perSecond: number[];
  messagesPerSec: number;
  /** Server CPU (all instances) in cores during the window. */
  serverCores: number;
  loadCores: number;
  machineBusy: number;
  serverCpuUsPerKDeliveries: number;
  latencyMs: LatencySummary;
  errors: number;
  missingAfterDrain: number;
  overloaded: boolean;
  closeCodes: Record<string, number>;
  errorSamples: string[];
}

async function measureFanout(
  worker: Child,
  servers: Child[],
  opts: { mode: 'closed' | 'open'; rate?: number; warmupMs: number; measureMs: number; channelId?: string; prefix: string; senderGroup?: string; profileFile?: string },
): Promise<FanoutResult> {
  const started = await worker.call<{ subscribers: number; senders: number }>('run', {
    mode: opts.mode,
    senders: P.senders,
    senderGroup: opts.senderGroup,
    windowMsgs: P.windowMsgs,
    rate: opts.rate,
    maxDurationMs: opts.warmupMs + opts.measureMs + 5_000,
    channelId: opts.channelId,
    msgPrefix: opts.prefix,
  });
  await sleep(opts.warmupMs);
  if (opts.profileFile) await servers[0].call('profileStart');
  const [s0, c0, l0] = await Promise.all([worker.call<Snapshot>('snapshot', { resetLatency: true }), serverCpu(servers), serverCpu([worker])]);
  const m0 = machineCpu();
  // Per-second rates as well as the whole-window mean: other tenants of this machine come and go,
  // and the median second is less sensitive to a burst of their load than the mean.
  const perSecond: number[] = [];
  let prev = s0;
  const end = performance.now() + opts.measureMs;
  while (performance.now() < end - 50) {
    await sleep(Math.min(1_000, end - performance.now()));
    const s = await worker.call<Snapshot>('snapshot');
    if (s.at - prev.at > 200) perSecond.push(((s.delivered - prev.delivered) / (s.at - prev.at)) * 1000);
    prev = s;
  }
  const [s1, c1, l1] = await Promise.all([worker.call<Snapshot>('snapshot'), serverCpu(servers), serverCpu([worker])]);
  const m1 = machineCpu();
  if (opts.profileFile) await servers[0].call('profileStop', { file: opts.profileFile });
  const stop = await worker.call<{ missing: number; overloaded: boolean }>('stop', { drainMs: 5_000 });
  const seconds = (s1.at - s0.at) / 1000;
  const deliveries = s1.delivered - s0.delivered;
  const cpuUs = c1 - c0;
  return {
    mode: opts.mode,
    subscribers: started.subscribers,
    senders: started.senders,
    rateTarget: opts.rate,
    deliveriesPerSec: deliveries / seconds,
    medianSecondDeliveriesPerSec: percentileOf(perSecond, 50),
    perSecond,
    messagesPerSec: (s1.sent - s0.sent) / seconds,
    serverCores: cpuUs / 1e6 / seconds,
    loadCores: (l1 - l0) / 1e6 / seconds,
    machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
    serverCpuUsPerKDeliveries: deliveries ? (cpuUs / deliveries) * 1000 : NaN,
    latencyMs: s1.latency,
    errors: s1.errors,
    missingAfterDrain: stop.missing,
    overloaded: stop.overloaded || s1.overloaded,
    closeCodes: s1.closeCodes,
    errorSamples: s1.errorSamples,
  };
}

interface IdleResult {
  connect: ConnectResult;
  sockets: number;
  rssDelta: number;
  heapDelta: number;
  externalDelta: number;
  rssPerSocket: number;
  heapPerSocket: number;
  before: Record<string, number>;
  after: Record<string, number>;
}

/** Connection rate and memory: warm up, measure memory, open N idle sockets (timed), measure again. */
async function measureIdle(worker: Child, server: Child, target: Target, creds?: Cred[]): Promise<IdleResult> {
  await worker.call('connect', { target, count: 200, concurrency: P.connectConcurrency, creds, group: 'warm' });
  await worker.call('closeAll', {});
  await sleep(1_000);
  const before = await server.call('memory');
  const connect = await worker.call<ConnectResult>('connect', {
    target,
    count: P.idleSockets,
    concurrency: P.connectConcurrency,
    creds,
    group: 'idle',
  });
  await sleep(1_500);
  const after = await server.call('memory');
  await worker.call('closeAll', {});
  const n = Math.max(1, connect.opened);
  return {
    connect,
    sockets: connect.opened,
    rssDelta: after.rss - before.rss,
    heapDelta: after.heapUsed - before.heapUsed,
    externalDelta: after.external - before.external,
    rssPerSocket: (after.rss - before.rss) / n,
    heapPerSocket: (after.heapUsed - before.heapUsed) / n,
    before,
    after,
  };
}

interface ServerResult {
  idle?: IdleResult;
  fanout?: FanoutResult;
  latency?: FanoutResult;
}

async function subscribeAll(worker: Child, target: Target, count: number, group: string, creds?: Cred[], channelId?: string) {
  const r = await worker.call<ConnectResult>('connect', {
    target,
    count,
    concurrency: P.connectConcurrency,
    creds,
    group,
    subscribe: { channelId },
  });
  if (r.opened !== count) throw new Error(`only ${r.opened}/${count} subscribers connected: ${JSON.stringify(r.errors)}`);
  return r;
}

async function benchOne(
  name: string,
  worker: Child,
  server: Child,
  target: Target,
  latencyRate: (own: FanoutResult) => number,
  relay?: { creds: Cred[]; channelId: string },
): Promise<ServerResult> {
  const out: ServerResult = {};
  log(`${name}: ${P.idleSockets} idle ${relay ? 'authenticated ' : ''}sockets (connection rate, memory)`);
  out.idle = await measureIdle(worker, server, target, relay?.creds);
  log(
    `${name}: ${out.idle.connect.opened} opened (${out.idle.connect.failed} failed) at ${out.idle.connect.perSecond.toFixed(0)}/s; ` +
      `RSS +${(out.idle.rssPerSocket / 1024).toFixed(1)} KB/socket, heap +${(out.idle.heapPerSocket / 1024).toFixed(1)} KB/socket`,
  );
  await sleep(1_000);
  log(`${name}: fan-out, 1 channel, ${P.subscribers} subscribers`);
  await subscribeAll(worker, target, P.subscribers, 'A', relay?.creds, relay?.channelId);
  await sleep(500);
  out.fanout = await measureFanout(worker, [server], {
    mode: 'closed',
    warmupMs: P.warmupMs,
    measureMs: P.measureMs,
    channelId: relay?.channelId,
    prefix: `${name}-sat`,
    profileFile: PROFILE ? path.join(RESULTS_DIR, `${name}-fanout.cpuprofile`) : undefined,
  });
  log(
    `${name}: ${out.fanout.deliveriesPerSec.toFixed(0)} deliveries/s (${out.fanout.messagesPerSec.toFixed(0)} msg/s), server ${out.fanout.serverCores.toFixed(2)} cores`,
  );
  await sleep(500);
  const rate = latencyRate(out.fanout);
  log(`${name}: send→deliver latency at ${rate.toFixed(0)} msg/s (half of raw saturation)`);
  out.latency = await measureFanout(worker, [server], {
    mode: 'open',
    rate,
    warmupMs: P.latencyWarmupMs,
    measureMs: P.latencyMeasureMs,
    channelId: relay?.channelId,
    prefix: `${name}-lat`,
  });
  log(`${name}: p50 ${out.latency.latencyMs.p50.toFixed(2)} ms, p99 ${out.latency.latencyMs.p99.toFixed(2)} ms`);
  await worker.call('closeAll', {});
  await sleep(1_000);
  return out;
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

async function startRelay(name: string, env: Record<string, string>): Promise<{ child: Child; target: Target; url: string }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `relay-bench-${name}-`));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const { child, info } = await startChild(name, 'relay-server.ts', { env: { ...env, DATA_DIR: dataDir } });
  cleanups.push(() => child.stop());
  const url = `http://${HOST}:${info.port}`;
  return { child, url, target: { proto: 'relay', host: HOST, port: info.port, origin: url } };
}

interface RelaySetup {
  admin: RelayHttp;
  users: RelayHttp[];
  usernames: string[];
  creds: Cred[];
  channelId: string;
}

async function setupRelay(url: string): Promise<RelaySetup> {
  const t0 = Date.now();
  const admin = await RelayHttp.register(url, 'benchadmin');
  if (admin.auth.user.role !== 'admin') throw new Error('the first registered user should be an admin');
  const usernames = Array.from({ length: P.users }, (_, i) => `bench${String(i).padStart(4, '0')}`);
  const users = await mapLimit(usernames, 4, (u) => RelayHttp.register(url, u));
  const { channel } = await admin.expect('POST', '/api/channels', { name: 'bench', kind: 'public' }, 201);
  await mapLimit(users, 8, (u) => u.expect('POST', `/api/channels/${channel.id}/join`, {}, 200));
  log(`relay: registered ${users.length + 1} users, channel ${channel.id} (${Date.now() - t0} ms)`);
  return {
    admin,
    users,
    usernames,
    creds: users.map((u) => ({ cookie: u.cookieHeader(), token: u.auth.token as string })),
    channelId: channel.id as string,
  };
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
}

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  log(`mode ${QUICK ? 'quick' : 'full'}; ${os.cpus().length} CPUs; node ${process.version}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const { child: worker } = await startChild('load-worker', 'load-worker.ts');
  cleanups.push(() => worker.stop());

  const results: Record<string, ServerResult> = {};
  let rawSaturation: number | undefined;
  // Half of raw ws saturation, for every server (raw included: its own saturation is measured first).
  const latencyRate = (own: FanoutResult) => (rawSaturation ?? own.messagesPerSec) / 2;

  if (ONLY.has('raw')) {
    const { child, info } = await startChild('raw-server', 'raw-server.ts');
    results.raw = await benchOne('raw', worker, child, { proto: 'raw', host: HOST, port: info.port }, latencyRate);
    rawSaturation = results.raw.fanout!.messagesPerSec;
    await child.stop();
  }
  if (ONLY.has('sio')) {
    const { child, info } = await startChild('socketio-server', 'socketio-server.ts');
    results.sio = await benchOne('socketio', worker, child, { proto: 'sio', host: HOST, port: info.port }, latencyRate);
    await child.stop();
  }

  let cluster: { one?: FanoutResult; oneWithRedis?: FanoutResult; two?: FanoutResult; revoke?: RevokeResult } = {};
  if (ONLY.has('relay') || ONLY.has('cluster')) {
    log('starting embedded Postgres');
    const db = await startPostgres();
    const secrets = { JWT_SECRET: randomBytes(32).toString('base64url'), SESSION_SECRET: randomBytes(32).toString('base64url') };
    let setup: RelaySetup | undefined;

    if (ONLY.has('relay')) {
      const relay = await startRelay('relay', relayEnv({ DATABASE_URL: db.url, ...secrets }));
      setup = await setupRelay(relay.url);
      results.relay = await benchOne('relay', worker, relay.child, relay.target, latencyRate, { creds: setup.creds, channelId: setup.channelId });
      cluster.one = results.relay.fanout;
      await relay.child.stop();
    }

    if (ONLY.has('cluster')) {
      log('starting Redis and two Relay instances (A, B)');
      const redis = await startRedis();
      const env = relayEnv({ DATABASE_URL: db.url, REDIS_URL: redis.url, ...secrets });
      const [a, b] = await Promise.all([startRelay('relay-A', env), startRelay('relay-B', env)]);
      setup ??= await setupRelay(a.url);
      const half = Math.floor(P.subscribers / 2);

      log(`cluster: one instance on Redis, ${P.subscribers} subscribers on A`);
      await subscribeAll(worker, a.target, P.subscribers, 'A', setup.creds, setup.channelId);
      await sleep(500);
      cluster.oneWithRedis = await measureFanout(worker, [a.child, b.child], {
        mode: 'closed',
        warmupMs: P.warmupMs,
        measureMs: P.measureMs,
        channelId: setup.channelId,
        prefix: 'cluster-one',
        senderGroup: 'A',
      });
      log(`cluster: one instance on Redis: ${cluster.oneWithRedis.deliveriesPerSec.toFixed(0)} deliveries/s`);
      await worker.call('closeAll', {});
      await sleep(1_000);

      log(`cluster: two instances, ${half} subscribers on A and ${P.subscribers - half} on B, senders on A`);
      await subscribeAll(worker, a.target, half, 'A', setup.creds, setup.channelId);
      await subscribeAll(worker, b.target, P.subscribers - half, 'B', setup.creds, setup.channelId);
      await sleep(500);
      cluster.two = await measureFanout(worker, [a.child, b.child], {
        mode: 'closed',
        warmupMs: P.warmupMs,
        measureMs: P.measureMs,
        channelId: setup.channelId,
        prefix: 'cluster-two',
        senderGroup: 'A',
        profileFile: PROFILE ? path.join(RESULTS_DIR, 'relay-A-two-instances.cpuprofile') : undefined,
      });
      log(`cluster: two instances: ${cluster.two.deliveriesPerSec.toFixed(0)} deliveries/s`);
      await worker.call('closeAll', {});
      await sleep(1_000);

      log(`cluster: revoke on A → 4403 on B, ${P.revokeSamples} samples`);
      cluster.revoke = await measureRevoke(setup, a.url, b.url);
      log(`cluster: revoke→close p50 ${cluster.revoke.closeMs.p50.toFixed(1)} ms, p99 ${cluster.revoke.closeMs.p99.toFixed(1)} ms`);
      await Promise.all([a.child.stop(), b.child.stop()]);
    }
  }

  // ---------------------------------------------------------------------------- report
  const raw = results.raw;
  const sio = results.sio;
  const rel = results.relay;
  const rows: string[][] = [['metric', 'raw ws', 'Socket.IO', 'Relay', 'Relay/raw', 'Relay/SIO']];
  const row = (name: string, r?: number, s?: number, x?: number, digits = 0, ratios = true) =>
    rows.push([name, fmt(r, digits), fmt(s, digits), fmt(x, digits), ratios ? fmt(ratio(x, r), 2) : '', ratios ? fmt(ratio(x, s), 2) : '']);
  row('fan-out deliveries/s (1 ch, 1,000 subs)', raw?.fanout?.deliveriesPerSec, sio?.fanout?.deliveriesPerSec, rel?.fanout?.deliveriesPerSec);
  row('  median 1-s window deliveries/s', raw?.fanout?.medianSecondDeliveriesPerSec, sio?.fanout?.medianSecondDeliveriesPerSec, rel?.fanout?.medianSecondDeliveriesPerSec);
  row('  messages/s at saturation', raw?.fanout?.messagesPerSec, sio?.fanout?.messagesPerSec, rel?.fanout?.messagesPerSec);
  row('  server CPU µs per 1,000 deliveries', raw?.fanout?.serverCpuUsPerKDeliveries, sio?.fanout?.serverCpuUsPerKDeliveries, rel?.fanout?.serverCpuUsPerKDeliveries);
  row('  server cores busy / load-gen cores', undefined, undefined, undefined, 0, false);
  rows[rows.length - 1] = [
    '  server cores / load-gen cores busy',
    ...[raw, sio, rel].map((x) => (x?.fanout ? `${fmt(x.fanout.serverCores, 2)} / ${fmt(x.fanout.loadCores, 2)}` : '—')),
    '',
    '',
  ];
  row('  saturation p50 latency ms (window 10 msgs)', raw?.fanout?.latencyMs.p50, sio?.fanout?.latencyMs.p50, rel?.fanout?.latencyMs.p50, 1, false);
  row(
    `connections/s (${fmt(P.idleSockets)}; Relay: authenticated)`,
    raw?.idle?.connect.perSecond,
    sio?.idle?.connect.perSecond,
    rel?.idle?.connect.perSecond,
  );
  row('  handshake p50 ms (50 in parallel)', raw?.idle?.connect.handshake.p50, sio?.idle?.connect.handshake.p50, rel?.idle?.connect.handshake.p50, 1, false);
  row('  handshake p99 ms', raw?.idle?.connect.handshake.p99, sio?.idle?.connect.handshake.p99, rel?.idle?.connect.handshake.p99, 1, false);
  row(`memory per idle socket, RSS KB (${fmt(P.idleSockets)})`, kb(raw?.idle?.rssPerSocket), kb(sio?.idle?.rssPerSocket), kb(rel?.idle?.rssPerSocket), 2);
  row('  JS heap KB per idle socket', kb(raw?.idle?.heapPerSocket), kb(sio?.idle?.heapPerSocket), kb(rel?.idle?.heapPerSocket), 2);
  const rate = raw?.fanout ? raw.fanout.messagesPerSec / 2 : rel?.latency?.rateTarget;
  row(`send→deliver p50 ms at ${fmt(rate)} msg/s`, raw?.latency?.latencyMs.p50, sio?.latency?.latencyMs.p50, rel?.latency?.latencyMs.p50, 2);
  row('  p99 ms', raw?.latency?.latencyMs.p99, sio?.latency?.latencyMs.p99, rel?.latency?.latencyMs.p99, 2);
  row('  max ms', raw?.latency?.latencyMs.max, sio?.latency?.latencyMs.max, rel?.latency?.latencyMs.max, 1, false);
  row('  server CPU µs per 1,000 deliveries', raw?.latency?.serverCpuUsPerKDeliveries, sio?.latency?.serverCpuUsPerKDeliveries, rel?.latency?.serverCpuUsPerKDeliveries);

  const crows: string[][] = [['Relay cluster (Postgres + Redis)', 'value', 'vs 1 instance']];
  if (cluster.one) crows.push(['1 instance, no Redis: deliveries/s', fmt(cluster.one.deliveriesPerSec), '1.00']);
  if (cluster.oneWithRedis)
    crows.push(['1 instance on Redis (B idle): deliveries/s', fmt(cluster.oneWithRedis.deliveriesPerSec), fmt(ratio(cluster.oneWithRedis.deliveriesPerSec, cluster.one?.deliveriesPerSec), 2)]);
  if (cluster.two) {
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
    { name: 'authenticated conn/s vs raw handshakes/s', value: ratio(rel?.idle?.connect.perSecond, raw?.idle?.connect.perSecond), goal: '≥ 0.7', unit: '×', ok: undefined },
    { name: 'idle socket RSS Relay/raw', value: ratio(rel?.idle?.rssPerSocket, raw?.idle?.rssPerSocket), goal: '≤ 1.5', unit: '×', ok: undefined },
    { name: 'idle socket RSS Relay (KB)', value: kb(rel?.idle?.rssPerSocket), goal: '≤ 10', unit: 'KB', ok: undefined },
    { name: 'send→deliver p99 at half raw saturation (ms)', value: rel?.latency?.latencyMs.p99, goal: '≤ 25', unit: 'ms', ok: undefined },
    { name: '2 instances on Redis / 1 instance', value: ratio(cluster.two?.deliveriesPerSec, cluster.one?.deliveriesPerSec), goal: '≥ 0.7', unit: '×', ok: undefined },
    { name: 'revoke→close p99 across instances (ms)', value: cluster.revoke?.closeMs.p99, goal: '≤ 250', unit: 'ms', ok: undefined },
  ];
  for (const t of targets) {
    if (t.value === undefined || !Number.isFinite(t.value)) continue;
    const limit = Number(t.goal.slice(2));
    t.ok = t.goal.startsWith('≥') ? t.value >= limit : t.value <= limit;
  }
  const trows: string[][] = [['target', 'measured', 'goal', 'met']];
  for (const t of targets) trows.push([t.name, fmt(t.value, 2), t.goal, t.ok === undefined ? 'n/a' : t.ok ? 'yes' : 'NO']);

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
  if (cluster.revoke?.failures) warnings.push(`revoke: ${cluster.revoke.failures} samples failed: ${JSON.stringify(cluster.revoke.reasons)}`);

  const text = [
    '',
    `Relay benchmark (${QUICK ? 'quick' : 'full'}) — ${new Date().toISOString()} — ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
    '',
    table(rows),
    '',
    table(crows),
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
