import { describe, expect, it, vi } from 'vitest';
import type { Message } from '../../../shared/api.js';
import { ReadState } from './read-state.js';

const ME = 'me';
const msg = (seq: number, senderId = 'bob', extra: Partial<Message> = {}): Message => ({
  id: `m${seq}`,
  channelId: 'c',
  seq,
  senderId,
  clientMsgId: `k${seq}`,
  body: 'x',
  mentions: [],
  createdAt: '2025-01-01T00:00:00.000Z',
  editedAt: null,
  deletedAt: null,
  ...extra,
});
const live = (messages: Message[]) => ({ messages, contiguous: false, complete: false });

describe('read state', () => {
  it('starts from the server counts and adds live messages from others after them', () => {
    const rs = new ReadState(ME, vi.fn());
    rs.fromServer('c', { readSeq: 3, unread: 4, mentions: 1, lastSeq: 7 });
    const held = [msg(8), msg(9, ME), msg(10, 'bob', { mentions: [ME] }), msg(11, 'bob', { deletedAt: 'now', body: '' })];
    expect(rs.counts('c', live(held))).toEqual({ unread: 6, mentions: 2 });
  });

  it('a move to the newest seq clears everything without asking the server', () => {
    const stale = vi.fn();
    const rs = new ReadState(ME, stale);
    rs.fromServer('c', { readSeq: 3, unread: 4, mentions: 1, lastSeq: 7 });
    expect(rs.moveTo('c', 8)).toBe(true);
    expect(rs.counts('c', live([msg(8)]))).toEqual({ unread: 0, mentions: 0 });
    expect(stale).not.toHaveBeenCalled();
    expect(rs.moveTo('c', 5)).toBe(false); // forward only
  });

  it('a move into the middle of what is not held makes the counts stale (one refetch)', () => {
    const stale = vi.fn();
    const rs = new ReadState(ME, stale);
    rs.fromServer('c', { readSeq: 3, unread: 4, mentions: 0, lastSeq: 7 });
    rs.moveTo('c', 5);
    expect(stale).toHaveBeenCalledWith('c');
  });

  it('counts exactly from a loaded history that reaches the cursor', () => {
    const rs = new ReadState(ME, vi.fn());
    rs.fromServer('c', { readSeq: 3, unread: 4, mentions: 0, lastSeq: 7 });
    rs.moveTo('c', 5);
    const held = { messages: [msg(1), msg(2), msg(3), msg(4), msg(5), msg(6), msg(7, ME)], contiguous: true, complete: true };
    expect(rs.counts('c', held)).toEqual({ unread: 1, mentions: 0 });
  });

  it('a deletion of a message not held, while some are unread, asks the server again', () => {
    const stale = vi.fn();
    const rs = new ReadState(ME, stale);
    rs.fromServer('c', { readSeq: 3, unread: 2, mentions: 0, lastSeq: 5 });
    rs.changed('c', true);
    expect(stale).not.toHaveBeenCalled();
    rs.changed('c', false);
    expect(stale).toHaveBeenCalledTimes(1);
  });

  it('a stream that begins after the counted seq asks the server again', () => {
    const stale = vi.fn();
    const rs = new ReadState(ME, stale);
    rs.fromServer('c', { readSeq: 3, unread: 2, mentions: 0, lastSeq: 5 });
    rs.streamStarts('c', 5);
    expect(stale).not.toHaveBeenCalled();
    rs.streamStarts('c', 9);
    expect(stale).toHaveBeenCalledTimes(1);
  });
});
