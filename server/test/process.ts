/**
 * Real server processes for multi-instance and process-level tests: `node --import tsx
 * server/main.ts` with an explicit environment (nothing inherited but PATH and HOME), waited for
 * until /healthz answers. Each process leads its own process group, so `killAll()` also takes
 * down cluster workers even when the primary is already gone.
 *
 * @example
 * const a = await spawnServer({ DATABASE_URL: db, REDIS_URL: redis.url, ...secrets });
 * await fetch(`${a.url}/healthz`);
 * await a.stop('SIGTERM');                     // → { code: 0, signal: null }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../db/embedded.js';
import { DEFAULT_PASSWORD, HttpClient, testSecret } from './harness.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Process groups spawned by this test worker and not yet reaped. */
const live = new Set<number>();
let exitHook = false;

/** SIGKILLs every process group this test worker spawned that is still running. */
export async function killSpawned(): Promise<void> {
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 5_000;
  while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  env: Record<string, string>;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited (at once if it already has). Rejects after timeoutMs. */
  waitExit(timeoutMs?: number): Promise<ExitStatus>;
  /** Sends `signal` (default SIGTERM) to the process and waits for its exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
  /** SIGKILL to the process alone (a crash: no cleanup runs), then waits for its exit. */
  kill9(): Promise<ExitStatus>;
  /** SIGKILL to the whole process group (the primary and any workers). Never throws. */
  killAll(): Promise<void>;
  exited(): boolean;
}

/** The environment every spawned test server shares unless a test overrides it. */
export function baseServerEnv(): Record<string, string> {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'relay-proc-data-')),
    JWT_SECRET: testSecret(),
    SESSION_SECRET: testSecret(),
    LOGIN_RATE_LIMIT_PER_IP: '100000',
    LOGIN_RATE_LIMIT_PER_USERNAME: '100000',
    CHANNEL_WRITE_RATE_LIMIT: '100000',
  };
}

/**
 * Starts `server/main.ts` with `env` (PORT is chosen with freePort() unless given) and waits for
 * GET /healthz to answer 200. Throws, with the process's output, if it exits or does not answer
 * within `readyTimeoutMs`.
 */
export async function spawnServer(
  env: Record<string, string>,
  opts: { readyTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const fullEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    ...env,
    PORT: String(port),
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let status: ExitStatus | undefined;
  const exit = new Promise<ExitStatus>((resolve) => {
    child.on('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
    child.on('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      status ??= { code: null, signal: null };
      resolve(status);
    });
  });
  const pid = child.pid!;
  live.add(pid);
  void exit.then(() => live.delete(pid));
  if (!exitHook) {
    exitHook = true;
    // Last resort if the test worker itself goes away: no server outlives it.
    process.once('exit', () => {
      for (const p of live) {
        try {
          process.kill(-p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
  }
  const url = `http://127.0.0.1:${port}`;

  const waitExit = (timeoutMs = 10_000): Promise<ExitStatus> =>
    status
      ? Promise.resolve(status)
      : new Promise<ExitStatus>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`pid ${pid} did not exit within ${timeoutMs} ms\n${out}`)), timeoutMs);
          void exit.then((s) => {
            clearTimeout(t);
            resolve(s);
          });
        });

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      /* already gone */
    }
  };

  const proc: ServerProcess = {
    url,
    port,
    pid,
    env: fullEnv,
    child,
    output: () => out,
    waitExit,
    exited: () => status !== undefined,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (!status) child.kill(signal);
      return waitExit(timeoutMs);
    },
    async kill9() {
      if (!status) child.kill('SIGKILL');
      return waitExit();
    },
    async killAll() {
      signalGroup('SIGKILL');
      await waitExit(5_000).catch(() => {});
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (status) throw new Error(`server exited (${status.code ?? status.signal}) before answering /healthz:\n${out}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) {
        await res.body?.cancel();
        return proc;
      }
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await proc.killAll();
      throw new Error(`server did not answer /healthz within ${opts.readyTimeoutMs ?? 30_000} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Registers `username` against the instance at `baseUrl`; the client keeps its cookies and token. */
export async function registerAt(baseUrl: string, username: string, password = DEFAULT_PASSWORD): Promise<HttpClient> {
  const c = new HttpClient(baseUrl);
  const res = await c.post('/api/auth/register', { username, password });
  if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(res.body)}`);
  c.auth = res.body;
  return c;
}

/**
 * The same signed-in browser pointed at another instance: same cookies (session and device
 * fingerprint), same token. Sessions live in Redis, so the cookies work on any instance.
 */
export function via(client: HttpClient, baseUrl: string): HttpClient {
  const c = new HttpClient(baseUrl);
  for (const [k, v] of client.cookies) c.cookies.set(k, v);
  c.auth = client.auth;
  return c;
}
