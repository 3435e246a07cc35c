/**
 * Integration-test harness: real servers on port 0 against a fresh clone of the migrated
 * template database, optionally on a real Redis; captured logs; a cookie-keeping HTTP client.
 *
 * @example
 * const server = await startTestServer();
 * const alice = await server.register('alice');   // a signed-in client with cookies and a token
 * const res = await alice.get('/api/devices');
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { inject } from 'vitest';
import { loadConfig } from '../config.js';
import { REDACT_PATHS } from '../logger.js';
import { startServer, type RunningServer } from '../server.js';
import { HttpClient } from './http-client.js';

export { HttpClient, type HttpResult } from './http-client.js';

/** Creates an empty database cloned from the migrated template; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  const name = `t_${randomUUID().replace(/-/g, '')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    // CREATE DATABASE … TEMPLATE fails while another session uses the template; retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE "${name}" TEMPLATE "${inject('pgTemplate')}"`);
        break;
      } catch (err) {
        if (attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function testSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface TestServer extends RunningServer {
  /** Every log line the server wrote, as JSON text. */
  logs: string[];
  env: Record<string, string>;
  client(): HttpClient;
  register(username?: string, password?: string, extra?: Record<string, unknown>): Promise<HttpClient>;
  login(username: string, password?: string, extra?: Record<string, unknown>): Promise<HttpClient>;
}

export const DEFAULT_PASSWORD = 'correct horse battery';

export async function startTestServer(opts: { env?: Record<string, string | undefined>; databaseUrl?: string } = {}): Promise<TestServer> {
  const databaseUrl = opts.databaseUrl ?? (await createTestDatabase());
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'relay-test-data-')),
    JWT_SECRET: testSecret(),
    SESSION_SECRET: testSecret(),
    LOG_LEVEL: 'debug',
    LOGIN_RATE_LIMIT_PER_IP: '100000',
    LOGIN_RATE_LIMIT_PER_USERNAME: '100000',
    CHANNEL_WRITE_RATE_LIMIT: '100000',
    // Off unless a test asks: a #general every user joins would change what other tests count.
    DEFAULT_CHANNEL: 'none',
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  const running = await startServer(loadConfig(env), { log });
  const server: TestServer = {
    ...running,
    logs,
    env,
    client: () => new HttpClient(running.url),
    async register(username = `u${randomBytes(4).toString('hex')}`, password = DEFAULT_PASSWORD, extra = {}) {
      const c = new HttpClient(running.url);
      const res = await c.post('/api/auth/register', { username, password, ...extra });
      if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(res.body)}`);
      c.auth = res.body;
      return c;
    },
    async login(username, password = DEFAULT_PASSWORD, extra = {}) {
      const c = new HttpClient(running.url);
      const res = await c.post('/api/auth/login', { username, password, ...extra });
      if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${JSON.stringify(res.body)}`);
      c.auth = res.body;
      return c;
    },
  };
  return server;
}
