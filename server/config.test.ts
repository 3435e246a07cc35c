/**
 * Configuration (CONTRACT "Configuration"): production refuses to start without strong secrets
 * (exit 1, one line naming the variable, checked on the real process); elsewhere missing secrets
 * are generated once into DATA_DIR/secrets.json (mode 0600) and reused.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from './config.js';

const strong = () => 'x'.repeat(24) + Math.random().toString(36).slice(2, 14).padEnd(12, 'y');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'relay-config-'));

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('loadConfig accepted the configuration');
}

/** Runs the real entry point with exactly this environment (plus PATH/HOME). */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '..'),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main.ts did not exit: ${stdout}${stderr}`));
    }, 25_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe('production secrets (the real process)', () => {
  it.each([
    ['JWT_SECRET missing', { SESSION_SECRET: strong() }, 'JWT_SECRET'],
    ['SESSION_SECRET too short', { JWT_SECRET: strong(), SESSION_SECRET: 'short-secret' }, 'SESSION_SECRET'],
  ])('%s: exits 1 with one line naming the variable', async (_name, secrets, variable) => {
    const dataDir = tmp();
    const { code, stderr } = await runMain({ NODE_ENV: 'production', DATA_DIR: dataDir, PORT: '0', ...secrets });
    expect(code).toBe(1);
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(lines[0]).not.toMatch(variable === 'JWT_SECRET' ? /SESSION_SECRET/ : /JWT_SECRET/);
    // Nothing was generated as a fallback.
    expect(() => statSync(path.join(dataDir, 'secrets.json'))).toThrow();
  });
});

describe('a TRUST_PROXY that trusts every hop, in production (the real process)', () => {
  it('exits 1 with one line naming TRUST_PROXY', async () => {
    // An unreachable database: were the setting accepted, the start would fail another way.
    const { code, stderr } = await runMain({
      NODE_ENV: 'production',
      DATA_DIR: tmp(),
      PORT: '0',
      DATABASE_URL: 'postgres://relay@127.0.0.1:1/relay',
      JWT_SECRET: strong(),
      SESSION_SECRET: strong(),
      TRUST_PROXY: 'true',
    });
    expect(code).toBe(1);
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain('TRUST_PROXY');
    expect(lines[0]).toMatch(/proxy addresses or a hop count/);
  });
});

describe('loadConfig', () => {
  it('refuses in production a TRUST_PROXY that trusts every hop: true, or ranges covering every address', () => {
    const base = { NODE_ENV: 'production', DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong() };
    for (const everyone of [
      'true',
      '0.0.0.0/0',
      '::/0',
      'loopback, 0.0.0.0/0',
      '0.0.0.0/0.0.0.0',
      '0.0.0.0/1, 128.0.0.0/1',
      '::ffff:0.0.0.0/96', // every IPv4 client, as a mapped IPv6 range
      '::/64', // holds every IPv4-mapped address, so every IPv4 client too
      '::/1, 8000::/1',
    ]) {
      expect(problemsOf({ ...base, TRUST_PROXY: everyone }), everyone).toEqual([
        expect.stringMatching(/^TRUST_PROXY: .*proxy addresses or a hop count/),
      ]);
    }
    for (const named of ['false', '1', '2', 'loopback', '10.0.0.0/8, fd00::/8', '192.168.0.10, 192.168.0.11', 'loopback, uniquelocal', '2001:db8::/32']) {
      expect(loadConfig({ ...base, TRUST_PROXY: named }).trustProxy, named).not.toBe(true);
    }
    // Outside production it is allowed (a developer's laptop behind a local proxy).
    expect(loadConfig({ DATA_DIR: tmp(), TRUST_PROXY: 'true' }).trustProxy).toBe(true);
  });

  it('names TRUST_PROXY when it is not a list of addresses', () => {
    const base = { DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong() };
    expect(problemsOf({ ...base, TRUST_PROXY: '10.0.0.0/8, proxy.internal' })).toEqual([expect.stringMatching(/^TRUST_PROXY: /)]);
  });

  it('reads METRICS_TOKEN', () => {
    const base = { DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong() };
    expect(loadConfig(base).metricsToken).toBeUndefined();
    expect(loadConfig({ ...base, METRICS_TOKEN: ' scrape-me-please ' }).metricsToken).toBe('scrape-me-please');
  });

  it('refuses production without a strong JWT_SECRET or SESSION_SECRET, naming each', () => {
    const dataDir = tmp();
    expect(problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir, SESSION_SECRET: strong() })).toEqual([
      expect.stringContaining('JWT_SECRET'),
    ]);
    expect(problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir, JWT_SECRET: strong(), SESSION_SECRET: 'abc' })).toEqual([
      expect.stringContaining('SESSION_SECRET'),
    ]);
    expect(problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir, JWT_SECRET: '   ', SESSION_SECRET: strong() })).toEqual([
      expect.stringContaining('JWT_SECRET'),
    ]);
    // A weak previous secret in a rotation list is as bad as a weak current one.
    expect(problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir, JWT_SECRET: `${strong()},old`, SESSION_SECRET: strong() })).toEqual([
      expect.stringContaining('JWT_SECRET'),
    ]);
    const both = problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir });
    expect(both.join('\n')).toContain('JWT_SECRET');
    expect(both.join('\n')).toContain('SESSION_SECRET');
  });

  it('accepts production with strong secrets and keeps the rotation order', () => {
    const [current, previous, session] = [strong(), strong(), strong()];
    const config = loadConfig({ NODE_ENV: 'production', DATA_DIR: tmp(), JWT_SECRET: `${current}, ${previous}`, SESSION_SECRET: session });
    expect(config.jwtSecrets.map((b) => b.toString())).toEqual([current, previous]);
    expect(config.sessionSecrets).toEqual([session]);
    expect(config.warnings).toEqual([]);
  });

  it('outside production generates missing secrets into DATA_DIR/secrets.json (0600) and reuses them', () => {
    const dataDir = path.join(tmp(), 'nested', 'data');
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
    const file = path.join(dataDir, 'secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.jwtSecrets).toHaveLength(1);
    expect(Buffer.byteLength(first.jwtSecrets[0])).toBeGreaterThanOrEqual(32);
    expect(Buffer.byteLength(first.sessionSecrets[0])).toBeGreaterThanOrEqual(32);
    expect(first.jwtSecrets[0].toString()).not.toBe(first.sessionSecrets[0]);
    expect(first.warnings.join('\n')).toMatch(/JWT_SECRET and SESSION_SECRET not set.*secrets\.json/);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    expect(stored).toEqual({ jwtSecret: first.jwtSecrets[0].toString(), sessionSecret: first.sessionSecrets[0] });

    const second = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir });
    expect(second.jwtSecrets[0].equals(first.jwtSecrets[0])).toBe(true);
    expect(second.sessionSecrets).toEqual(first.sessionSecrets);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('generates only the missing one, and tightens a secrets file left group-readable', () => {
    const dataDir = tmp();
    const jwt = strong();
    const config = loadConfig({ DATA_DIR: dataDir, JWT_SECRET: jwt });
    expect(config.jwtSecrets[0].toString()).toBe(jwt);
    const file = path.join(dataDir, 'secrets.json');
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')))).toEqual(['sessionSecret']);
    expect(config.warnings.join('\n')).toContain('SESSION_SECRET not set');
    expect(config.warnings.join('\n')).not.toContain('JWT_SECRET');

    chmodSync(file, 0o644);
    loadConfig({ DATA_DIR: dataDir, JWT_SECRET: jwt });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('warns outside production about a short secret but runs', () => {
    const config = loadConfig({ DATA_DIR: tmp(), JWT_SECRET: 'short', SESSION_SECRET: strong() });
    expect(config.warnings.join('\n')).toContain('JWT_SECRET');
  });

  it('has the documented defaults', () => {
    const config = loadConfig({ DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong() });
    expect(config).toMatchObject({
      port: 3000,
      tokenTtlMs: 15 * 60_000,
      authTimeoutMs: 5000,
      trustProxy: false,
      allowedOrigins: [],
      redisUrl: undefined,
      databaseUrl: undefined,
    });
    expect(config.rateLimits).toMatchObject({ loginPerIp: 50, loginPerUsername: 10, loginPerUsernameGlobal: 100 });
  });

  it('puts the per-username login ceiling at ten times the per-address limit unless set, and never below it', () => {
    const base = { DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong() };
    expect(loadConfig({ ...base, LOGIN_RATE_LIMIT_PER_USERNAME: '4' }).rateLimits.loginPerUsernameGlobal).toBe(40);
    expect(loadConfig({ ...base, LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: '500' }).rateLimits.loginPerUsernameGlobal).toBe(500);
    expect(problemsOf({ ...base, LOGIN_RATE_LIMIT_PER_USERNAME: '10', LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: '5' })).toEqual([
      expect.stringMatching(/^LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: /),
    ]);
  });

  it('reads a variable set to nothing as unset, so PORT= is 3000, not a random port', () => {
    const config = loadConfig({ DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong(), PORT: '', TOKEN_TTL: ' ', AUTH_TIMEOUT_MS: '' });
    expect(config).toMatchObject({ port: 3000, tokenTtlMs: 15 * 60_000, authTimeoutMs: 5000 });
  });

  it('names the variable of every malformed value', () => {
    expect(problemsOf({ DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong(), PORT: '70000' })).toEqual([
      expect.stringMatching(/^PORT: /),
    ]);
    const base = { DATA_DIR: tmp(), JWT_SECRET: strong(), SESSION_SECRET: strong() };
    expect(problemsOf({ ...base, TOKEN_TTL: 'soon' })).toEqual([expect.stringMatching(/^TOKEN_TTL: /)]);
    expect(problemsOf({ ...base, PORT: 'eighty' })).toEqual([expect.stringMatching(/^PORT: /)]);
    expect(problemsOf({ ...base, ALLOWED_ORIGINS: 'https://ok.example,https://bad.example/path' })).toEqual([
      expect.stringContaining('ALLOWED_ORIGINS'),
    ]);
    expect(problemsOf({ ...base, WORKERS: '2' }).join('\n')).toContain('REDIS_URL');
    const many = problemsOf({ ...base, TOKEN_TTL: 'soon', AUTH_TIMEOUT_MS: '0' });
    expect(many).toHaveLength(2);
  });

  it('parses durations', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('0s')).toBeNull();
    expect(parseDuration('-1s')).toBeNull();
    expect(parseDuration('1w')).toBeNull();
  });
});
