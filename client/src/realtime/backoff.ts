/**
 * Reconnect delays: "full jitter" exponential backoff. Attempt n waits a uniformly random time in
 * [0, min(maxMs, baseMs · 2^n)), which spreads a crowd of clients reconnecting after a server
 * restart instead of having them arrive in waves.
 *
 * @example
 * fullJitterDelay(3, DEFAULT_BACKOFF, Math.random); // somewhere in [0, 4000) ms
 */
export interface BackoffPolicy {
  /** The ceiling of the first retry. */
  baseMs: number;
  /** The ceiling never grows past this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

/** After close 4429 (rate limited) the server asked us to back off harder. */
export const RATE_LIMITED_BACKOFF: BackoffPolicy = { baseMs: 5_000, maxMs: 120_000 };

/** The upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
}

/** A delay drawn uniformly from [0, backoffCeiling(attempt)). `random` returns [0, 1). */
export function fullJitterDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, policy));
}
