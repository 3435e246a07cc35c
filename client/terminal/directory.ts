/**
 * Names for people: channels named the way a person types them (general, #general, @bob, or an
 * id), and user ids turned into usernames for display, fetched in batches and remembered.
 *
 * @example
 * const channel = findChannel(await listChannels(http), '#general', login.user.username);
 * const names = new UserNames(http);
 * await names.load(channel.memberIds);
 * names.name(message.senderId);   // "alice"
 */
import type { Channel } from '../../shared/api.js';
import { CliError } from './errors.js';
import type { RelayHttp } from './http.js';

export async function listChannels(http: RelayHttp): Promise<Channel[]> {
  return (await http.request<{ channels: Channel[] }>('GET', '/api/channels')).channels;
}

/** How a channel is shown: "#general", or "@bob" for a direct one (the server names those "alice, bob"). */
export function channelLabel(c: Channel, myUsername: string): string {
  if (c.kind !== 'direct') return `#${c.name}`;
  const names = c.name.split(', ');
  const other = names.find((n) => n.toLowerCase() !== myUsername.toLowerCase()) ?? names[0];
  return `@${other}`;
}

/** The channel `ref` names; a CliError when none or several do. */
export function findChannel(channels: Channel[], ref: string, myUsername: string): Channel {
  const wanted = ref.trim().toLowerCase();
  const byId = channels.find((c) => c.id.toLowerCase() === wanted);
  if (byId) return byId;
  const matches = wanted.startsWith('@')
    ? channels.filter((c) => c.kind === 'direct' && channelLabel(c, myUsername).toLowerCase() === wanted)
    : channels.filter((c) => c.kind !== 'direct' && c.name.toLowerCase() === wanted.replace(/^#/, ''));
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new CliError(`Several channels match ${ref}; name one by id:\n${matches.map((c) => `  ${c.id}  ${channelLabel(c, myUsername)}`).join('\n')}`);
  }
  throw new CliError(`No channel ${ref} among yours and the public ones ("relay channels" lists them)`);
}

const BATCH = 100;

export class UserNames {
  private readonly names = new Map<string, string>();

  constructor(private readonly http: RelayHttp) {}

  /** Looks up the ids not known yet; a failure leaves them unknown (shown by id). */
  async load(ids: Iterable<string>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.names.has(id));
    for (let i = 0; i < missing.length; i += BATCH) {
      const chunk = missing.slice(i, i + BATCH);
      try {
        const { users } = await this.http.request<{ users: Array<{ id: string; username: string }> }>(
          'GET',
          `/api/users?ids=${encodeURIComponent(chunk.join(','))}`,
        );
        for (const u of users) this.names.set(u.id, u.username);
      } catch {
        return;
      }
    }
  }

  name(id: string): string {
    return this.names.get(id) ?? `user ${id.slice(0, 8)}`;
  }
}
