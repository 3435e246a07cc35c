/**
 * `relay tail <channel>`: the channel's last messages, then its events live until Ctrl-C.
 *
 * Guarantees:
 * - No hole and no repeat between history and live: the history printed is the channel up to the
 *   `lastSeq` of the first `subscribed`, and the live stream is everything after it (the
 *   RealtimeClient resumes from its position with sinceSeq after every reconnect, so an outage
 *   loses nothing either). Events are printed in the order they arrived, one after the other.
 * - Ctrl-C (SIGINT) or SIGTERM exits 0. A close 4403 (this device signed out, logged out,
 *   account disabled, password changed) or a refused token request exits 3 with a line saying
 *   to run relay login; being removed from the channel exits 1.
 */
import type { Message } from '../../../shared/api.js';
import type { CommandLine } from '../args.js';
import { channelLabel, findChannel, listChannels, UserNames } from '../directory.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { deletedLine, editedLine, messageLine, note, print, printJson, safeText } from '../output.js';
import { terminalRealtime } from '../realtime.js';
import { openSession } from '../session.js';
import { signedOutNotice } from '../../src/ui/signed-out.js';

type Env = Record<string, string | undefined>;

const DEFAULT_HISTORY = 20;
/** Messages remembered for naming the sender of a later deletion. */
const REMEMBER = 5_000;

function historyCount(raw: string | boolean | undefined): number {
  if (raw === undefined) return DEFAULT_HISTORY;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 200) throw usageError('--history: a whole number from 0 to 200');
  return n;
}

export async function tail(cl: CommandLine, env: Env = process.env): Promise<number> {
  const history = historyCount(cl.options.history);
  const session = openSession(env);
  const { http } = session;
  const me = session.login.user.username;
  const channel = findChannel(await listChannels(http), cl.args[0], me);
  const label = channelLabel(channel, me);
  if (channel.unread === undefined) throw new CliError(`You are not a member of ${label}; run relay join ${channel.name} first`);
  session.persist();
  const names = new UserNames(http);
  await names.load(channel.memberIds);

  const seen = new Map<string, { seq: number; senderId: string }>();
  const remember = (m: Message) => {
    seen.delete(m.id);
    seen.set(m.id, { seq: m.seq, senderId: m.senderId });
    if (seen.size > REMEMBER) seen.delete(seen.keys().next().value!);
  };

  // Printing waits on name look-ups; one chain keeps the lines in arrival order.
  let chain: Promise<void> = Promise.resolve();
  const then = (job: () => Promise<void> | void) => {
    chain = chain.then(job).catch((err: unknown) => note(`relay: ${(err as Error).message}`));
  };
  const showMessage = async (m: Message, extra: Record<string, unknown> = {}) => {
    remember(m);
    if (cl.json) return printJson({ type: 'message', message: m, ...extra });
    await names.load([m.senderId]);
    print(messageLine(m, names.name(m.senderId)));
  };

  const rt = terminalRealtime(session);
  let first = true;
  let lost = false;

  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number, message?: string) => {
      if (done) return;
      done = true;
      rt.disconnect();
      void chain.then(() => {
        if (message) note(`relay: ${message}`);
        resolve(code);
      });
    };
    process.once('SIGINT', () => finish(EXIT.ok));
    process.once('SIGTERM', () => finish(EXIT.ok));

    rt.on('subscribed', (f) => {
      if (f.channelId !== channel.id || !first) return;
      first = false;
      then(async () => {
        if (history > 0) {
          const { messages } = await http.request<{ messages: Message[] }>(
            'GET',
            `/api/channels/${encodeURIComponent(channel.id)}/messages?beforeSeq=${f.lastSeq + 1}&limit=${history}`,
          );
          await names.load(messages.map((m) => m.senderId));
          for (const m of messages) await showMessage(m, { history: true });
        }
        // On stderr in --json mode too: it tells a person (or a test) the stream is live.
        note(`-- ${label}: waiting for new messages (Ctrl-C to stop) --`);
      });
    });
    rt.on('message', ({ message, replay }) => {
      if (message.channelId === channel.id) then(() => showMessage(message, replay ? { replay: true } : {}));
    });
    rt.on('message_updated', ({ message }) => {
      if (message.channelId !== channel.id) return;
      then(async () => {
        remember(message);
        if (cl.json) return printJson({ type: 'message_updated', message });
        await names.load([message.senderId]);
        print(editedLine(message, names.name(message.senderId)));
      });
    });
    rt.on('message_deleted', ({ channelId, messageId }) => {
      if (channelId !== channel.id) return;
      then(() => {
        if (cl.json) return printJson({ type: 'message_deleted', channelId, messageId });
        const known = seen.get(messageId);
        print(deletedLine(known?.seq, known ? names.name(known.senderId) : undefined));
      });
    });
    rt.on('channel_removed', ({ channelId }) => {
      if (channelId === channel.id) finish(EXIT.failed, `You were removed from ${label}`);
    });
    rt.on('error', (f) => {
      if (f.ref === `sub:${channel.id}`) finish(EXIT.failed, `The server refused to stream ${label} (${safeText(f.code)})`);
    });
    rt.on('status', (s) => {
      if (s.stopped === 'signed_out') return finish(EXIT.signedOut, `${signedOutNotice(s.closeReason)} (${safeText(s.closeReason ?? 'signed_out')}); run relay login`);
      if (s.stopped === 'session_ended') return finish(EXIT.signedOut, 'Your session has ended; run relay login');
      if (s.state === 'live' && lost) {
        lost = false;
        then(() => note('-- reconnected --'));
      } else if (s.state === 'disconnected' && s.retryAt !== null && !lost && !first) {
        lost = true;
        const why = s.closeCode ? ` (${s.closeCode}${s.closeReason ? ` ${safeText(s.closeReason)}` : ''})` : '';
        then(() => note(`-- connection lost${why}; reconnecting… --`));
      }
    });
    rt.subscribe(channel.id);
    rt.connect();
  });
}
