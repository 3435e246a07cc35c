/**
 * How the terminal client fails: one error type carrying the line a person reads and the exit
 * status a script reads. main.ts prints `message` on stderr and exits with `exitCode`.
 *
 * Exit statuses: 0 done; 1 failed (server unreachable, refused, rate limited, …); 2 usage;
 * 3 not signed in (no stored login, the session ended, this device was signed out): run
 * `relay login`.
 *
 * @example
 * throw new CliError('Not logged in; run relay login', EXIT.signedOut);
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, signedOut: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(`${message}\nRun "relay help" for usage.`, EXIT.usage);

export const notLoggedIn = () => new CliError('Not logged in; run relay login', EXIT.signedOut);

/** The server no longer knows this login (401 on a session request, or the token request). */
export const sessionEnded = (detail?: string) =>
  new CliError(`Your session has ended${detail ? ` (${detail})` : ''}; run relay login`, EXIT.signedOut);
