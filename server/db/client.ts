/** The Postgres pool and the drizzle handle over it. Same driver (`pg`) in every mode. */
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Logger } from '../logger.js';
import * as schema from './schema.js';

export type Db = NodePgDatabase<typeof schema>;

export interface Database {
  pool: pg.Pool;
  db: Db;
  close(): Promise<void>;
}

/** A pool with the project's timeouts; `name` labels its errors in the log. */
export function createPool(url: string, log: Logger, max: number, name = 'main'): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (err) => log.error({ err: err.message, pool: name }, 'postgres pool error'));
  return pool;
}

export function connectDatabase(url: string, log: Logger, max = 20): Database {
  const pool = createPool(url, log, max);
  const db = drizzle(pool, { schema });
  let closed = false;
  return {
    pool,
    db,
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
