/**
 * The operator CLI as an operator runs it (a real process on the embedded Postgres): a refused
 * command still stops the Postgres it started, instead of leaving it running without an owner.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testSecret } from './test/harness.js';
import { baseServerEnv, spawnServer } from './test/process.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/** The cookies a response set, as a request's Cookie header. */
const sessionCookie = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');

function runCli(dataDir: string, args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', ...args], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? os.tmpdir(),
        NODE_ENV: 'test',
        DATA_DIR: dataDir,
        JWT_SECRET: testSecret(),
        SESSION_SECRET: testSecret(),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(stdin);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('cli user:create and user:role on the embedded Postgres', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'relay-cli-'));
  if (process.getuid?.() === 0) chmodSync(dataDir, 0o755);
  const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');

  afterAll(() => {
    // Should a run leave Postgres behind, stop it here rather than leak it past the test.
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGINT');
      } catch {
        /* gone */
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates an admin from a password on stdin', async () => {
    const r = await runCli(dataDir, ['user:create', '--username', 'Boss', '--password-stdin', '--admin'], 'a long password\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^created admin boss \(/);
    expect(existsSync(pidFile)).toBe(false);
  }, 120_000);

  it('exits 1 with one line on a taken username or an unknown user, and stops its Postgres', async () => {
    const taken = await runCli(dataDir, ['user:create', '--username', 'boss', '--password-stdin'], 'another long password\n');
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe('relay: That username is taken\n');
    expect(existsSync(pidFile)).toBe(false);

    const unknown = await runCli(dataDir, ['user:role', '--username', 'nobody', '--role', 'admin']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('relay: no user nobody\n');
    expect(existsSync(pidFile)).toBe(false);
  }, 120_000);

  it('runs beside a server on the same DATA_DIR, on that server\'s Postgres, which it leaves running', async () => {
    const env = baseServerEnv();
    const server = await spawnServer(env, { readyTimeoutMs: 90_000 });
    try {
      const r = await runCli(env.DATA_DIR, ['user:create', '--username', 'beside', '--password-stdin'], 'a long password\n');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // The running server sees the new account at once, and its database is still up.
      const login = await fetch(`${server.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'beside', password: 'a long password' }),
      });
      expect(login.status).toBe(200);
      // Like a registered account, it is in the default channel (DEFAULT_CHANNEL, unset: general).
      const channels = await fetch(`${server.url}/api/channels`, { headers: { cookie: sessionCookie(login) } });
      const general = ((await channels.json()) as { channels: Array<{ name: string; memberIds: string[] }> }).channels.find((c) => c.name === 'general');
      expect(general?.memberIds).toEqual([((await login.json()) as { user: { id: string } }).user.id]);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      await server.stop();
      rmSync(env.DATA_DIR, { recursive: true, force: true });
    }
  }, 180_000);
});
