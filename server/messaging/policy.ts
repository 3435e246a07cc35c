/**
 * Who may do what to a channel: decided here, and only here. HTTP routes, the gateway and the
 * store ask these functions (the store also checks membership inside its INSERT, so a member
 * removed between the check and the write cannot post).
 *
 * Each answer is a reason to refuse, or null: the caller turns a refusal into its own error
 * (HTTP 403 `forbidden`, or a `forbidden` frame). A channel that does not exist is refused like
 * a channel the user may not see, so no answer tells the two apart (contract v2).
 */
import type { Channel } from '../../shared/api.js';

export type Refusal = string;

const NOT_A_MEMBER = 'Not a member of this channel';

export const channelPolicy = {
  /** History, search: members always; anyone for a public channel. */
  read(channel: Channel | undefined, userId: string): Refusal | null {
    if (channel && (channel.kind === 'public' || channel.memberIds.includes(userId))) return null;
    return NOT_A_MEMBER;
  },

  /** Live events (subscribe, typing) and sending: members only. */
  participate(channel: Channel | undefined, userId: string): Refusal | null {
    return channel?.memberIds.includes(userId) ? null : NOT_A_MEMBER;
  },

  /** Joining by oneself: public channels only. */
  join(channel: Channel | undefined): Refusal | null {
    return channel?.kind === 'public' ? null : 'Only public channels can be joined; ask a member to add you';
  },

  /** Adding someone else: a member, and never to a direct conversation. */
  addMember(channel: Channel | undefined, actorId: string): Refusal | null {
    if (!channel || !channel.memberIds.includes(actorId)) return 'Only members can add people';
    if (channel.kind === 'direct') return 'A direct conversation has exactly two people';
    return null;
  },
};
