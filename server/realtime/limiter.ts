/**
 * Per-socket flow control: a token bucket (rate per second, burst). Frames over the rate are
 * refused with `rate_limited`; a socket that keeps flooding (`maxStrikes` refusals within
 * `strikeWindowMs`) is closed with 4429.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private strikes = 0;
  private strikeWindowStart = 0;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly maxStrikes = 20,
    private readonly strikeWindowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** 'ok' to handle the frame, 'refuse' to answer rate_limited, 'close' to close with 4429. */
  take(): 'ok' | 'refuse' | 'close' {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSec);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    if (t - this.strikeWindowStart > this.strikeWindowMs) {
      this.strikeWindowStart = t;
      this.strikes = 0;
    }
    this.strikes += 1;
    return this.strikes >= this.maxStrikes ? 'close' : 'refuse';
  }
}
