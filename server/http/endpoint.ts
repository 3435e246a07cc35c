/**
 * The one route chain: (rate limit, mounted before) → authenticate → validate (zod) → handler.
 * Handlers load, authorize, act and present; errors are thrown as AppError factories.
 *
 * @example
 * router.get('/devices', endpoint(ctx, { access: 'session' }, async ({ auth }) => ({ devices: ... })));
 */
import type { Request, RequestHandler, Response } from 'express';
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
      auth = await authenticateSession(req, ctx);
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
