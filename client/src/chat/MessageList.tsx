/**
 * A conversation's history: day dividers, grouping, the New messages divider, older pages on
 * scroll-up. Opened at a message (a search result), it shows the window of history around it
 * (state/message-window.ts), scrolled to it and highlighted; scrolling loads older and newer
 * pages until the window meets the live conversation. Until then the conversation is not "at
 * the bottom", so nothing is marked read.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { Message } from '../../../shared/api.js';
import type { OutboxEntry } from '../realtime/client.js';
import { useJump } from '../state/message-window.js';
import { useStore } from '../state/use-store.js';
import { formatDay } from '../ui/format.js';
import { MessageRow, OutboxRow } from './MessageRow.js';
import './message-list.css';

const GROUP_MS = 5 * 60_000;

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'message'; key: string; message: Message; grouped: boolean }
  | { kind: 'outbox'; key: string; entry: OutboxEntry; grouped: boolean };

export function MessageList({ channelId, title, direct }: { channelId: string; title: string; direct: boolean }) {
  const store = useStore();
  const view = store.view(channelId);
  const win = useJump(store, channelId);
  // Showing the window around a found message, not (yet) the live conversation.
  const windowed = !!win && !win.joined;
  const shown = windowed
    ? { messages: win.messages, loading: win.loading, loaded: !win.loading, loadingOlder: win.loadingOlder, hasMore: win.hasOlder, error: win.error }
    : view;
  const outbox = windowed ? [] : store.outboxFor(channelId);
  const ref = useRef<HTMLDivElement>(null);
  // Opened at a message: not at the newest one.
  const stick = useRef(!win);
  /** Go to the newest message on the next layout (Jump to newest, or an own send from a window). */
  const toBottom = useRef(false);
  const prev = useRef<{ first?: string; height: number; top: number }>({ height: 0, top: 0 });
  const [showJump, setShowJump] = useState(false);
  // "New messages" goes above the first message that was unread when the channel was opened.
  const [unreadAfter] = useState(() => (store.countsOf(channelId).unread > 0 ? store.reads.readSeq(channelId) : undefined));
  const channel = store.channels.get(channelId);
  const memberIds = channel?.memberIds;
  const usernames = useMemo(
    () => new Set((memberIds ?? []).map((id) => store.people.get(id)?.username.toLowerCase()).filter((u): u is string => !!u)),
    // Names arrive after the member list; the people map only grows.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [memberIds, store.people.size],
  );
  const seenUpTo = direct ? store.seenUpTo(channelId) : undefined;
  const seenId = seenUpTo === undefined ? undefined : shown.messages.findLast((m) => m.senderId === store.me.id && m.seq <= seenUpTo)?.id;

  // Leaving the conversation: it is no longer being looked at.
  useEffect(() => () => store.setAtBottom(channelId, false), [store, channelId]);
  // The window lives while this list shows it.
  useEffect(() => store.jumps.hold(channelId), [store, channelId]);

  const first = shown.messages[0]?.id;
  const count = shown.messages.length + outbox.length;

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const p = prev.current;
    if (toBottom.current && !windowed) {
      toBottom.current = false;
      stick.current = true;
      el.scrollTop = el.scrollHeight;
      setShowJump(false);
      store.setAtBottom(channelId, true);
    } else if (p.first && first && first !== p.first && el.scrollHeight > p.height) {
      // Older messages were put above: keep what the reader was looking at in place.
      el.scrollTop = p.top + (el.scrollHeight - p.height);
    } else if (stick.current && !windowed) {
      el.scrollTop = el.scrollHeight;
      store.setAtBottom(channelId, true);
    } else if (!windowed && shown.loaded) {
      setShowJump(true);
    }
    prev.current = { first, height: el.scrollHeight, top: el.scrollTop };
  }, [first, count, windowed]);

  // The found message: scrolled to the middle once it is on screen (highlighted by its row).
  useLayoutEffect(() => {
    const el = ref.current;
    const row = el?.querySelector<HTMLElement>('.message.highlighted');
    if (!el || !win || win.scrolled || !row) return;
    win.scrolled = true;
    // Only this list scrolls (scrollIntoView would move the page around it too).
    const box = el.getBoundingClientRect();
    const at = row.getBoundingClientRect();
    el.scrollTop += at.top - box.top - Math.max(0, (el.clientHeight - at.height) / 2);
    // Found among the newest messages, with nothing below it off screen: the conversation is read.
    stick.current = !windowed && el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (stick.current) setShowJump(false);
    store.setAtBottom(channelId, stick.current);
    prev.current = { first, height: el.scrollHeight, top: el.scrollTop };
  }, [win, first, count, windowed]);

  // Own sends always bring the view down to them (out of a window, back to the live conversation).
  const ownSends = store.outboxFor(channelId).length;
  const ownBefore = useRef(ownSends);
  useLayoutEffect(() => {
    const el = ref.current;
    const sentNow = ownSends > ownBefore.current;
    ownBefore.current = ownSends;
    if (!el || ownSends === 0) return;
    if (windowed) {
      // Sends still waiting from before do not pull the reader away from the found message.
      if (!sentNow) return;
      toBottom.current = true;
      store.jumps.close();
      return;
    }
    stick.current = true;
    el.scrollTop = el.scrollHeight;
  }, [ownSends]);

  // A short history that does not fill the screen: fetch more until it does or there is none.
  const newerToLoad = windowed && win.hasNewer && !win.loadingNewer;
  useEffect(() => {
    const el = ref.current;
    if (!el || !shown.loaded || el.scrollHeight > el.clientHeight + 40) return;
    if (newerToLoad) void win!.loadNewer();
    else if (shown.hasMore && !shown.loadingOlder) void (windowed ? win!.loadOlder() : store.loadOlder(channelId));
  }, [shown.loaded, shown.hasMore, shown.loadingOlder, newerToLoad, windowed, win, count, store, channelId]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const fromEnd = el.scrollHeight - el.scrollTop - el.clientHeight;
    // A window's end is not the conversation's: reading there marks nothing read.
    stick.current = fromEnd < 80 && !windowed;
    if (stick.current) setShowJump(false);
    store.setAtBottom(channelId, stick.current);
    prev.current = { first, height: el.scrollHeight, top: el.scrollTop };
    if (windowed) {
      if (el.scrollTop < 200) void win.loadOlder();
      if (fromEnd < 200) void win.loadNewer();
    } else if (el.scrollTop < 200 && view.hasMore && !view.loadingOlder && view.loaded) void store.loadOlder(channelId);
  };

  const toNewest = () => {
    if (windowed) {
      toBottom.current = true;
      store.jumps.close();
      return;
    }
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
    stick.current = true;
    store.setAtBottom(channelId, true);
    setShowJump(false);
  };

  const rows: Row[] = [];
  let last: { senderId: string; at: number; day: string } | null = null;
  const push = (senderId: string, at: string, make: (grouped: boolean) => Row, firstUnread = false) => {
    const day = formatDay(at);
    const t = new Date(at).getTime();
    if (!last || last.day !== day) rows.push({ kind: 'day', key: `day-${day}-${rows.length}`, label: day });
    // The first unread message starts a group of its own, under the divider.
    if (firstUnread) rows.push({ kind: 'unread', key: 'unread-divider' });
    const grouped = !firstUnread && !!last && last.day === day && last.senderId === senderId && t - last.at < GROUP_MS;
    rows.push(make(grouped));
    last = { senderId, at: t, day };
  };
  let dividerShown = false;
  for (const m of shown.messages) {
    const firstUnread = !dividerShown && unreadAfter !== undefined && m.seq > unreadAfter && m.senderId !== store.me.id;
    if (firstUnread) dividerShown = true;
    push(m.senderId, m.createdAt, (grouped) => ({ kind: 'message', key: m.id, message: m, grouped }), firstUnread);
  }
  for (const e of outbox) push(store.me.id, e.createdAt, (grouped) => ({ kind: 'outbox', key: e.clientMsgId, entry: e, grouped }));

  return (
    <div className="messages-wrap">
      <div className="messages" ref={ref} onScroll={onScroll} tabIndex={0} role="region" aria-label={`Messages in ${title}`}>
        <div className="history-edge">
          {shown.loadingOlder && <span className="muted">Loading older messages…</span>}
          {shown.loaded && !shown.hasMore && (
            <div className="channel-start">
              <strong>{direct ? `This is the start of your conversation with ${title}.` : `This is the start of #${title}.`}</strong>
            </div>
          )}
        </div>
        {shown.loading && !shown.loaded && <p className="muted center">Loading messages…</p>}
        {shown.error && (
          <p className="notice error inset" role="alert">
            {shown.error}{' '}
            <button type="button" className="link-button" onClick={() => (windowed ? store.jumps.close() : void store.loadLatest(channelId))}>
              {windowed ? 'Show the latest messages' : 'Try again'}
            </button>
          </p>
        )}
        <ol className="message-list">
          {rows.map((r) =>
            r.kind === 'day' ? (
              <li key={r.key} className="day-divider" role="separator">
                <span>{r.label}</span>
              </li>
            ) : r.kind === 'unread' ? (
              <li key={r.key} className="unread-divider" role="separator" data-testid="new-messages-divider">
                <span>New messages</span>
              </li>
            ) : r.kind === 'message' ? (
              <MessageRow
                key={r.key}
                message={r.message}
                grouped={r.grouped}
                seen={r.message.id === seenId}
                usernames={usernames}
                highlighted={r.message.id === win?.target.id}
              />
            ) : (
              <OutboxRow key={r.key} entry={r.entry} grouped={r.grouped} />
            ),
          )}
        </ol>
        {windowed && win.loadingNewer && <p className="muted center history-edge">Loading newer messages…</p>}
      </div>
      {(showJump || (windowed && !win.loading)) && (
        <button type="button" className="jump-button" onClick={toNewest}>
          {win ? 'Jump to newest ↓' : 'New messages ↓'}
        </button>
      )}
    </div>
  );
}
