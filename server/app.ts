/** The Express application: one middleware order, one error handler, capabilities mounted by path. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { adminRoutes } from './admin/routes.js';
import { authRoutes } from './auth/routes.js';
import type { AppContext } from './context.js';
import { deviceRoutes } from './devices/routes.js';
import { apiNotFound, errorHandler } from './http/errors.js';
import { originGuard } from './http/origin.js';
import { sessionMiddleware } from './http/session.js';
import { opsRoutes } from './ops/routes.js';
import { searchRoutes } from './search/routes.js';
import { setupRoutes } from './setup/routes.js';
import { meRoutes } from './users/me-routes.js';
import { userRoutes } from './users/routes.js';
import type { Router } from 'express';

/** The built browser client (vite build → dist/client), found from this file in source and in dist/. */
export function clientDir(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = path.join(dir, 'dist', 'client');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** Routers added by other capabilities (realtime adds channels and messages). */
export type ExtraRoutes = Array<[string, Router]>;

export function createApp(ctx: AppContext, extra: ExtraRoutes = []): Express {
  const app = express();
  app.set('trust proxy', ctx.config.trustProxy);
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: { 'connect-src': ["'self'"], 'upgrade-insecure-requests': null },
      },
    }),
  );

  // Access log: path only (never the query string), status and duration.
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      ctx.metrics.httpDuration.observe({ method: req.method, status: String(res.statusCode) }, ms / 1000);
      const route = req.originalUrl.split('?')[0];
      const quiet = route === '/healthz' || route === '/readyz' || route === '/metrics';
      ctx.log[quiet ? 'debug' : 'info']({ method: req.method, path: route, status: res.statusCode, ms: Math.round(ms) }, 'http');
    });
    next();
  });

  app.use(opsRoutes(ctx));

  const api = express.Router();
  api.use(originGuard(ctx.config.allowedOrigins));
  api.use(express.json({ limit: '32kb' }));
  api.use(sessionMiddleware(ctx.config, ctx.sessionStore));
  api.use('/auth', authRoutes(ctx));
  api.use('/devices', deviceRoutes(ctx));
  api.use('/users', userRoutes(ctx));
  api.use('/me', meRoutes(ctx));
  api.use('/admin', adminRoutes(ctx));
  api.use('/search', searchRoutes(ctx));
  api.use('/setup', setupRoutes(ctx));
  for (const [mount, router] of extra) api.use(mount, router);
  api.use(apiNotFound);
  app.use('/api', api);

  const client = clientDir();
  if (client) {
    app.use(express.static(client, { index: false, maxAge: '1h' }));
    // The single-page app answers every other GET with its shell.
    app.get(/^\/(?!api\/|ws$).*/, (_req, res) => res.sendFile(path.join(client, 'index.html'), { maxAge: 0 }));
  }
  app.use(errorHandler(ctx.log));
  return app;
}
