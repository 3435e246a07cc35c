/** The one error handler: AppError → its status and `{error: {code, message}}`; anything else → 500. */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import { AppError, invalidRequest, notFound } from '../errors.js';
import { describeError, type Logger } from '../logger.js';

/** A zod failure as one sentence that names the field. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `${issue.keys.join(', ')}: unknown field`;
      const field = issue.path.length ? issue.path.join('.') : 'body';
      if (issue.code === 'invalid_type' && issue.input === undefined) return `${field}: is required`;
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
