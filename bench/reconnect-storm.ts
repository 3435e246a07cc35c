/**
 * Reconnect storm, the orchestrator side (issue 13): N authenticated, subscribed Relay sockets in
 * the load worker (bench/storm-client.ts reconnects them like the browser); SIGTERM the Relay
 * process (bench/relay-server.ts, the real entry), which must exit 0 after closing every socket
 * with 1001; start it again on the same port and database (the orchestrator owns the embedded
 * Postgres, so only Relay restarts); time from the new process first answering /healthz until 50,
 * 99 and 100 % of the sockets are authenticated and subscribed again. While they come back,
 * /healthz is probed every 100 ms on a fresh connection (as a load balancer would) and its
 * response time kept.
 *
 * For where the time goes it also takes: the backoff each socket still had to wait after /healthz
 * (no server can shorten that) vs. the duration of its successful attempt; failed attempts by
 * reason; token requests; the new process's Postgres queries, event-loop delay and CPU; the
 * kernel's listen-queue overflows/drops over the storm (/proc/net/netstat: machine-wide, so other
 * tenants' connections count too); and the presence frames the sockets received.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { Child } from './common.js';
import { percentileOf, sleep } from './common.js';
import type { Cred, Target } from './load-worker.js';
import { epochNow, type TokenPolicy } from './storm-client.js';

type StormClientReport = ReturnType<typeof import('./storm-client.js').stormReport>;

export interface RelayProcess {
  child: Child;
  target: Target;
  url: string;
  /** From bench/relay-server.ts: process start → modules loaded, and startServer's own time (DB, migrations, listen). */
  startup?: { loadMs: number; startServerMs: number };
}

/** What bench/relay-server.ts counts (since it started listening). */
export interface ServerCounters {
  queries: number;
  loopDelayMs: { p50: number; p99: number; max: number };
  loopUtilization: number;
  mainThread: { onCpuMs: number; waitingForCpuMs: number };
}

export interface ReconnectStormResult {
  tokenPolicy: TokenPolicy;
  sockets: number;
  connect: { opened: number; elapsedMs: number };
  shutdown: { exitCode: number | null; signal: string | null; ms: number; killed: boolean };
  /** Old process gone → new process answering /healthz. */
  restartMs: number;
  newProcess?: { loadMs: number; startServerMs: number };
  /** SIGTERM → /healthz of the new process. */
  downMs: number;
  /** /healthz → the last socket back (or the deadline). */
  recoveryMs: number;
  deadlineHit: boolean;
  client: StormClientReport;
  healthz: { samples: number; failures: number; p50: number; p99: number; max: number; errors: Record<string, number>; series: Array<[number, number]> };
  server: ServerCounters & { cpuSeconds: number; cores: number };
  loadCores: number;
  netstat: Record<string, number>;
  /** Share of the machine's CPU time busy (all processes, all tenants) from SIGTERM to the end. */
  machineBusy: number;
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  try {
    const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - v[3] - (v[4] ?? 0), total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** TcpExt counters from /proc/net/netstat (this network namespace, all processes). */
function tcpExt(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i].split(/\s+/).slice(1);
    const values = lines[i + 1].split(/\s+/).slice(1).map(Number);
    const out: Record<string, number> = {};
    for (const k of ['ListenOverflows', 'ListenDrops', 'TCPReqQFullDrop', 'TCPBacklogDrop', 'TCPSynRetrans', 'TCPTimeouts']) {
      const j = names.indexOf(k);
      if (j >= 0) out[k] = values[j];
    }
    return out;
  } catch {
    return {};
  }
}

/** GET /healthz on a connection of its own. */
function probe(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; ms: number; err?: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/healthz', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: performance.now() - t0, err: res.statusCode === 200 ? undefined : `http_${res.statusCode}` }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - t0, err: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - t0, err: e.code ?? e.message }));
  });
}

async function cpuUs(c: Child): Promise<number> {
  const u = await c.call<{ userUs: number; systemUs: number }>('cpu');
  return u.userUs + u.systemUs;
}

