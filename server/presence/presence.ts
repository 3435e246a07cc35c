/**
 * Presence: a user is online while at least one authenticated socket of theirs is open on any
 * instance. The gateway reports sockets arriving and leaving; the tracker answers with the
 * transitions (first socket in anywhere, last socket out everywhere) that produce events, so
 * ten tabs of one user do not flap.
 *
 * Every transition carries a sequence number, decided together with the transition (in the same
 * Redis script), that grows with each transition of a user. Instances publish their events on
 * their own, after a database read, so events can reach the others out of order; the seq lets
 * each receiver drop an event older than the last one it delivered for that user (PRES1).
 */
/**
 * Seqs floor on Redis time in µs. A receiver takes an event this much older than the last one it
 * delivered for the user for a counter that went back (Redis restored on a host whose clock is
 * behind), not for a late event (hub.ts). That holds because no event is published that late:
 * right before it goes out, a transition is checked against the user's latest one in Redis
 * (`reaffirm`), so what is published is never PRESENCE_LATE_US older than a transition decided
 * before the publish.
 */
export const PRESENCE_SEQ_RESET_GAP_US = 60_000_000;
export const PRESENCE_LATE_US = PRESENCE_SEQ_RESET_GAP_US / 2;

/** Who is online, and each user's last transition seq where one is known. */
export interface PresenceSnapshot {
  online: Set<string>;
  seqs: Map<string, number>;
}

export interface PresenceReader {
  onlineUsers(userIds: string[]): Promise<Set<string>>;
  /**
   * `onlineUsers` with the seq of each user's last transition: an event older than the snapshot
   * must not overturn it (a receiver seeds its order with these; see hub.ts).
   */
  snapshot(userIds: string[]): Promise<PresenceSnapshot>;
  onlineDevices(deviceIds: string[]): Promise<Set<string>>;
}

/** A user's transition (online or offline) and its sequence number. */
export interface PresenceChange {
  userId: string;
  seq: number;
}

export interface PresenceTracker extends PresenceReader {
  /** Resolves with the transition's seq when this socket made the user online (their first socket on any instance), else null. */
  connect(userId: string, deviceId: string): Promise<number | null>;
  /** Resolves with the transition's seq when this socket's close made the user offline (their last socket anywhere), else null. */
  disconnect(userId: string, deviceId: string): Promise<number | null>;
  /**
   * PRES1: called right before a transition is announced, however long after it was decided (a
   * slow database read, a queue of announcements). Resolves with the seq to announce it with: its
   * own, or a fresh one for the same state when it is PRESENCE_LATE_US old and still the user's
   * latest; null when a later transition at least that much newer exists (that one's
   * announcement carries the state; this one would look like a counter reset to receivers).
   */
  reaffirm(userId: string, seq: number): Promise<number | null>;
  /**
   * SHUT1: shutdown has begun. An online transition that a `connect` still in flight makes is no
   * longer returned (announcing it would flap: the socket is about to close). The user's
   * `disconnect` settles it: an offline transition is returned as usual (an instance may have
   * read the user online in between), and when the user stays online on another instance the
   * held online transition is reported through `PresenceEvents.online` instead.
   */
  drain(): void;
  /**
   * Starts background work (leases, reaping crashed instances). `offline` receives users that
   * went offline because another instance died; `online` receives users that came back online
   * when this instance re-registered after being wrongly taken for dead (a long pause).
   */
  start(events: PresenceEvents): void;
  /**
   * Stops background work and takes this instance out of presence: every user whose only sockets
   * were here is offline afterwards (reported through `PresenceEvents.offline`), even when their
   * departures did not get through in time (PRES2, SHUT1).
   */
  stop(): Promise<void>;
}

export interface PresenceEvents {
  offline(changes: PresenceChange[]): void;
  online(changes: PresenceChange[]): void;
}
