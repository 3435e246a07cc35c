/**
 * A test client that does what a well-behaved client of the channel stream does (CONTRACT v2,
 * "What a client keeps"): it reconnects with backoff (to the next of several instances when one
 * is gone), resubscribes with `sinceSeq` = the last seq up to which it holds every event (an ack
 * counts for its own message, but never moves that point past a message still on its way), and
 * resends every unacknowledged message with its clientMsgId. It records what it saw so a test
 * can check it: duplicates, disorder, and the final sequence.
 *
 * @example
 * const c = new StreamClient([a.url, b.url], alice, channelId);
 * c.start();
 * c.send('m1', 'hello');
 * await expect.poll(() => c.contiguous).toBe(lastSeqInDb);
 */
import WebSocket from 'ws';
import type { HttpClient } from './harness.js';

export interface StreamMsg {
  id: string;
  seq: number;
  channelId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
}

export class StreamClient {
  /** Every event this client holds, by seq (from `message` frames, replays and its own acks). */
  readonly held = new Map<number, StreamMsg>();
  /** The last seq up to which every event is held. */
  contiguous = 0;
  /** Problems seen: a frame for a seq already held on that connection, or out of seq order. */
  readonly problems: string[] = [];
  readonly outbox = new Map<string, string>();
  readonly acked = new Map<string, StreamMsg>();
  readonly closes: Array<{ code: number; reason: string }> = [];
  connects = 0;
  resent = 0;
  private ws?: WebSocket;
  private ready = false;
  private stopped = false;
  private next = 0;

  constructor(
    private readonly urls: string[],
    private readonly client: HttpClient,
    private readonly channelId: string,
  ) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }

  send(clientMsgId: string, body: string): void {
    this.outbox.set(clientMsgId, body);
    if (this.ready) this.transmit(clientMsgId, body);
  }

  /** Seqs 1..n in order, as the client holds them (for comparing with the database). */
  sequence(): StreamMsg[] {
    return Array.from({ length: this.contiguous }, (_, i) => this.held.get(i + 1)!);
  }

  private transmit(clientMsgId: string, body: string): void {
    this.ws?.send(JSON.stringify({ type: 'send', channelId: this.channelId, clientMsgId, body }));
  }

  private hold(message: StreamMsg): void {
    this.held.set(message.seq, message);
    while (this.held.has(this.contiguous + 1)) this.contiguous += 1;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const url = this.urls[this.next % this.urls.length];
      const subscribed = await this.session(url).catch(() => false);
      if (subscribed) attempt = 0;
      else this.next += 1; // that instance is gone: try the next one
      if (this.stopped) break;
      const delay = Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random());
      attempt += 1;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** One connection's life. Resolves true if it got as far as `subscribed`. */
  private session(url: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', {
        headers: { origin: url, cookie: this.client.cookieHeader() },
        perMessageDeflate: false,
      });
      this.ws = ws;
      let subscribed = false;
      /** The last stream seq this connection received a frame for (order check). */
      let lastFrameSeq = 0;
      const subscribe = () => {
        lastFrameSeq = this.contiguous;
        ws.send(JSON.stringify({ type: 'subscribe', channelId: this.channelId, sinceSeq: this.contiguous }));
      };
      ws.on('error', () => {});
      ws.on('open', () => ws.send(JSON.stringify({ type: 'authenticate', token: this.client.token })));
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString());
        if (f.type === 'authenticated') {
          this.connects += 1;
          subscribe();
        } else if (f.type === 'message' && f.message.channelId === this.channelId) {
          const m = f.message as StreamMsg;
          if (f.seq !== m.seq) this.problems.push(`frame seq ${f.seq} ≠ message.seq ${m.seq}`);
          if (m.seq <= lastFrameSeq) this.problems.push(`seq ${m.seq} after ${lastFrameSeq} on connection ${this.connects}`);
          lastFrameSeq = Math.max(lastFrameSeq, m.seq);
          this.hold(m);
          // A replayed message of our own is as good as an ack.
          if (m.senderId === this.client.userId && this.outbox.delete(m.clientMsgId)) this.acked.set(m.clientMsgId, m);
        } else if (f.type === 'subscribed') {
          if (f.truncated) return subscribe();
          subscribed = true;
          this.ready = true;
          for (const [clientMsgId, body] of this.outbox) {
            this.resent += 1;
            this.transmit(clientMsgId, body);
          }
        } else if (f.type === 'ack') {
          this.outbox.delete(f.clientMsgId);
          this.acked.set(f.clientMsgId, f.message);
          this.hold(f.message);
        }
      });
      ws.on('close', (code, reason) => {
        this.ready = false;
        if (this.connects > 0 || code !== 1006) this.closes.push({ code, reason: reason.toString() });
        if (subscribed) resolve(true);
        else reject(new Error(`closed ${code} before subscribing`));
      });
    });
  }
}
