/** /healthz, /readyz and /metrics: mounted before sessions, so probes never touch the session store. */
import { Router } from 'express';
import type { AppContext } from '../context.js';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
}

export function opsRoutes(ctx: AppContext): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks: Array<[string, () => Promise<unknown>]> = [['postgres', () => ctx.pool.query('SELECT 1')]];
    if (ctx.redis) checks.push(['redis', () => ctx.redis!.ping()]);
    const results = await Promise.all(
      checks.map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2_000);
          return null;
        } catch {
          return name;
        }
      }),
    );
    const failing = results.filter((r): r is string => r !== null);
    if (failing.length) res.status(503).json({ status: 'unavailable', failing });
    else res.json({ status: 'ok' });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  return router;
}
