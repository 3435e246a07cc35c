/**
 * What HTTP handlers need to know about presence. The realtime gateway keeps it current: a user
 * is online while at least one authenticated socket of theirs is open on any instance.
 */
export interface PresenceReader {
  onlineUsers(userIds: string[]): Promise<Set<string>>;
  onlineDevices(deviceIds: string[]): Promise<Set<string>>;
}
