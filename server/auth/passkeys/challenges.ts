/**
 * WebAuthn challenges between an options request and the response that answers it.
 *
 * Guarantees:
 * - A challenge is good once: `take` removes it in the same step that reads it (Redis GETDEL,
 *   shared by every instance when REDIS_URL is set; else a map in this process), so two requests
 *   racing with one response cannot both see it.
 * - A challenge lives CHALLENGE_TTL_MS at most.
 * - The in-process map is bounded: when full of live challenges it forgets the oldest (that
 *   ceremony fails as expired and is started again) rather than refuse every new one: a flood of
 *   sign-in options (anonymous, limited per address only) cannot stop everyone else's sign-in.
 * - Keys are chosen by the caller: a registration's is the signed-in device's, a sign-in's is a
 *   random id held in a short-lived HttpOnly cookie (see routes.ts). Nothing here is in a URL.
 */
import type { RedisClient } from '../../redis.js';

/** How long the person has to answer their authenticator, plus a margin. */
export const CHALLENGE_TTL_MS = 2 * 60_000;

export interface ChallengeStore {
  /** Stores `challenge` under `key`, replacing any earlier one there. */
  put(key: string, challenge: string): Promise<void>;
  /** The challenge under `key`, removed in the same step; null when none, used or expired. */
  take(key: string): Promise<string | null>;
}

export class RedisChallengeStore implements ChallengeStore {
  constructor(private readonly redis: RedisClient) {}
  async put(key: string, challenge: string): Promise<void> {
    await this.redis.set(`relay:webauthn:${key}`, challenge, { PX: CHALLENGE_TTL_MS });
  }
  async take(key: string): Promise<string | null> {
    // GETDEL (Redis 6.2): read and remove in one command, on whichever instance asks first.
    const value = await this.redis.getDel(`relay:webauthn:${key}`);
    return typeof value === 'string' ? value : null;
  }
}

/**
 * One process's challenges. Every entry has the same TTL and a replaced one moves to the end,
 * so the map is in expiry order: expired entries are dropped from the front.
 */
export class MemoryChallengeStore implements ChallengeStore {
  private readonly entries = new Map<string, { challenge: string; expires: number }>();
  constructor(private readonly max = 10_000) {}

  private sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expires > now) break;
      this.entries.delete(key);
    }
  }

  async put(key: string, challenge: string): Promise<void> {
    const now = Date.now();
    this.sweep(now);
    this.entries.delete(key);
    // Full of live ones: the oldest goes (the map is in expiry order, so it is the first).
    while (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { challenge, expires: now + CHALLENGE_TTL_MS });
  }

  async take(key: string): Promise<string | null> {
    const entry = this.entries.get(key);
    this.entries.delete(key);
    return entry && entry.expires > Date.now() ? entry.challenge : null;
  }
}
