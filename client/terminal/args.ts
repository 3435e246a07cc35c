/**
 * The command line of the terminal client: which command, its arguments and options, and the
 * usage text. Parsing only; the commands live in commands/.
 *
 * @example
 * parseCommandLine(['send', 'general', 'hello', 'there', '--json'])
 * // → { command: 'send', args: ['general', 'hello', 'there'], options: { json: true } }
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const common: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

export const COMMANDS = {
  login: {
    usage: 'login [--server URL] [--username NAME] [--device-name NAME]',
    summary: 'sign in; the password is read from stdin when piped, else asked without echo',
    options: { server: { type: 'string' }, username: { type: 'string', short: 'u' }, 'device-name': { type: 'string' } },
    args: [0, 0],
  },
  channels: { usage: 'channels', summary: 'your channels and the public ones, with unread counts', options: {}, args: [0, 0] },
  join: { usage: 'join <channel>', summary: 'join a public channel', options: {}, args: [1, 1] },
  send: {
    usage: 'send [--id CLIENT_MSG_ID] <channel> <-|text…>',
    summary: 'send a message; prints its seq. Same --id again: no second message.\n      Prefer - (read the text from stdin): text given as arguments is visible to every user in ps',
    options: { id: { type: 'string' } },
    args: [2, Infinity],
  },
  tail: {
    usage: 'tail [--history N] <channel>',
    summary: 'the last N messages (default 20), then new messages, edits and deletions live; Ctrl-C stops',
    options: { history: { type: 'string', short: 'n' } },
    args: [1, 1],
  },
  devices: { usage: 'devices', summary: 'your signed-in devices (* marks this one)', options: {}, args: [0, 0] },
  revoke: { usage: 'revoke <device-id-or-prefix>', summary: 'sign a device out; its sockets close at once', options: {}, args: [1, 1] },
  logout: { usage: 'logout', summary: 'sign this device out on the server, then forget the stored login', options: {}, args: [0, 0] },
  help: { usage: 'help', summary: 'this text', options: {}, args: [0, 1] },
} satisfies Record<string, { usage: string; summary: string; options: Options; args: [number, number] }>;

export type CommandName = keyof typeof COMMANDS;

export interface CommandLine {
  command: CommandName;
  args: string[];
  options: Record<string, string | boolean | undefined>;
  json: boolean;
}

export function usage(): string {
  const lines = Object.values(COMMANDS).flatMap((c) => [`  relay ${c.usage}`, `      ${c.summary}`]);
  return [
    'Usage (from a checkout: npm run relay -- <command>):',
    ...lines,
    '',
    'Every command takes --json for machine-readable output.',
    'A channel is named by its name (general or #general), its id, or @user for a direct one.',
    'The login is kept in $RELAY_CONFIG_DIR, else $XDG_CONFIG_HOME/relay, else ~/.config/relay (mode 0600).',
    'Exit status: 0 done, 1 failed, 2 bad usage, 3 not signed in (run relay login).',
  ].join('\n');
}

export function parseCommandLine(argv: string[]): CommandLine {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') return { command: 'help', args: [], options: {}, json: false };
  if (!Object.hasOwn(COMMANDS, first)) throw usageError(`Unknown command: ${first}`);
  const command = first as CommandName;
  const spec = COMMANDS[command];
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...common, ...spec.options }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    throw usageError(`${(err as Error).message.split('\n')[0]}\nUsage: relay ${spec.usage}`);
  }
  if (parsed.values.help) return { command: 'help', args: [], options: {}, json: false };
  const [min, max] = spec.args;
  if (parsed.positionals.length < min || parsed.positionals.length > max) throw usageError(`Usage: relay ${spec.usage}`);
  return { command, args: parsed.positionals, options: parsed.values, json: parsed.values.json === true };
}
