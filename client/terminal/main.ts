/**
 * The terminal client of Relay: `npm run relay -- <command>` (or `tsx client/terminal/main.ts`).
 * Parses the command line, runs one command, prints failures as one `relay: …` line on stderr and
 * exits with the status errors.ts defines. Usage: `relay help`.
 */
import { parseCommandLine, usage, type CommandName, type CommandLine } from './args.js';
import { channels, join } from './commands/channels.js';
import { devices, revoke } from './commands/devices.js';
import { login, logout } from './commands/login.js';
import { send } from './commands/send.js';
import { tail } from './commands/tail.js';
import { CliError, EXIT } from './errors.js';
import { safeText } from './output.js';

const RUN: Record<CommandName, (cl: CommandLine) => Promise<number>> = {
  login,
  logout,
  channels,
  join,
  send,
  tail,
  devices,
  revoke,
  help: async () => {
    process.stdout.write(usage() + '\n');
    return EXIT.ok;
  },
};

function exit(code: number): void {
  // Let what is written reach the pipe or terminal before the process goes.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// `relay tail … | head`: the reader went away; that is the end, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
});

async function main(): Promise<number> {
  const cl = parseCommandLine(process.argv.slice(2));
  return RUN[cl.command](cl);
}

main().then(exit, (err: unknown) => {
  if (err instanceof CliError) {
    // The message may carry the server's words (an error message, a close reason).
    process.stderr.write(`relay: ${safeText(err.message)}\n`);
    return exit(err.exitCode);
  }
  process.stderr.write(`relay: unexpected error: ${safeText(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  exit(EXIT.failed);
});
