/**
 * Configuration, parsed once at start-up from the environment by one zod schema.
 *
 * Guarantees:
 * - There is no fallback secret. In production a missing or short (< 32 bytes) JWT_SECRET or
 *   SESSION_SECRET is a fatal ConfigError naming the variable.
 * - Outside production, missing secrets are generated once, stored under DATA_DIR with mode
 *   0600, and a warning says so; the same secrets are reused on the next start.
 * - Nothing reads a secret from process.env after this module has produced a Config.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { trustsEveryAddress } from './http/addresses.js';

const MIN_SECRET_BYTES = 32;

/** Parses "15m", "30s", "2h", "7d", "500ms" or a bare number of milliseconds. */
export function parseDuration(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  const ms = Math.round(n * factor);
  return ms > 0 ? ms : null;
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `is not a duration like 15m, 30s or 5000 (got "${v}")` });
        return z.NEVER;
      }
      return ms;
    });

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== '' ? v.trim() : undefined));

/** Every variable the server reads, with its default. `.env.example` lists the same set. */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(3000).pipe(z.number().max(65535)),
  DATABASE_URL: optionalString,
  DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalString,
  JWT_SECRET: optionalString,
  SESSION_SECRET: optionalString,
  TOKEN_TTL: duration('15m'),
  AUTH_TIMEOUT_MS: int(5000, 1),
  TRUST_PROXY: z.string().default('false'),
  /** Set: /metrics needs `Authorization: Bearer <it>`. Unset: /metrics answers loopback clients only. */
  METRICS_TOKEN: optionalString,
  ALLOWED_ORIGINS: z.string().default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  REGISTRATION: z.enum(['open', 'closed']).default('open'),
  /** (v2) `required`: no device without a key (register, login, token requests, sockets). */
  DEVICE_BINDING: z.enum(['optional', 'required']).default('optional'),
  /** (v2) The URL people reach the app at; DPoP `htu` is checked against it when set. */
  PUBLIC_URL: optionalString,
  /** (v2) The passkey relying party id (a host name); unset: the host name of the app's origin. */
  WEBAUTHN_RP_ID: optionalString,
  /** (v2) The relying party name an authenticator shows. */
  WEBAUTHN_RP_NAME: z.string().trim().min(1).max(64).default('Relay'),
  /** The public channel every new account joins, made with the first account; `none`: no such channel. */
  DEFAULT_CHANNEL: z
    .string()
    .regex(/^[a-z0-9_-]{1,80}$/, 'must be a channel name (a-z, 0-9, - and _) or none')
    .default('general'),
  SESSION_IDLE_TIMEOUT: duration('7d'),
  SESSION_MAX_AGE: duration('30d'),
  LOGIN_RATE_LIMIT_PER_IP: int(50, 1),
  LOGIN_RATE_LIMIT_PER_USERNAME: int(10, 1),
  /** Unset: ten times LOGIN_RATE_LIMIT_PER_USERNAME. */
  LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: z.coerce.number().int().min(1).optional(),
  LOGIN_RATE_LIMIT_WINDOW: duration('15m'),
  CHANNEL_WRITE_RATE_LIMIT: int(60, 1),
  /** Message searches per user per window (each one is a full-text query). */
  SEARCH_RATE_LIMIT: int(300, 1),
  /** Display-name changes per user per window (each one is announced to every channel of the user). */
  RENAME_RATE_LIMIT: int(20, 1),
  /** DPoP proofs one device key may have in the replay window (~130 s); past it, 429 for that device only. */
  DPOP_PROOFS_PER_DEVICE: int(3_000, 1),
  /** Passkey ceremonies in progress held in memory (no Redis); past it the oldest is forgotten. */
  PASSKEY_CEREMONIES_MAX: int(10_000, 1),
  PRESENCE_TTL_MS: int(30_000, 1000),
  WORKERS: int(1, 1),
  MAX_SOCKETS_PER_USER: int(20, 1),
  MAX_PENDING_SOCKETS_PER_IP: int(50, 1),
  REVOCATION_SWEEP_MS: int(30_000, 100),
  REVOCATION_FAILURE_SPREAD_MS: int(10_000, 0),
  WS_RATE_PER_SEC: int(20, 1),
  WS_BURST: int(60, 1),
  WS_MAX_BUFFERED_BYTES: int(4 * 1024 * 1024, 1024),
  WS_HEARTBEAT_MS: int(30_000, 100),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  databaseUrl?: string;
  dataDir: string;
  redisUrl?: string;
  /** First entry signs; every entry verifies (rotation). */
  jwtSecrets: Buffer[];
  /** First entry signs session cookies; the rest still verify them. */
  sessionSecrets: string[];
  tokenTtlMs: number;
  authTimeoutMs: number;
  trustProxy: boolean | number | string;
  metricsToken?: string;
  allowedOrigins: string[];
  logLevel: string;
  /** The default of the `registration` setting (an admin changes it at run time: setup/settings.ts). */
  registrationOpen: boolean;
  /** (v2) `required`: every device must hold a key (CONTRACT "Proof of possession"). */
  deviceBinding: 'optional' | 'required';
  /** (v2) The app's public origin and base path, without a trailing slash (DPoP `htu`). */
  publicUrl?: string;
  /** (v2) Passkeys: the relying party id (unset: the host name of the app's origin) and name. */
  webauthn: { rpId?: string; rpName: string };
  /** DEFAULT_CHANNEL, or undefined when it is `none` (an empty variable means unset: the default). */
  defaultChannel: string | undefined;
  sessionIdleMs: number;
  sessionMaxAgeMs: number;
  /**
   * Per window: login/register attempts per IP; failures per (username, IP) and, a much higher
   * ceiling, per username from all addresses; channel writes (create, add, direct), searches
   * and display-name changes per user.
   */
  rateLimits: {
    loginPerIp: number;
    loginPerUsername: number;
    loginPerUsernameGlobal: number;
    windowMs: number;
    channelWrites: number;
    searches: number;
    renames: number;
    /** DPoP proofs per device key per replay window (auth/pop.ts). */
    proofsPerDevice: number;
    /** Passkey challenges held in memory without Redis; the oldest is dropped past it. */
    passkeyCeremonies: number;
  };
  presenceTtlMs: number;
  workers: number;
  maxSocketsPerUser: number;
  maxPendingSocketsPerIp: number;
  revocationSweepMs: number;
  /** REV3: the fail-closed 1013s after two failed sweeps are spread over this window. */
  revocationFailureSpreadMs: number;
  ws: { ratePerSec: number; burst: number; maxBufferedBytes: number; heartbeatMs: number };
  /** Warnings to log once the logger exists (generated secrets). */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

