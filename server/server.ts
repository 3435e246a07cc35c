/**
 * Boots one instance: database (embedded when DATABASE_URL is unset), migrations, Redis (when
 * REDIS_URL is set), the bus, the HTTP app and the realtime gateway; `close()` tears it all down
 * in reverse order. Tests call startServer with port 0.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { closeSessionStore, createSessionStore } from './http/session.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './ops/metrics.js';
import { LocalPresence } from './presence/local.js';
import { createRedis, type RedisClient } from './redis.js';

export interface RunningServer {
  url: string;
  port: number;
  ctx: AppContext;
  httpServer: http.Server;
  close(): Promise<void>;
}

export async function startServer(config: Config, opts: { log?: Logger } = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logLevel);
  for (const w of config.warnings) log.warn(w);
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: Error) => log.error({ err: err.message }, 'shutdown step failed'));
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

    const sessionStore = createSessionStore({ redis, pool: database.pool, idleMs: config.sessionIdleMs });
    cleanups.push(async () => closeSessionStore(sessionStore));

    const ctx: AppContext = {
      config,
      log,
      db: database.db,
      pool: database.pool,
      redis,
      bus,
      tokens: new TokenService(config.jwtSecrets, config.tokenTtlMs, database.db),
      metrics: createMetrics(),
      presence: new LocalPresence(),
      sessionStore,
    };

    const app = createApp(ctx);
    const httpServer = http.createServer(app);
    httpServer.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          httpServer.close(() => resolve());
          httpServer.closeAllConnections();
        }),
    );
    const port = (httpServer.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const url = `http://${host}:${port}`;
    log.info({ url }, 'listening');

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      ctx,
      httpServer,
      close: () => (closing ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
