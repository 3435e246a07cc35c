/**
 * Relay as a benchmark child: the real startServer(loadConfig(env)) in its own process (so the
 * load generator never shares its event loop), plus the same IPC probes the baselines answer
 * (memory after GC, CPU time, on-demand CPU profile). The configuration comes from the
 * environment bench/run.ts passes, exactly as `npm start` would read it.
 *
 * Bench-only counters, for telling where a reconnect storm's time goes (`counters`), each since
 * this process started listening or since the last reset: the queries it sent to Postgres (a
 * count in front of pg.Client#query, which pool.query and drizzle both go through), the
 * event-loop delay (perf_hooks, 10 ms resolution) and utilisation, and the main thread's time on
 * a CPU and waiting for one (/proc/self/schedstat: the machine's other load shows up there).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import pg from 'pg';
import { loadConfig } from '../server/config.js';
import { startServer } from '../server/server.js';
import { announceReady } from './common.js';
import { serveServerRpc } from './server-ipc.js';

let queries = 0;
const clientProto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const query = clientProto.query;
clientProto.query = function (this: unknown, ...args: unknown[]) {
  queries++;
  return query.apply(this, args);
};
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

/** Main thread: [ns on a CPU, ns runnable but waiting for a CPU] (zeros where /proc is absent). */
function schedstat(): [number, number] {
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    return [run, wait];
  } catch {
    return [0, 0];
  }
}

// Module graph loaded (for this tsx child: TypeScript compiled on the fly, unlike `npm start`).
const loadedMs = performance.now();
const config = loadConfig(process.env);
const server = await startServer(config);
const startedMs = performance.now();
let queriesAtReset = queries;
let eluAtReset: EventLoopUtilization = performance.eventLoopUtilization();
let schedAtReset = schedstat();
loop.reset();
serveServerRpc({
  counters: (args: { reset?: boolean }) => {
    const sched = schedstat();
    const out = {
      queries: queries - queriesAtReset,
      loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      loopUtilization: performance.eventLoopUtilization(eluAtReset).utilization,
      mainThread: { onCpuMs: (sched[0] - schedAtReset[0]) / 1e6, waitingForCpuMs: (sched[1] - schedAtReset[1]) / 1e6 },
    };
    if (args?.reset) {
      queriesAtReset = queries;
      eluAtReset = performance.eventLoopUtilization();
      schedAtReset = sched;
      loop.reset();
    }
    return out;
  },
});
announceReady({ port: server.port, url: server.url, path: '/ws', startup: { loadMs: loadedMs, startServerMs: startedMs - loadedMs } });

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
