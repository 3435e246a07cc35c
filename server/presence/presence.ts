/**
 * Presence: a user is online while at least one authenticated socket of theirs is open on any
 * instance. The gateway reports sockets arriving and leaving; the tracker answers with the
 * transitions (first socket in anywhere, last socket out everywhere) that produce events, so
 * ten tabs of one user do not flap.
 */
export interface PresenceReader {
  onlineUsers(userIds: string[]): Promise<Set<string>>;
  onlineDevices(deviceIds: string[]): Promise<Set<string>>;
}

export interface PresenceTracker extends PresenceReader {
  /** Resolves true when this socket made the user online (their first socket on any instance). */
  connect(userId: string, deviceId: string): Promise<boolean>;
  /** Resolves true when this socket's close made the user offline (their last socket anywhere). */
  disconnect(userId: string, deviceId: string): Promise<boolean>;
  /**
   * Starts background work (leases, reaping crashed instances). `offline` receives users that
   * went offline because another instance died; `online` receives users that came back online
   * when this instance re-registered after being wrongly taken for dead (a long pause).
   */
  start(events: PresenceEvents): void;
  stop(): Promise<void>;
}

export interface PresenceEvents {
  offline(userIds: string[]): void;
  online(userIds: string[]): void;
}
