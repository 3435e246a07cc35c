/**
 * `relay send <channel> <text…|->`: one message over the realtime connection (the contract has
 * no HTTP send), through the same RealtimeClient as the browser.
 *
 * Guarantees: the message carries one clientMsgId for its whole life (given with --id, else a
 * new UUID); the client resends it with that id across reconnects, and the server stores a
 * clientMsgId once, so a retry, within this run or by running the command again with the same
 * --id, never makes a second message. When the outcome is unknown the error says how to retry
 * safely.
 */
import { randomUUID } from 'node:crypto';
import { characterCount, LIMITS, type Message } from '../../../shared/index.js';
import type { CommandLine } from '../args.js';
import { findChannel, listChannels, channelLabel } from '../directory.js';
import { CliError, EXIT, sessionEnded, usageError } from '../errors.js';
import { print, printJson, safeText } from '../output.js';
import { readStdin } from '../prompt.js';
import { terminalRealtime } from '../realtime.js';
import { openSession } from '../session.js';
import { signedOutNotice } from '../../src/ui/signed-out.js';

type Env = Record<string, string | undefined>;

/** How long to wait for the server's ack before giving up (the message may still have been stored). */
const SEND_TIMEOUT_MS = 30_000;

export async function send(cl: CommandLine, env: Env = process.env): Promise<number> {
  const [ref, ...words] = cl.args;
  const clientMsgId = (cl.options.id as string | undefined) ?? randomUUID();
  if (clientMsgId.length === 0 || clientMsgId.length > LIMITS.clientMsgIdMax) throw usageError(`--id: 1 to ${LIMITS.clientMsgIdMax} characters`);
  const session = openSession(env);
  const body = words.length === 1 && words[0] === '-' ? await readStdin() : words.join(' ');
  const length = characterCount(body);
  if (length === 0) throw usageError('The message is empty');
  if (length > LIMITS.messageBodyMax) throw usageError(`The message is ${length} characters long; the most is ${LIMITS.messageBodyMax}`);

  const me = session.login.user.username;
  const channel = findChannel(await listChannels(session.http), ref, me);
  const label = channelLabel(channel, me);
  if (channel.unread === undefined) throw new CliError(`You are not a member of ${label}; run relay join ${channel.name} first`);

  const retryHint = `To try again without risking a duplicate: relay send --id ${clientMsgId} ${ref} …`;
  const rt = terminalRealtime(session, { newId: () => clientMsgId });
  let message: Message;
  try {
    message = await new Promise<Message>((resolve, reject) => {
      let lastClose = '';
      const timer = setTimeout(
        () => reject(new CliError(`No answer from ${session.login.server} within ${SEND_TIMEOUT_MS / 1000} s${lastClose}; the message may or may not have been stored.\n${retryHint}`)),
        SEND_TIMEOUT_MS,
      );
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      rt.on('ack', (a) => {
        if (a.clientMsgId === clientMsgId) settle(() => resolve(a.message));
      });
      rt.on('outbox', (entries) => {
        const mine = entries.find((e) => e.clientMsgId === clientMsgId);
        if (mine?.status === 'failed') settle(() => reject(new CliError(`Not sent: ${safeText(mine.error ?? 'refused')}.\n${retryHint}`)));
      });
      rt.on('status', (s) => {
        if (s.closeCode) lastClose = ` (last connection closed: ${s.closeCode}${s.closeReason ? ` ${safeText(s.closeReason)}` : ''})`;
        if (s.stopped === 'signed_out') settle(() => reject(new CliError(`${signedOutNotice(s.closeReason)} (${safeText(s.closeReason ?? 'signed_out')}); run relay login`, EXIT.signedOut)));
        if (s.stopped === 'session_ended') settle(() => reject(sessionEnded()));
      });
      rt.connect();
      rt.send(channel.id, body);
    });
  } finally {
    rt.disconnect();
  }
  session.persist();
  if (cl.json) printJson({ channelId: channel.id, seq: message.seq, messageId: message.id, clientMsgId });
  else print(`Sent to ${label} (seq ${message.seq}).`);
  return EXIT.ok;
}
