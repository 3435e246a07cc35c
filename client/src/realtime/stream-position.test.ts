import { describe, expect, it } from 'vitest';
import { StreamPositions } from './stream-position.js';

describe('stream positions', () => {
  it('knows nothing of a channel before its first subscribed, and starts there', () => {
    const pos = new StreamPositions();
    expect(pos.get('c')).toBeUndefined();
    expect(pos.accept('c', 3)).toBe('untracked');
    pos.begin('c', 4);
    pos.begin('c', 9); // a later subscribed does not move a known position
    expect(pos.get('c')).toBe(4);
  });

  it('moves by one event at a time, and calls anything at or below it a duplicate', () => {
    const pos = new StreamPositions();
    pos.begin('c', 0);
    expect(pos.accept('c', 1)).toBe('next');
    expect(pos.accept('c', 2)).toBe('next');
    expect(pos.accept('c', 2)).toBe('duplicate');
    expect(pos.accept('c', 1)).toBe('duplicate');
    expect(pos.get('c')).toBe(2);
  });

  it('is the contiguous seq, not the highest seen: an event ahead is held until the hole fills', () => {
    const pos = new StreamPositions();
    pos.begin('c', 4);
    expect(pos.accept('c', 7)).toBe('ahead');
    expect(pos.accept('c', 7)).toBe('duplicate');
    expect(pos.get('c')).toBe(4);
    expect(pos.hasGap('c')).toBe(true);
    expect(pos.accept('c', 5)).toBe('next');
    expect(pos.get('c')).toBe(5);
    expect(pos.accept('c', 6)).toBe('next');
    expect(pos.get('c')).toBe(7);
    expect(pos.hasGap('c')).toBe(false);
  });

  it('reached(seq) moves to it and past the held events that follow; never backwards', () => {
    const pos = new StreamPositions();
    pos.begin('c', 1);
    pos.accept('c', 4);
    pos.accept('c', 7);
    pos.reached('c', 5);
    expect(pos.get('c')).toBe(5);
    expect(pos.accept('c', 6)).toBe('next');
    expect(pos.get('c')).toBe(7);
    pos.accept('c', 9);
    pos.reached('c', 8);
    expect(pos.get('c')).toBe(9);
    expect(pos.hasGap('c')).toBe(false);
    pos.reached('c', 3);
    expect(pos.get('c')).toBe(9);
  });

  it('keeps channels apart and forgets one on request', () => {
    const pos = new StreamPositions();
    pos.begin('a', 10);
    pos.begin('b', 0);
    expect(pos.accept('a', 11)).toBe('next');
    expect(pos.accept('b', 11)).toBe('ahead');
    pos.forget('a');
    expect(pos.get('a')).toBeUndefined();
    expect(pos.get('b')).toBe(0);
  });
});
