/** `relay channels` (with unread counts) and `relay join`. */
import type { Channel } from '../../../shared/api.js';
import type { CommandLine } from '../args.js';
import { channelLabel, findChannel, listChannels } from '../directory.js';
import { EXIT } from '../errors.js';
import { print, printJson, table } from '../output.js';
import { openSession } from '../session.js';

type Env = Record<string, string | undefined>;

/** The server gives read state only for the caller's own channels. */
const isMember = (c: Channel) => c.unread !== undefined;

function unreadCell(c: Channel): string {
  if (!isMember(c)) return 'not joined';
  const mentions = c.mentions ? ` (${c.mentions} @)` : '';
  return `${c.unread}${mentions}`;
}

export async function channels(cl: CommandLine, env: Env = process.env): Promise<number> {
  const session = openSession(env);
  const list = await listChannels(session.http);
  session.persist();
  if (cl.json) {
    printJson({ channels: list });
    return EXIT.ok;
  }
  if (list.length === 0) {
    print('No channels yet.');
    return EXIT.ok;
  }
  const me = session.login.user.username;
  const sorted = [...list].sort((a, b) => Number(isMember(b)) - Number(isMember(a)) || channelLabel(a, me).localeCompare(channelLabel(b, me)));
  print(table(['CHANNEL', 'KIND', 'UNREAD', 'ID'], sorted.map((c) => [channelLabel(c, me), c.kind, unreadCell(c), c.id])));
  return EXIT.ok;
}

export async function join(cl: CommandLine, env: Env = process.env): Promise<number> {
  const session = openSession(env);
  const target = findChannel(await listChannels(session.http), cl.args[0], session.login.user.username);
  const { channel } = await session.http.request<{ channel: Channel }>('POST', `/api/channels/${encodeURIComponent(target.id)}/join`);
  session.persist();
  if (cl.json) printJson({ channel });
  else print(`Joined #${channel.name}.`);
  return EXIT.ok;
}
