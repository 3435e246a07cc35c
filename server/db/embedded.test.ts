/**
 * Zero-configuration mode as a person runs it: no DATABASE_URL, the real process, the real
 * embedded Postgres under DATA_DIR. A killed server (kill -9) must not keep the next start from
 * working, and nothing stored before the kill is lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres } from './embedded.js';

const root = path.resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];

async function startProcess(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'development', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${output}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return child;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server did not become ready: ${output}`);
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

describe('embedded Postgres (zero configuration)', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'relay-zero-config-'));
  chmodSync(dataDir, 0o755);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts with nothing configured, survives kill -9, and keeps its data', async () => {
    const port = await freePort();
    const first = await startProcess(dataDir, port);
    const reg = await fetch(`http://127.0.0.1:${port}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'zeroconf', password: 'correct horse battery' }),
    });
    expect(reg.status).toBe(201);
    expect((await reg.json()).user.role).toBe('admin');

    first.kill('SIGKILL');
    await exited(first);

    // The orphaned Postgres of the killed server is stopped and started again under the new one.
    const second = await startProcess(dataDir, port);
    const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'zeroconf', password: 'correct horse battery' }),
    });
    expect(login.status).toBe(200);

    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
  }, 120_000);
});

describe('embedded Postgres started by root', () => {
  // `DATA_DIR=$(mktemp -d)` is 0700; Postgres runs as the `postgres` user and must reach its folder inside.
  it.skipIf(process.getuid?.() !== 0)('starts in a DATA_DIR that only root may enter (mktemp -d)', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'relay-private-'));
    try {
      const db = await startEmbeddedPostgres({ dataDir });
      await db.stop();
      expect(db.url).toMatch(/^postgres:\/\//);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
