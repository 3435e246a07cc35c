/**
 * Shared pieces of the benchmark: the IPC request/response helper used between the orchestrator
 * (bench/run.ts) and its children (servers and the load worker), the 100-byte message body, and a
 * fixed-resolution latency histogram.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Every message body in every scenario is exactly this many characters. */
export const BODY_LENGTH = 100;
/** Marks a benchmark message inside any frame: the load worker counts frames containing it. */
export const MARKER = 'BENCH|';

/** `BENCH|<seq>|<send time, ms since worker start>|xxxx…` padded to BODY_LENGTH characters. */
export function makeBody(seq: number, sentAtMs: number): string {
  const head = `${MARKER}${seq}|${sentAtMs.toFixed(3)}|`;
  return head + 'x'.repeat(Math.max(0, BODY_LENGTH - head.length));
}

// ---------------------------------------------------------------------------------------------
// IPC: {id, cmd, args} → {id, ok, result | error}

interface RpcRequest {
  rpc: number;
  cmd: string;
  args: unknown;
}
interface RpcResponse {
  rpc: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export type Handlers = Record<string, (args: any) => unknown>;

/** In a child: answers the parent's requests with the given handlers. */
export function serveRpc(handlers: Handlers): void {
  if (!process.send) throw new Error('serveRpc: not started with an IPC channel');
  process.on('message', (raw: unknown) => {
    const msg = raw as RpcRequest;
    if (!msg || typeof msg.rpc !== 'number') return;
    const handler = handlers[msg.cmd];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${msg.cmd}`);
        return handler(msg.args);
      })
      .then(
        (result) => process.send!({ rpc: msg.rpc, ok: true, result } satisfies RpcResponse),
        (err: unknown) => process.send!({ rpc: msg.rpc, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
      );
  });
  // The orchestrator going away (crash, Ctrl-C) must not leave children behind.
  process.on('disconnect', () => process.exit(0));
}

/** Tells the parent the child is ready (with data such as the port it listens on). */
export function announceReady(data: Record<string, unknown>): void {
  process.send?.({ ready: true, ...data });
}

/** A forked TypeScript child (run through tsx) with request/response IPC. */
export class Child {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<Record<string, any>>;
  exited = false;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.ready = new Promise((resolve, reject) => {
      proc.on('message', (raw: any) => {
        if (raw && raw.ready) return resolve(raw);
        const msg = raw as RpcResponse;
        const p = this.pending.get(msg.rpc);
        if (!p) return;
        this.pending.delete(msg.rpc);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${name}: ${msg.error}`));
      });
      proc.on('exit', (code, signal) => {
        this.exited = true;
        const err = new Error(`${name} exited (code ${code}, signal ${signal})`);
        reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
    });
  }

  call<T = any>(cmd: string, args: unknown = {}, timeoutMs = 600_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const rpc = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rpc);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rpc, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ rpc, cmd, args } satisfies RpcRequest);
    });
  }

  /** SIGTERM, then SIGKILL after a grace period. Resolves when the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited || this.proc.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}

/** Forks bench/<file> under tsx with --expose-gc and an IPC channel; waits for it to be ready. */
export async function startChild(
  name: string,
  file: string,
  opts: { env?: Record<string, string | undefined>; args?: string[]; quiet?: boolean; readyTimeoutMs?: number } = {},
): Promise<{ child: Child; info: Record<string, any> }> {
  const proc = fork(path.join(BENCH_DIR, file), opts.args ?? [], {
    execArgv: [...process.execArgv, '--expose-gc'],
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', opts.quiet ? 'ignore' : 'inherit', 'inherit', 'ipc'],
  });
  const child = new Child(name, proc);
  const timeout = opts.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  const info = await Promise.race([
    child.ready,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} not ready after ${timeout} ms`)), timeout);
    }),
  ]).catch(async (err: Error) => {
    await child.stop(1_000);
    throw err;
  });
  clearTimeout(timer);
  return { child, info };
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: 10 µs buckets up to 10 s, one overflow bucket.

const BUCKET_MS = 0.01;
const BUCKETS = 1_000_000;

export class Histogram {
  private counts = new Uint32Array(BUCKETS + 1);
  count = 0;
  max = 0;
  sum = 0;

  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    const i = Math.min(BUCKETS, Math.floor(v / BUCKET_MS));
    this.counts[i]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const target = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= target) return i === BUCKETS ? this.max : (i + 1) * BUCKET_MS;
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
      mean: this.count ? this.sum / this.count : NaN,
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Percentile of a small array of samples (nearest rank). */
export function percentileOf(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
