/** A private redis-server on a free port, for one test file. Real Redis, never a mock. */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../db/embedded.js';

export interface TestRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  restart(): Promise<void>;
}

/**
 * Starts `redis-server` with `args` (no persistence is the caller's to ask for) and resolves once
 * it accepts connections; rejects with its output if it exits or is not ready within 10 s.
 */
export async function launchRedisServer(args: string[], what = 'redis-server'): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${out}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

function launch(port: number): Promise<ChildProcess> {
  return launchRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await launch(port),
    async stop() {
      if (redis.process.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        redis.process.once('exit', () => resolve());
        redis.process.kill('SIGKILL');
      });
    },
    async restart() {
      redis.process = await launch(port);
    },
  };
  return redis;
}