export async function reconnectStorm(opts: {
  worker: Child;
  relay: RelayProcess;
  /** Starts Relay again (same database, secrets and port). */
  restart: (port: number) => Promise<RelayProcess>;
  creds: Cred[];
  channelId: string;
  count: number;
  concurrency: number;
  localAddresses: string[];
  tokenPolicy: TokenPolicy;
  /** Sockets not back this long after /healthz are reported as not back. */
  deadlineMs: number;
  log: (msg: string) => void;
}): Promise<{ result: ReconnectStormResult; relay: RelayProcess }> {
  const { worker, log } = opts;
  const port = opts.relay.target.port;
  const host = opts.relay.target.host;

  const connect = await opts.worker.call<{ opened: number; failed: number; elapsedMs: number; errors: Record<string, number> }>('stormConnect', {
    target: opts.relay.target,
    count: opts.count,
    concurrency: opts.concurrency,
    creds: opts.creds,
    channelId: opts.channelId,
    localAddresses: opts.localAddresses,
    tokenPolicy: opts.tokenPolicy,
  });
  if (connect.opened !== opts.count) {
    await worker.call('stormClose');
    throw new Error(`reconnect storm: only ${connect.opened}/${opts.count} sockets connected: ${JSON.stringify(connect.errors)}`);
  }
  log(`storm (${opts.tokenPolicy}): ${connect.opened} sockets subscribed in ${(connect.elapsedMs / 1000).toFixed(1)} s; SIGTERM to Relay`);
  await sleep(1_000);
  await worker.call('stormArm');

  // ---- stop the old process
  const net0 = tcpExt();
  const m0 = machineCpu();
  const load0 = await cpuUs(worker);
  const old = opts.relay.child;
  const tTerm = epochNow();
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (old.proc.exitCode !== null) return resolve({ code: old.proc.exitCode, signal: null });
    old.proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  old.proc.kill('SIGTERM');
  let killed = false;
  const killTimer = setTimeout(() => {
    killed = true;
    old.proc.kill('SIGKILL');
  }, 15_000);
  const exit = await exited;
  clearTimeout(killTimer);
  const tExit = epochNow();

  // ---- start the new one; /healthz polled every 10 ms from the spawn on
  const restarting = opts.restart(port);
  let tHealth = NaN;
  const healthDeadline = performance.now() + 120_000;
  while (performance.now() < healthDeadline) {
    const r = await probe(host, port, 1_000);
    if (r.ok) {
      tHealth = epochNow();
      break;
    }
    await sleep(10);
  }
  const relay = await restarting;
  if (!Number.isFinite(tHealth)) throw new Error('reconnect storm: the new Relay never answered /healthz');
  const cpu0 = await cpuUs(relay.child);
  const tCpu0 = epochNow();
  log(`storm: old Relay exited ${exit.code ?? exit.signal} after ${((tExit - tTerm) / 1000).toFixed(2)} s; new one answered /healthz ${((tHealth - tExit) / 1000).toFixed(2)} s later`);

  // ---- /healthz every 100 ms while the sockets come back
  const samples: number[] = [];
  const series: Array<[number, number]> = [];
  const errors: Record<string, number> = {};
  let failures = 0;
  const inflight = new Set<Promise<void>>();
  const sampler = setInterval(() => {
    const at = Math.round(epochNow() - tHealth);
    const p = probe(host, port, 10_000).then((r) => {
      samples.push(r.ms);
      series.push([at, Math.round(r.ms * 10) / 10]);
      if (!r.ok) {
        failures++;
        errors[r.err ?? '?'] = (errors[r.err ?? '?'] ?? 0) + 1;
      }
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }, 100);

  const deadline = tHealth + opts.deadlineMs;
  let lastLog = 0;
  let status = await worker.call<{ total: number; dropped: number; back: number; gaveUp: number; live: number }>('stormStatus');
  while (epochNow() < deadline) {
    status = await worker.call('stormStatus');
    if (status.back + status.gaveUp >= status.total) break;
    if (epochNow() - lastLog > 5_000) {
      lastLog = epochNow();
      log(`storm: ${status.back}/${status.total} back, ${status.gaveUp} gave up, ${((epochNow() - tHealth) / 1000).toFixed(1)} s after /healthz`);
    }
    await sleep(100);
  }
  const tEnd = epochNow();
  clearInterval(sampler);
  await Promise.all(inflight);
  const [server1, cpu1, load1] = await Promise.all([
    // Since the new process started listening.
    relay.child.call<ServerCounters>('counters', { reset: true }),
    cpuUs(relay.child),
    cpuUs(worker),
  ]);
  const net1 = tcpExt();
  const m1 = machineCpu();
  const client = await worker.call<StormClientReport>('stormReport', { t0: tHealth });
  await worker.call('stormClose');

  const netstat: Record<string, number> = {};
  for (const k of Object.keys(net1)) netstat[k] = net1[k] - (net0[k] ?? 0);
  const cpuSeconds = (cpu1 - cpu0) / 1e6;
  const result: ReconnectStormResult = {
    tokenPolicy: opts.tokenPolicy,
    sockets: opts.count,
    connect: { opened: connect.opened, elapsedMs: connect.elapsedMs },
    shutdown: { exitCode: exit.code, signal: exit.signal, ms: tExit - tTerm, killed },
    restartMs: tHealth - tExit,
    newProcess: relay.startup,
    downMs: tHealth - tTerm,
    recoveryMs: tEnd - tHealth,
    deadlineHit: status.back + status.gaveUp < status.total,
    client,
    healthz: {
      samples: samples.length,
      failures,
      p50: percentileOf(samples, 50),
      p99: percentileOf(samples, 99),
      max: samples.length ? Math.max(...samples) : NaN,
      errors,
      series,
    },
    server: { ...server1, cpuSeconds, cores: cpuSeconds / ((tEnd - tCpu0) / 1000) },
    loadCores: (load1 - load0) / 1e6 / ((tEnd - tTerm) / 1000),
    netstat,
    machineBusy: (m1.busy - m0.busy) / (m1.total - m0.total),
  };
  log(
    `storm (${opts.tokenPolicy}): ${client.back}/${client.sockets} back; 99 % after ${(client.backMs.p99 / 1000).toFixed(2)} s, ` +
      `100 % after ${(client.backMs.p100 / 1000).toFixed(2)} s; gave up ${Object.values(client.gaveUp).reduce((a, b) => a + b, 0)}`,
  );
  return { result, relay };
}
