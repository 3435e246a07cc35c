/** The channel hub's presence ordering (PRES1) on the in-process bus. */
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../bus/memory.js';
import { ChannelHub, type HubMember } from './hub.js';

const channelId = '00000000-0000-4000-8000-000000000001';
const userId = '00000000-0000-4000-8000-000000000002';

async function hubWithWatcher() {
  const bus = new MemoryBus();
  const hub = new ChannelHub(bus, { read: async () => [], onRepairFailed: () => {}, onMemberGap: () => {}, gapWaitMs: 50 });
  const got: string[] = [];
  const watcher: HubMember = { id: 'w', userId: 'watcher', deliver: (_c, frame) => got.push(JSON.parse(frame.toString()).status) > 0 };
  await hub.join(channelId, watcher);
  const presence = async (status: string, seq: number) => {
    await hub.publish(channelId, 'p', userId, String(seq), JSON.stringify({ type: 'presence', channelId, userId, status }));
  };
  return { hub, got, presence };
}

describe('ChannelHub presence order', () => {
  it('PRES1: drops an event older than the last delivered for the user; equal seqs pass', async () => {
    const { got, presence } = await hubWithWatcher();
    const t = 1_800_000_000_000_000; // seqs are floored on Redis time in µs
    await presence('online', t + 2);
    await presence('online', t + 2); // the same transition, published for another channel
    await presence('offline', t + 1); // decided before, published late
    await presence('offline', t + 3);
    expect(got).toEqual(['online', 'online', 'offline']);
  });

  it('PRES1: a seq a minute or more below the last is a reset counter (Redis clock behind), not a late event', async () => {
    const { got, presence } = await hubWithWatcher();
    const t = 1_800_000_000_000_000;
    await presence('online', t);
    await presence('offline', t - 120_000_000); // two minutes "earlier": the counter went back
    await presence('online', t - 119_000_000);
    expect(got).toEqual(['online', 'offline', 'online']);
  });
  it('PRES1: events held for a subscribing member go out when its snapshot is out, except those older than it', async () => {
    const { hub, got, presence } = await hubWithWatcher();
    const other = '00000000-0000-4000-8000-000000000003';
    const t = 1_800_000_000_000_000;
    const late: string[] = [];
    const subscriber: HubMember = { id: 's', userId: 'subscriber', deliver: (_c, frame) => late.push(JSON.parse(frame.toString()).status) > 0 };
    hub.holdPresence(channelId, subscriber);
    await hub.join(channelId, subscriber);
    await presence('offline', t + 1); // reaches it before its snapshot is read
    await hub.publish(channelId, 'p', other, String(t + 5), JSON.stringify({ type: 'presence', channelId, userId: other, status: 'online' }));
    expect(late).toEqual([]);
    expect(got).toEqual(['offline', 'online']); // members not subscribing get events as they come
    hub.notePresence(new Map([[userId, t + 2]])); // its snapshot: the user online, decided after
    hub.releasePresence(channelId, subscriber);
    expect(late).toEqual(['online']); // the other user's event only
    await presence('offline', t + 3);
    expect(late).toEqual(['online', 'offline']);
  });
});
