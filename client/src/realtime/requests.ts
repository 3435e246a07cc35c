/**
 * Answers to frames that ask for something (`edit`, `delete`): each request gets its own ref,
 * and exactly one outcome, whichever comes first: the answer, an `error` frame with its ref,
 * the connection going away, or a timeout. Edits and deletions are not queued across
 * reconnects like sends: the person sees the failure and may try again (the message may have
 * changed meanwhile).
 *
 * @example
 * const reqs = new Requests(timers, 10_000);
 * const { ref, done } = reqs.open('edit');
 * write({ type: 'edit', …, ref });
 * reqs.settle(ref);                        // on `edited` with that ref
 */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface TimerApi {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

interface Pending {
  resolve(): void;
  reject(err: RequestError): void;
  timer: unknown;
}

export class Requests {
  private next = 0;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly timers: TimerApi,
    private readonly timeoutMs: number,
  ) {}

  /** A fresh ref (prefix `kind:`) and the promise of its outcome. */
  open(kind: string): { ref: string; done: Promise<void> } {
    const ref = `${kind}:${++this.next}`;
    const done = new Promise<void>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => this.fail(ref, new RequestError('timeout', 'No answer from the server')), this.timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
    });
    return { ref, done };
  }

  /** The answer arrived. Returns whether the ref was ours and pending. */
  settle(ref: string | undefined): boolean {
    const p = ref !== undefined ? this.take(ref) : undefined;
    p?.resolve();
    return !!p;
  }

  fail(ref: string | undefined, err: RequestError): boolean {
    const p = ref !== undefined ? this.take(ref) : undefined;
    p?.reject(err);
    return !!p;
  }

  /** The socket closed: no answer to anything asked on it will come. */
  failAll(err: RequestError): void {
    for (const ref of [...this.pending.keys()]) this.fail(ref, err);
  }

  private take(ref: string): Pending | undefined {
    const p = this.pending.get(ref);
    if (!p) return undefined;
    this.pending.delete(ref);
    this.timers.clearTimeout(p.timer);
    return p;
  }
}
