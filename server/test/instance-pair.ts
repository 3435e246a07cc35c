import { createTestDatabase, startTestServer, testSecret, type TestServer } from './harness.js';
import { startRedis, type TestRedis } from './redis-server.js';

/**
 * Two in-process instances on one test database and one private redis-server, with the same
 * secrets (a token issued by A is good on B), as a deployment of several instances runs.
 * `extraEnv` adds settings both share (e.g. one PUBLIC_URL, as behind a load balancer).
 */
export async function startInstancePair(extraEnv: Record<string, string> = {}): Promise<{ a: TestServer; b: TestServer; redis: TestRedis; close(): Promise<void> }> {
  const redis = await startRedis();
  const databaseUrl = await createTestDatabase();
  const env = { REDIS_URL: redis.url, JWT_SECRET: testSecret(), SESSION_SECRET: testSecret(), ...extraEnv };
  const a = await startTestServer({ databaseUrl, env });
  const b = await startTestServer({ databaseUrl, env });
  return {
    a,
    b,
    redis,
    async close() {
      await a.close();
      await b.close();
      await redis.stop();
    },
  };
}
