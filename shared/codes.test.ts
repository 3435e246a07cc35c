/** The browser's character count agrees with the server's schema at the message-body limit. */
import { describe, expect, it } from 'vitest';
import { characterCount, LIMITS } from './codes.js';
import { clientFrame } from './protocol.js';

const send = (body: string) =>
  clientFrame.safeParse({ type: 'send', channelId: '00000000-0000-4000-8000-000000000000', clientMsgId: 'c1', body }).success;

describe('characterCount', () => {
  it('counts what the send schema counts: an emoji is one character', () => {
    for (const unit of ['a', 'é', '😀', '👍🏽']) {
      const atLimit = unit.repeat(Math.floor(LIMITS.messageBodyMax / characterCount(unit)));
      expect(characterCount(atLimit)).toBeLessThanOrEqual(LIMITS.messageBodyMax);
      expect(send(atLimit)).toBe(true);
      const over = atLimit + '😀'.repeat(LIMITS.messageBodyMax + 1 - characterCount(atLimit));
      expect(characterCount(over)).toBe(LIMITS.messageBodyMax + 1);
      expect(send(over)).toBe(false);
    }
    expect(characterCount('😀'.repeat(LIMITS.messageBodyMax))).toBe(LIMITS.messageBodyMax);
  });
});
