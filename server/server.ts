/**
 * Boots one instance: database (embedded when DATABASE_URL is unset), migrations, Redis (when
 * REDIS_URL is set), the bus, the HTTP app and the realtime gateway; `close()` tears it all down
 * in reverse order. Tests call startServer with port 0.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionProofs } from './auth/session-proof.js';
import { TokenService } from './auth/tokens.js';
import { createApp } from './app.js';
import type { EventBus } from './bus/bus.js';
import { MemoryBus } from './bus/memory.js';
import { RedisBus } from './bus/redis.js';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import { connectDatabase } from './db/client.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { limitedSession } from './http/endpoint.js';
import { userLimiter } from './http/rate-limit.js';
import { createSessionStore } from './http/session.js';
import { createLogger, describeError, type Logger } from './logger.js';
import { createMetrics } from './ops/metrics.js';
import { channelRoutes, directRoutes } from './messaging/routes.js';
import { LocalPresence } from './presence/local.js';
import type { PresenceTracker } from './presence/presence.js';
import { RedisPresence } from './presence/redis.js';
import { Gateway } from './realtime/gateway.js';
import { attachWebSocket } from './realtime/ws-adapter.js';
import { createRedis, type RedisClient } from './redis.js';

/** Pending connections the kernel may queue (see listen below). */
const LISTEN_BACKLOG = 4_096;
/** On close, how long requests already running may take before their connections are cut. */
const HTTP_DRAIN_MS = 5_000;

export interface RunningServer {
  url: string;
  port: number;
  ctx: AppContext;
  gateway: Gateway;
  httpServer: http.Server;
  close(): Promise<void>;
}

export async function startServer(config: Config, opts: { log?: Logger } = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logLevel);
  for (const w of config.warnings) log.warn(w);
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: Error) => log.error({ err: describeError(err) }, 'shutdown step failed'));
  };

  try {
    let databaseUrl = config.databaseUrl;
    let embedded: EmbeddedDatabase | undefined;
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, log });
      cleanups.push(() => embedded!.stop());
      databaseUrl = embedded.url;
    }
    const database = connectDatabase(databaseUrl, log);
    cleanups.push(() => database.close());
    await runMigrations(database.pool);

    let redis: RedisClient | undefined;
    let bus: EventBus;
    if (config.redisUrl) {
      redis = createRedis(config.redisUrl, log, 'main');
      await redis.connect();
      cleanups.push(async () => {
        await redis!.close().catch(() => {});
      });
      bus = await RedisBus.connect(redis, config.redisUrl, log);
    } else {
      bus = new MemoryBus();
    }
    cleanups.push(() => bus.close());

    const sessions = createSessionStore({ redis, databaseUrl, log });
    cleanups.push(() => sessions.close());

    const presence: PresenceTracker = redis
      ? new RedisPresence(redis, log, config.presenceTtlMs)
      : new LocalPresence();
    const ctx: AppContext = {
      config,
      log,
      db: database.db,
      pool: database.pool,
      redis,
      bus,
      tokens: new TokenService(config.jwtSecrets, config.tokenTtlMs, database.pool),
      metrics: createMetrics(),
      presence,
      sessionStore: sessions.store,
      proofs: new SessionProofs(config, redis),
    };

    // One budget per user for creating channels and memberships (shared state everyone lists),
    // counted after the session check: a refused request never spends the user's budget.
    const channelWrites = limitedSession(
      ctx,
      userLimiter({
        name: 'channel-writes',
        windowMs: config.rateLimits.windowMs,
        limit: config.rateLimits.channelWrites,
        redis,
      }),
    );
    const app = createApp(ctx, [
      ['/channels', channelRoutes(ctx, channelWrites)],
      ['/direct', directRoutes(ctx, channelWrites)],
    ]);
    let stopping = false;
    const httpServer = http.createServer((req, res) => {
      // A liveness probe answers ahead of every middleware (sessions, body parsing, routing), so
      // a load balancer does not take a busy instance, e.g. in a reconnect storm, for a dead one.
      if (req.url === '/healthz' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        res.end('{"status":"ok"}');
        return;
      }
      // Shutting down: a request on a kept-alive connection is sent elsewhere, never half-served
      // by an instance whose database pool is about to close.
      if (stopping) {
        res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', connection: 'close', 'retry-after': '1' });
        res.end(JSON.stringify({ error: { code: 'service_unavailable', message: 'This server is restarting; try again' } }));
        return;
      }
      app(req, res);
    });
    httpServer.keepAliveTimeout = 65_000;
    const gateway = new Gateway(ctx, presence);
    await gateway.start();
    const ws = attachWebSocket({
      server: httpServer,
      gateway,
      allowedOrigins: config.allowedOrigins,
      trustProxy: app.get('trust proxy fn'),
      heartbeatMs: config.ws.heartbeatMs,
      log,
    });
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      // Node's default backlog (511) drops connection attempts in a reconnect storm, and clients
      // then sit in SYN retries of 1, 3 and 7 s; the kernel caps this at net.core.somaxconn.
      httpServer.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => resolve());
    });
    // Runs first on close: stop accepting connections and requests at once (before anything a
    // request needs is closed), close the live sockets with 1001 (SHUT1), then let the requests
    // already running finish while their database is still there: connections close as they
    // fall idle, and only what is still running after HTTP_DRAIN_MS is cut.
    cleanups.push(async () => {
      stopping = true;
      const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await ws.close();
      const idle = setInterval(() => httpServer.closeIdleConnections(), 50);
      const deadline = setTimeout(() => httpServer.closeAllConnections(), HTTP_DRAIN_MS);
      httpServer.closeIdleConnections();
      await httpClosed;
      clearInterval(idle);
      clearTimeout(deadline);
    });
    const port = (httpServer.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const url = `http://${host}:${port}`;
    log.info({ url }, 'listening');

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      ctx,
      gateway,
      httpServer,
      close: () => (closing ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
