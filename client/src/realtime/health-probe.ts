/**
 * Tells when a server that went away is back: GET /healthz (cheap, no credentials, no session)
 * every intervalMs until one answers 200, so a client waiting out a long backoff can connect at
 * once instead of sleeping on while the server is already up.
 *
 * @example
 * const probe = new HealthProbe({ url: origin + '/healthz', fetch, timers, intervalMs: 1_500 });
 * probe.start(() => connectNow());   // called once, on the first 200
 * probe.stop();                      // the wait ended some other way
 */
export interface ProbeTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface HealthProbeOptions {
  url: string;
  fetch: typeof fetch;
  timers: ProbeTimers;
  /** Between the end of one request and the next; also the most one request may take. */
  intervalMs: number;
}

export class HealthProbe {
  /** Bumped by start and stop: a request of an earlier run reports to nobody. */
  private run = 0;
  private timer: unknown = null;

  constructor(private readonly opts: HealthProbeOptions) {}

  /** Probes from intervalMs from now until a 200 (then calls onUp once) or stop(). */
  start(onUp: () => void): void {
    this.stop();
    this.later(this.run, onUp);
  }

  stop(): void {
    this.run++;
    if (this.timer !== null) this.opts.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private later(run: number, onUp: () => void): void {
    this.timer = this.opts.timers.setTimeout(() => {
      this.timer = null;
      void this.once(run, onUp);
    }, this.opts.intervalMs);
  }

  private async once(run: number, onUp: () => void): Promise<void> {
    if (run !== this.run) return;
    const abort = new AbortController();
    // A server that takes the connection but does not answer is not back.
    const timeout = this.opts.timers.setTimeout(() => abort.abort(), this.opts.intervalMs);
    let up = false;
    try {
      const res = await this.opts.fetch(this.opts.url, { cache: 'no-store', credentials: 'omit', signal: abort.signal });
      up = res.ok;
      await res.body?.cancel().catch(() => {});
    } catch {
      /* still down */
    } finally {
      this.opts.timers.clearTimeout(timeout);
    }
    if (run !== this.run) return;
    if (!up) return this.later(run, onUp);
    this.run++;
    onUp();
  }
}
