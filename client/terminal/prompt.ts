/**
 * Reading what a person types: the password (never echoed, never from argv), the username when
 * it was not given, and message text from stdin. Prompts go to stderr so stdout stays the
 * command's output.
 *
 * @example
 * const password = await readPassword();   // stdin when piped, else a prompt that does not echo
 */
import { createInterface } from 'node:readline/promises';
import { CliError } from './errors.js';

/** All of stdin, less one trailing newline (what `echo` or `printf '…\n'` adds). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The password: from stdin when it is not a terminal, else a prompt that does not echo. */
export async function readPassword(prompt = 'Password: '): Promise<string> {
  const password = process.stdin.isTTY ? await promptHidden(prompt) : await readStdin();
  if (!password) throw new CliError('No password given');
  return password;
}

/** A line typed at the terminal, echoed. */
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

const cancelled = () => new CliError('Cancelled', 130);

/** Reads a line in raw mode, echoing nothing; Backspace and Ctrl-U edit, Ctrl-C cancels. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: CliError) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(cancelled()); // Ctrl-C
        if (ch === '\u0004') return value ? finish() : finish(cancelled()); // Ctrl-D
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = ''; // Ctrl-U
        else if (ch >= ' ') value += ch;
      }
    };
    // Echo off before the prompt shows: a password typed the moment it appears is never echoed.
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
    process.stderr.write(question);
  });
}
