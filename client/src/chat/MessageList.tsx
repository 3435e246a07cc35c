/** A conversation's history: day dividers, grouping, the New messages divider, older pages on scroll-up. */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { Message } from '../../../shared/api.js';
import type { OutboxEntry } from '../realtime/client.js';
import { useStore } from '../state/use-store.js';
import { formatDay } from '../ui/format.js';
import { MessageRow, OutboxRow } from './MessageRow.js';

const GROUP_MS = 5 * 60_000;

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'message'; key: string; message: Message; grouped: boolean }
  | { kind: 'outbox'; key: string; entry: OutboxEntry; grouped: boolean };

export function MessageList({ channelId, title, direct }: { channelId: string; title: string; direct: boolean }) {
  const store = useStore();
  const view = store.view(channelId);
  const outbox = store.outboxFor(channelId);
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
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
  const seenId = seenUpTo === undefined ? undefined : view.messages.findLast((m) => m.senderId === store.me.id && m.seq <= seenUpTo)?.id;

  // Leaving the conversation: it is no longer being looked at.
  useEffect(() => () => store.setAtBottom(channelId, false), [store, channelId]);

  const first = view.messages[0]?.id;
  const count = view.messages.length + outbox.length;

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const p = prev.current;
    if (p.first && first && first !== p.first && el.scrollHeight > p.height) {
      // Older messages were put above: keep what the reader was looking at in place.
      el.scrollTop = p.top + (el.scrollHeight - p.height);
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
      store.setAtBottom(channelId, true);
    } else {
      setShowJump(true);
    }
    prev.current = { first, height: el.scrollHeight, top: el.scrollTop };
  }, [first, count]);

  // Own sends always bring the view down to them.
  const outboxLen = outbox.length;
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && outboxLen > 0) {
      stick.current = true;
      el.scrollTop = el.scrollHeight;
    }
  }, [outboxLen]);

  // A short history that does not fill the screen: fetch more until it does or there is none.
  useEffect(() => {
    const el = ref.current;
    if (el && view.loaded && view.hasMore && !view.loadingOlder && el.scrollHeight <= el.clientHeight + 40) void store.loadOlder(channelId);
  }, [view.loaded, view.hasMore, view.loadingOlder, count, store, channelId]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (stick.current) setShowJump(false);
    store.setAtBottom(channelId, stick.current);
    prev.current = { first, height: el.scrollHeight, top: el.scrollTop };
    if (el.scrollTop < 200 && view.hasMore && !view.loadingOlder && view.loaded) void store.loadOlder(channelId);
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
  for (const m of view.messages) {
    const firstUnread = !dividerShown && unreadAfter !== undefined && m.seq > unreadAfter && m.senderId !== store.me.id;
    if (firstUnread) dividerShown = true;
    push(m.senderId, m.createdAt, (grouped) => ({ kind: 'message', key: m.id, message: m, grouped }), firstUnread);
  }
  for (const e of outbox) push(store.me.id, e.createdAt, (grouped) => ({ kind: 'outbox', key: e.clientMsgId, entry: e, grouped }));

  return (
    <div className="messages-wrap">
      <div className="messages" ref={ref} onScroll={onScroll} tabIndex={0} role="region" aria-label={`Messages in ${title}`}>
        <div className="history-edge">
          {view.loadingOlder && <span className="muted">Loading older messages…</span>}
          {view.loaded && !view.hasMore && (
            <div className="channel-start">
              <strong>{direct ? `This is the start of your conversation with ${title}.` : `This is the start of #${title}.`}</strong>
            </div>
          )}
        </div>
        {view.loading && !view.loaded && <p className="muted center">Loading messages…</p>}
        {view.error && (
          <p className="notice error inset" role="alert">
            {view.error}{' '}
            <button type="button" className="link-button" onClick={() => void store.loadLatest(channelId)}>
              Try again
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
              <MessageRow key={r.key} message={r.message} grouped={r.grouped} seen={r.message.id === seenId} usernames={usernames} />
            ) : (
              <OutboxRow key={r.key} entry={r.entry} grouped={r.grouped} />
            ),
          )}
        </ol>
      </div>
      {showJump && (
        <button
          type="button"
          className="jump-button"
          onClick={() => {
            const el = ref.current;
            if (el) el.scrollTop = el.scrollHeight;
            stick.current = true;
            store.setAtBottom(channelId, true);
            setShowJump(false);
          }}
        >
          New messages ↓
        </button>
      )}
    </div>
  );
}
