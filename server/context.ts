/** Everything a capability needs, built once by server.ts and handed to each router. */
import type session from 'express-session';
import type pg from 'pg';
import type { SessionProofs } from './auth/session-proof.js';
import type { TokenService } from './auth/tokens.js';
import type { EventBus } from './bus/bus.js';
import type { Config } from './config.js';
import type { Db } from './db/client.js';
import type { Logger } from './logger.js';
import type { Metrics } from './ops/metrics.js';
import type { PresenceReader } from './presence/presence.js';
import type { RedisClient } from './redis.js';

export interface AppContext {
  config: Config;
  log: Logger;
  db: Db;
  pool: pg.Pool;
  redis?: RedisClient;
  bus: EventBus;
  tokens: TokenService;
  metrics: Metrics;
  presence: PresenceReader;
  sessionStore: session.Store;
  /** POP8: DPoP checks of bound devices' session requests (replay cache and imported keys). */
  proofs: SessionProofs;
}
