/**
 * The pino logger. Secrets never reach a log line: cookies, authorization headers, tokens and
 * passwords are redacted wherever they sit in a logged object, and request lines carry the path
 * only (never the query string).
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'password',
  'token',
  'secret',
  '*.password',
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
