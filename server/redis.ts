/**
 * Redis connections. Commands fail fast while Redis is unreachable (no offline queue), so a
 * request that needs Redis gets a 503 within a couple of seconds instead of hanging.
 */
import { createClient } from 'redis';
import type { Logger } from './logger.js';

export type RedisClient = ReturnType<typeof createRedis>;

export function createRedis(url: string, log: Logger, name: string) {
  const client = createClient({
    url,
    name: `relay-${name}`,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2_000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    },
  });
  let warned = false;
  client.on('error', (err: Error) => {
    if (!warned) log.warn({ err: err.message, client: name }, 'redis connection error');
    warned = true;
  });
  client.on('ready', () => {
    if (warned) log.info({ client: name }, 'redis connection restored');
    warned = false;
  });
  return client;
}
