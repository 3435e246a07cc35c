/**
 * The Redis bus: PUBLISH on the shared connection, SUBSCRIBE on a dedicated subscriber
 * connection (a subscribed connection can run nothing else). Topics are subscribed in Redis only
 * while some local handler wants them; node-redis resubscribes after a reconnect.
 */
import type { Logger } from '../logger.js';
import { createRedis, type RedisClient } from '../redis.js';
import { LocalTopics, type BusHandler, type EventBus, type Unsubscribe } from './bus.js';

export class RedisBus implements EventBus {
  private readonly local = new LocalTopics();
  /** Topics whose SUBSCRIBE is in flight: a second subscriber waits for the same round trip. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly listener = (message: string, channel: string) => this.local.deliver(channel, message);
  private readonly reconnectHandlers: Array<() => void> = [];

  private constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
  ) {
    // `ready` after a lost connection: node-redis has re-sent our SUBSCRIBEs (they go ahead of
    // any other command), and whatever was published in between is gone.
    let lost = false;
    subscriber.on('end', () => (lost = true));
    subscriber.on('error', () => (lost = true));
    subscriber.on('reconnecting', () => (lost = true));
    subscriber.on('ready', () => {
      if (!lost) return;
      lost = false;
      for (const handler of this.reconnectHandlers) handler();
    });
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  static async connect(publisher: RedisClient, url: string, log: Logger): Promise<RedisBus> {
    const subscriber = createRedis(url, log, 'subscriber');
    await subscriber.connect();
    return new RedisBus(publisher, subscriber);
  }

  async publish(topic: string, payload: string): Promise<void> {
    await this.publisher.publish(topic, payload);
  }

  async subscribe(topic: string, handler: BusHandler): Promise<Unsubscribe> {
    if (this.local.add(topic, handler)) {
      const subscribing = this.subscriber.subscribe(topic, this.listener);
      this.pending.set(topic, subscribing);
      try {
        await subscribing;
      } catch (err) {
        this.local.remove(topic, handler);
        throw err;
      } finally {
        this.pending.delete(topic);
      }
    } else {
      try {
        await this.pending.get(topic);
      } catch (err) {
        // The SUBSCRIBE this handler rode on failed: it is not subscribed either.
        this.local.remove(topic, handler);
        throw err;
      }
    }
    return async () => {
      if (this.local.remove(topic, handler)) {
        await this.subscriber.unsubscribe(topic, this.listener).catch(() => {});
      }
    };
  }

  async close(): Promise<void> {
    await this.subscriber.close().catch(() => {});
  }
}
