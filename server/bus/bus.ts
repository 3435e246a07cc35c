/**
 * The event bus: publish/subscribe of string payloads on named topics. Two implementations with
 * one contract (bus.contract.test.ts runs against both): in-process (single-process mode) and
 * Redis pub/sub (REDIS_URL set), which carries events between instances.
 *
 * Payloads are strings so a frame is serialized once per event, not once per recipient.
 */
import type { RevocationReason } from '../../shared/codes.js';

export type BusHandler = (payload: string) => void;
export type Unsubscribe = () => Promise<void>;

export interface EventBus {
  /** Delivers `payload` to every subscriber of `topic` on every instance (including this one). */
  publish(topic: string, payload: string): Promise<void>;
  /** Resolves once the subscription is active everywhere, so no later publish is missed. */
  subscribe(topic: string, handler: BusHandler): Promise<Unsubscribe>;
  /**
   * Calls `handler` each time the bus is back after losing its connection: what was published
   * meanwhile never arrived here, so a listener repairs from the database (SEQ6). The
   * in-process bus never loses anything and has no such event.
   */
  onReconnect?(handler: () => void): void;
  close(): Promise<void>;
}

/** Topics used across capabilities. */
export const TOPICS = {
  /** Revocations and other control events every instance must act on. */
  control: 'control',
  channel: (channelId: string) => `ch:${channelId}`,
  user: (userId: string) => `user:${userId}`,
} as const;

/** Control events carried on TOPICS.control. */
export type ControlEvent =
  | { kind: 'revoke_devices'; deviceIds: string[]; reason: RevocationReason };

/**
 * Ref-counted local fan-out shared by both implementations: many handlers per topic, and a hook
 * that fires when a topic gains its first or loses its last handler.
 */
export class LocalTopics {
  private readonly handlers = new Map<string, Set<BusHandler>>();

  add(topic: string, handler: BusHandler): boolean {
    let set = this.handlers.get(topic);
    const first = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(topic, set);
    }
    set.add(handler);
    return first;
  }

  /** Returns true when the topic has no handler left. */
  remove(topic: string, handler: BusHandler): boolean {
    const set = this.handlers.get(topic);
    if (!set) return false;
    set.delete(handler);
    if (set.size === 0) {
      this.handlers.delete(topic);
      return true;
    }
    return false;
  }

  deliver(topic: string, payload: string): void {
    const set = this.handlers.get(topic);
    if (!set) return;
    for (const h of set) {
      try {
        h(payload);
      } catch {
        // One failing handler must not starve the others.
      }
    }
  }

  topics(): string[] {
    return [...this.handlers.keys()];
  }
}
