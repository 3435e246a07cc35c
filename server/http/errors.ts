/** The one error handler: AppError → its status and `{error: {code, message}}`; anything else → 500. */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import { AppError, invalidRequest, notFound } from '../errors.js';
import { describeError, type Logger } from '../logger.js';

/** The value at a zod issue's path in the parsed input (undefined when absent). */
function valueAt(input: unknown, keys: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of keys) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/**
 * A zod failure as one sentence that names the field. `input` is what was parsed: zod 4 issues
 * do not carry their input, so without it a present value of the wrong type (`?limit=abc`)
 * cannot be told from a missing one and would be reported as "is required".
 */
export function describeZodError(error: z.ZodError, input?: unknown): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `${issue.keys.join(', ')}: unknown field`;
      const field = issue.path.length ? issue.path.join('.') : 'body';
      if (issue.code === 'invalid_type' && input !== undefined && valueAt(input, issue.path) === undefined) return `${field}: is required`;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

export const apiNotFound: RequestHandler = (_req, _res, next) => next(notFound('Endpoint'));

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let error: AppError;
    if (err instanceof AppError) error = err;
    else if (err instanceof z.ZodError) error = invalidRequest(describeZodError(err));
    else if (err?.type === 'entity.too.large') error = new AppError('payload_too_large', 'Request body too large');
    else if (err?.type === 'entity.parse.failed') error = invalidRequest('body: is not valid JSON');
    else if (err?.type === 'charset.unsupported' || err?.type === 'encoding.unsupported')
      error = new AppError('unsupported_media_type', 'Unsupported body encoding');
    else {
      log.error({ err: describeError(err), method: req.method, path: req.path }, 'unhandled error');
      error = new AppError('internal_error', 'Something went wrong');
    }
    if (res.headersSent) return;
    res.status(error.status).set(error.headers).json({ error: { code: error.code, message: error.message } });
  };
}
