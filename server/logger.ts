/**
 * The pino logger. Secrets never reach a log line: cookies, authorization headers, tokens and
 * passwords are redacted wherever they sit in a logged object, and request lines carry the path
 * only (never the query string).
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  // Headers, wherever a request, a response, an upgrade or an error carries them.
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers.dpop',
  'req.headers["set-cookie"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers.dpop',
  'headers["set-cookie"]',
  '*.headers.cookie',
  '*.headers.authorization',
  '*.headers.dpop',
  '*.headers["set-cookie"]',
  'cookie',
  'authorization',
  '*.authorization',
  'password',
  'passwordHash',
  'token',
  'secret',
  '*.password',
  '*.passwordHash',
  '*.token',
  '*.secret',
  '*.cookie',
];

/** Masks a secret for display: at most its first 6 characters. */
export function mask(secret: string | undefined | null): string {
  if (!secret) return '';
  return `${secret.slice(0, 6)}…`;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination,
  );
}

/**
 * An error as a log-safe object. drizzle's DrizzleQueryError puts the query's parameters in its
 * message ("Failed query: … params: …"), and parameters can be password hashes or tokens: only
 * the SQL text, the driver's own message and code, and the stack frames are kept.
 */
export function describeError(err: unknown): { name?: string; message: string; code?: string; query?: string; stack?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const cause = (err as Error & { cause?: { message?: string; code?: string } }).cause;
  const query = (err as Error & { query?: unknown }).query;
  const isQueryError = typeof query === 'string' && err.message.startsWith('Failed query');
  const message = isQueryError ? (cause?.message ?? 'query failed') : err.message;
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return {
    name: err.name,
    message,
    code: (isQueryError ? cause?.code : (err as Error & { code?: string }).code) ?? undefined,
    query: isQueryError ? (query as string) : undefined,
    stack: frames.length ? `${err.name}: ${message}\n${frames.join('\n')}` : undefined,
  };
}
