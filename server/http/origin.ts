/**
 * CSRF guard for state-changing requests (CONTRACT "Conventions"): a foreign `Origin` (or a
 * browser's `Sec-Fetch-Site: cross-site`) gets 403 bad_origin before anything runs, and a body
 * that is not JSON gets 415. Requests without Origin (curl, server-to-server) carry no ambient
 * browser credentials worth forging, so they pass.
 */
import type { Request, RequestHandler } from 'express';
import { badOrigin, unsupportedMediaType } from '../errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function ownOrigin(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? ''}`;
}

export function isAllowedOrigin(origin: string, own: string, allowed: readonly string[]): boolean {
  return origin === own || allowed.includes(origin);
}

export function originGuard(allowedOrigins: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    if (SAFE.has(req.method)) return next();
    const origin = req.get('origin');
    if (origin !== undefined && !isAllowedOrigin(origin, ownOrigin(req), allowedOrigins)) return next(badOrigin());
    if (origin === undefined && req.get('sec-fetch-site') === 'cross-site') return next(badOrigin());
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (hasBody && !req.is('application/json')) return next(unsupportedMediaType());
    next();
  };
}