function parseTrustProxy(v: string): boolean | number | string {
  const s = v.trim();
  if (s === '' || s === 'false' || s === '0') return false;
  if (s === 'true') return true;
  if (/^\d+$/.test(s)) return Number(s);
  return s; // a list of addresses/subnets, handed to Express as is
}

function splitSecrets(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

interface StoredSecrets {
  jwtSecret?: string;
  sessionSecret?: string;
}

/** Reads or creates DATA_DIR/secrets.json (mode 0600) for development and test runs. */
function generatedSecrets(dataDir: string, need: Array<keyof StoredSecrets>): StoredSecrets {
  const file = path.join(dataDir, 'secrets.json');
  let stored: StoredSecrets = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as StoredSecrets;
  let changed = false;
  for (const key of need) {
    if (!stored[key]) {
      stored[key] = randomBytes(48).toString('base64url');
      changed = true;
    }
  }
  if (changed) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return stored;
}

/**
 * Builds the Config from an environment. Throws ConfigError listing every problem.
 * @example const config = loadConfig(process.env);
 */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  // A variable set to nothing (`PORT=` in an env file, `PORT: ${PORT}` in compose with PORT unset)
  // means unset. Otherwise z.coerce.number() reads "" as 0: PORT= would listen on a random port.
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${String(i.path[0] ?? 'config')}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const warnings: string[] = [];
  const dataDir = path.resolve(e.DATA_DIR);
  const production = e.NODE_ENV === 'production';

  let jwt = splitSecrets(e.JWT_SECRET);
  let session = splitSecrets(e.SESSION_SECRET);
  for (const [name, list] of [['JWT_SECRET', jwt], ['SESSION_SECRET', session]] as const) {
    if (list.length === 0) {
      if (production) problems.push(`${name} is required in production (at least ${MIN_SECRET_BYTES} bytes)`);
    } else if (list.some((s) => Buffer.byteLength(s) < MIN_SECRET_BYTES)) {
      if (production) problems.push(`${name} must be at least ${MIN_SECRET_BYTES} bytes in production`);
      else warnings.push(`${name} is shorter than ${MIN_SECRET_BYTES} bytes; production would refuse it`);
    }
  }
  if (problems.length) throw new ConfigError(problems);

  const missing: Array<keyof StoredSecrets> = [];
  if (jwt.length === 0) missing.push('jwtSecret');
  if (session.length === 0) missing.push('sessionSecret');
  if (missing.length) {
    const stored = generatedSecrets(dataDir, missing);
    if (jwt.length === 0) jwt = [stored.jwtSecret!];
    if (session.length === 0) session = [stored.sessionSecret!];
    warnings.push(
      `${missing.map((m) => (m === 'jwtSecret' ? 'JWT_SECRET' : 'SESSION_SECRET')).join(' and ')} not set: ` +
        `using generated secrets stored in ${path.join(dataDir, 'secrets.json')} (mode 0600); set them in production`,
    );
  }

  const allowedOrigins = e.ALLOWED_ORIGINS.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const o of allowedOrigins) {
    try {
      if (new URL(o).origin !== o) problems.push(`ALLOWED_ORIGINS: "${o}" is not an origin like https://chat.example.com`);
    } catch {
      problems.push(`ALLOWED_ORIGINS: "${o}" is not an origin like https://chat.example.com`);
    }
  }
  const loginPerUsernameGlobal = e.LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL ?? 10 * e.LOGIN_RATE_LIMIT_PER_USERNAME;
  // Below the per-address limit, the ceiling would be the limit: one stranger could lock a user out.
  if (loginPerUsernameGlobal < e.LOGIN_RATE_LIMIT_PER_USERNAME) {
    problems.push('LOGIN_RATE_LIMIT_PER_USERNAME_GLOBAL: must be at least LOGIN_RATE_LIMIT_PER_USERNAME (default: ten times it)');
  }
  const trustProxy = parseTrustProxy(e.TRUST_PROXY);
  // Trusting every hop lets any client write its own address into X-Forwarded-For: per-address
  // login limits and the loopback-only /metrics would then mean nothing.
  if (production && trustsEveryAddress(trustProxy)) {
    problems.push(`TRUST_PROXY: "${e.TRUST_PROXY}" trusts every address in production; name the proxy addresses or a hop count`);
  } else if (typeof trustProxy === 'string') {
    // Express would throw the same on start, as a stack trace.
    try {
      proxyAddr.compile(trustProxy.split(',').map((s) => s.trim()));
    } catch (err) {
      problems.push(`TRUST_PROXY: ${(err as Error).message}; use true, a hop count, or proxy addresses/subnets`);
    }
  }
  let publicUrl: string | undefined;
  if (e.PUBLIC_URL) {
    try {
      const u = new URL(e.PUBLIC_URL);
      if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.hash || u.username || u.password) throw new Error('not a plain URL');
      publicUrl = `${u.origin}${u.pathname}`.replace(/\/+$/, '');
    } catch {
      problems.push(`PUBLIC_URL: "${e.PUBLIC_URL}" is not a URL like https://chat.example.com`);
    }
  }
  // An RP id is a host name (a registrable domain suffix of the app's), never a URL or an address.
  const rpId = e.WEBAUTHN_RP_ID?.toLowerCase();
  if (rpId && (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(rpId) || /^[\d.]+$/.test(rpId))) {
    problems.push(`WEBAUTHN_RP_ID: "${e.WEBAUTHN_RP_ID}" is not a host name like chat.example.com (no scheme, port or IP address)`);
  }
  if (e.WORKERS > 1 && !e.REDIS_URL) problems.push('WORKERS: more than one worker needs REDIS_URL');
  if (e.WORKERS > 1 && !e.DATABASE_URL) problems.push('WORKERS: more than one worker needs DATABASE_URL');
  if (problems.length) throw new ConfigError(problems);

  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir,
    redisUrl: e.REDIS_URL,
    jwtSecrets: jwt.map((s) => Buffer.from(s, 'utf8')),
    sessionSecrets: session,
    tokenTtlMs: e.TOKEN_TTL,
    authTimeoutMs: e.AUTH_TIMEOUT_MS,
    trustProxy,
    metricsToken: e.METRICS_TOKEN,
    allowedOrigins,
    logLevel: e.LOG_LEVEL,
    registrationOpen: e.REGISTRATION === 'open',
    deviceBinding: e.DEVICE_BINDING,
    publicUrl,
    webauthn: { rpId, rpName: e.WEBAUTHN_RP_NAME },
    defaultChannel: e.DEFAULT_CHANNEL === 'none' ? undefined : e.DEFAULT_CHANNEL,
    sessionIdleMs: e.SESSION_IDLE_TIMEOUT,
    sessionMaxAgeMs: e.SESSION_MAX_AGE,
    rateLimits: {
      loginPerIp: e.LOGIN_RATE_LIMIT_PER_IP,
      loginPerUsername: e.LOGIN_RATE_LIMIT_PER_USERNAME,
      loginPerUsernameGlobal,
      windowMs: e.LOGIN_RATE_LIMIT_WINDOW,
      channelWrites: e.CHANNEL_WRITE_RATE_LIMIT,
      searches: e.SEARCH_RATE_LIMIT,
      renames: e.RENAME_RATE_LIMIT,
      proofsPerDevice: e.DPOP_PROOFS_PER_DEVICE,
      passkeyCeremonies: e.PASSKEY_CEREMONIES_MAX,
    },
    presenceTtlMs: e.PRESENCE_TTL_MS,
    workers: e.WORKERS,
    maxSocketsPerUser: e.MAX_SOCKETS_PER_USER,
    maxPendingSocketsPerIp: e.MAX_PENDING_SOCKETS_PER_IP,
    revocationSweepMs: e.REVOCATION_SWEEP_MS,
    revocationFailureSpreadMs: e.REVOCATION_FAILURE_SPREAD_MS,
    ws: {
      ratePerSec: e.WS_RATE_PER_SEC,
      burst: e.WS_BURST,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      heartbeatMs: e.WS_HEARTBEAT_MS,
    },
    warnings,
  };
}
