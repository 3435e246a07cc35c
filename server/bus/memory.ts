import { LocalTopics, type BusHandler, type EventBus, type Unsubscribe } from './bus.js';

/** The single-process bus: delivery is synchronous-free (next microtask), in publish order. */
export class MemoryBus implements EventBus {
  private readonly local = new LocalTopics();

  async publish(topic: string, payload: string): Promise<void> {
    await Promise.resolve();
    this.local.deliver(topic, payload);
  }

  async subscribe(topic: string, handler: BusHandler): Promise<Unsubscribe> {
    this.local.add(topic, handler);
    return async () => {
      this.local.remove(topic, handler);
    };
  }

  async close(): Promise<void> {}
}
