import { describe, expect, it } from 'vitest';
import { backoffCeiling, fullJitterDelay } from './backoff.js';

describe('full-jitter backoff', () => {
  const policy = { baseMs: 500, maxMs: 30_000 };

  it('doubles the ceiling per attempt and caps it at maxMs', () => {
    expect([0, 1, 2, 3, 6, 7, 50].map((n) => backoffCeiling(n, policy))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000, 30_000]);
  });

  it('draws every delay from [0, ceiling)', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      expect(fullJitterDelay(attempt, policy, () => 0)).toBe(0);
      const top = fullJitterDelay(attempt, policy, () => 0.999999);
      expect(top).toBeLessThan(backoffCeiling(attempt, policy));
      expect(top).toBeGreaterThanOrEqual(backoffCeiling(attempt, policy) - 1);
      for (let i = 0; i < 50; i++) {
        const d = fullJitterDelay(attempt, policy);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(backoffCeiling(attempt, policy));
      }
    }
  });
});
