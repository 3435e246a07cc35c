/**
 * /healthz, /readyz and /metrics: mounted before sessions, so probes never touch the session store.
 *
 * Guarantees (/metrics): with METRICS_TOKEN set, only a request whose `Authorization: Bearer`
 * header holds the token is answered (compared in constant time; never read from the query
 * string, which proxies log); without it, only clients whose address after TRUST_PROXY is
 * loopback. The token is never logged: the access log writes no headers, and the logger redacts
 * authorization headers wherever they appear.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import type { AppContext } from '../context.js';
import { AppError, forbidden } from '../errors.js';
import { isLoopback } from '../http/addresses.js';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Who may scrape /metrics: the token's holder, or (no token configured) loopback clients. */
function metricsAccess(token: string | undefined): RequestHandler {
  // Comparing digests keeps the comparison constant-time whatever the length offered.
  const expected = token === undefined ? undefined : digest(token);
  return (req, _res, next) => {
    if (expected) {
      const offered = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
      if (offered !== undefined && timingSafeEqual(digest(offered), expected)) return next();
      return next(new AppError('unauthenticated', 'Send the metrics token as Authorization: Bearer', { 'WWW-Authenticate': 'Bearer realm="metrics"' }));
    }
    if (isLoopback(req.ip)) return next();
    next(forbidden('Metrics are served to this host only; set METRICS_TOKEN to scrape from elsewhere'));
  };
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
  router.get('/metrics', metricsAccess(ctx.config.metricsToken), async (_req, res) => {
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  return router;
}
