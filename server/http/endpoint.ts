/**
 * The one route chain: (rate limit, mounted before) → authenticate → validate (zod) → handler.
 * Handlers load, authorize, act and present; errors are thrown as AppError factories.
 * A per-user limit is mounted through `limitedSession`, which authenticates first: the limit
 * then counts the proved user, and a request the session check refuses counts per address only.
 *
 * @example
 * router.get('/devices', endpoint(ctx, { access: 'session' }, async ({ auth }) => ({ devices: ... })));
 * router.get('/search', limitedSession(ctx, searchLimit), endpoint(ctx, { access: 'session' }, ...));
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { authenticateSession, type SessionAuth } from '../auth/session-auth.js';
import type { AppContext } from '../context.js';
import { forbidden, invalidRequest } from '../errors.js';
import { describeZodError } from './errors.js';

type Access = 'public' | 'session' | 'admin';
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface EndpointInput<B, Q, A> {
  req: Request;
  res: Response;
  body: B;
  query: Q;
  auth: A;
}

export function endpoint<A extends Access, B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
  ctx: Pick<AppContext, 'db' | 'config' | 'proofs'>,
  spec: { access: A; body?: B; query?: Q; status?: number },
  handler: (
    input: EndpointInput<Out<B>, Out<Q>, A extends 'public' ? undefined : SessionAuth>,
  ) => Promise<unknown> | unknown,
): RequestHandler {
  return async (req, res) => {
    let auth: SessionAuth | undefined;
    if (spec.access !== 'public') {
      // Already checked by limitedSession (mounted before): a proof is verified once, never twice.
      auth = req.auth ?? (await authenticateSession(req, ctx));
      if (spec.access === 'admin' && auth.user.role !== 'admin') throw forbidden('Administrators only');
      req.auth = auth;
    }
    const parse = (schema: z.ZodType | undefined, value: unknown) => {
      if (!schema) return undefined;
      const input = value ?? {};
      const r = schema.safeParse(input);
      if (!r.success) throw invalidRequest(describeZodError(r.error, input));
      return r.data;
    };
    const body = parse(spec.body, req.body) as Out<B>;
    const query = parse(spec.query, req.query) as Out<Q>;
    const result = await handler({ req, res, body, query, auth: auth as never });
    if (res.headersSent) return;
    if (result === undefined) res.status(spec.status ?? 204).end();
    else res.status(spec.status ?? 200).json(result);
  };
}

/**
 * Per-user limits for a session route, mounted before its `endpoint`: the session and its proof
 * (POP8) are checked first and the caller stashed in `req.auth`, then `limits` run (keyed on
 * `req.auth`, see http/rate-limit.ts), then a refused request gets its refusal. So a request
 * refused by authentication (no session, revoked device, invalid_proof) never counts against the
 * user's budget: a copied cookie jar cannot exhaust its owner's. It counts per address only.
 */
export function limitedSession(ctx: Pick<AppContext, 'db' | 'config' | 'proofs'>, ...limits: RequestHandler[]): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    let refusal: unknown;
    try {
      req.auth = await authenticateSession(req, ctx);
    } catch (err) {
      refusal = err;
    }
    const chain = [...limits, (_req: Request, _res: Response, done: NextFunction) => done(refusal)];
    let i = 0;
    const step = (err?: unknown) => {
      if (err !== undefined || i === chain.length) return next(err);
      const mw = chain[i++]!;
      Promise.resolve(mw(req, res, step)).catch(next);
    };
    step();
  };
}
