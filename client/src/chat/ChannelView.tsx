/** One conversation: header with presence, message history (older pages on scroll-up), typing, composer. */
import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { Message } from '../../../shared/api.js';
import { characterCount, LIMITS } from '../../../shared/codes.js';
import type { OutboxEntry } from '../realtime/client.js';
import { useStore } from '../state/use-store.js';
import { Avatar, BackButton, Icon } from '../ui/bits.js';
import { ConfirmDialog } from '../ui/ConfirmDialog.js';
import { formatDay } from '../ui/format.js';
import { navigate } from '../ui/router.js';
import { AddPeopleDialog } from './dialogs.js';
import { insertMention, mentionAt } from './mention-query.js';
import { MessageRow, OutboxRow } from './MessageRow.js';

const GROUP_MS = 5 * 60_000;

export function ChannelView({ channelId }: { channelId: string }) {
  const store = useStore();
  const channel = store.channels.get(channelId)!;
  const title = store.channelTitle(channel);
  const partner = store.directPartner(channel);
  const partnerStatus = partner ? store.presenceOf(partner) : undefined;
  const online = channel.memberIds.filter((id) => store.presenceOf(id) === 'online').length;
  const [dialog, setDialog] = useState<'add' | 'leave' | null>(null);
  const canAdd = channel.kind !== 'direct' && store.isMember(channel);

  const leave = async () => {
    await store.leave(channelId);
    navigate({ name: 'home' });
  };

  return (
    <section className="channel" aria-labelledby="channel-title">
      <header className="channel-header">
        <BackButton />
        {partner ? (
          <Avatar id={partner} name={title} size={34} status={partnerStatus} />
        ) : (
          <span className="channel-icon">
            <Icon name={channel.kind === 'private' ? 'lock' : 'hash'} />
          </span>
        )}
        <div className="channel-heading">
          <h1 id="channel-title">{title}</h1>
          <p className="muted">
            {partner ? (
              <span data-testid="partner-presence">{!partnerStatus ? 'Waiting for the connection…' : partnerStatus === 'online' ? 'Online' : 'Offline'}</span>
            ) : (
              <>
                {channel.kind === 'private' ? 'Private' : 'Public'} · {channel.memberIds.length} member{channel.memberIds.length === 1 ? '' : 's'}
                {store.status.state === 'live' && ` · ${online} online`}
              </>
            )}
          </p>
        </div>
        {!partner && (
          <div className="member-stack" aria-label="Members">
            {channel.memberIds.slice(0, 4).map((id) => (
              <span key={id} title={store.presenceOf(id) ? `${store.personName(id)} (${store.presenceOf(id)})` : store.personName(id)}>
                <Avatar id={id} name={store.personName(id)} size={26} status={store.presenceOf(id)} />
              </span>
            ))}
          </div>
        )}
        <button
          type="button"
          className="icon-button small"
          aria-pressed={!!channel.muted}
          aria-label={channel.muted ? 'Unmute notifications' : 'Mute notifications'}
          title={channel.muted ? 'Muted: no notifications. Click to unmute' : 'Mute notifications'}
          onClick={() => void store.setMuted(channelId, !channel.muted)}
        >
          <Icon name={channel.muted ? 'bellOff' : 'bell'} size={16} />
        </button>
        {canAdd && (
          <button type="button" className="button small" onClick={() => setDialog('add')} aria-label="Add people" title="Add people">
            <Icon name="plus" size={14} /> <span className="wide-only">Add people</span>
          </button>
        )}
        {channel.kind !== 'direct' && (
          <button type="button" className="button small subtle" onClick={() => setDialog('leave')}>
            Leave
          </button>
        )}
      </header>
      {dialog === 'add' && canAdd && <AddPeopleDialog channelId={channelId} onClose={() => setDialog(null)} />}
      {dialog === 'leave' && (
        <ConfirmDialog title={`Leave ${channel.kind === 'private' ? '' : '#'}${channel.name}?`} confirmLabel="Leave channel" busyLabel="Leaving…" danger onConfirm={leave} onCancel={() => setDialog(null)}>
          <p>
            {channel.kind === 'private'
              ? 'It is private: to come back, someone in it has to add you again.'
              : 'You will stop getting its messages. You can join it again from Browse channels.'}
          </p>
        </ConfirmDialog>
      )}
      <MessageList channelId={channelId} title={title} direct={!!partner} />
      <TypingIndicator channelId={channelId} />
      <Composer channelId={channelId} label={partner ? `Message ${title}` : `Message #${title}`} />
      <div className="sr-only" aria-live="polite" aria-atomic="true">
        {store.announcement}
      </div>
    </section>
  );
}

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'message'; key: string; message: Message; grouped: boolean }
  | { kind: 'outbox'; key: string; entry: OutboxEntry; grouped: boolean };

function MessageList({ channelId, title, direct }: { channelId: string; title: string; direct: boolean }) {
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

function TypingIndicator({ channelId }: { channelId: string }) {
  const store = useStore();
  const names = store.typingIn(channelId).map((id) => store.personName(id));
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing`;
  else if (names.length > 2) text = 'Several people are typing';
  return (
    <div className="typing" data-testid="typing">
      {text && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {text}…
        </>
      )}
    </div>
  );
}

function Composer({ channelId, label }: { channelId: string; label: string }) {
  const store = useStore();
  // The draft of this channel, kept by the store across channel switches and reloads.
  const [text, setText] = useState(() => store.draft(channelId));
  const ref = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const hintId = useId();
  const length = characterCount(text);
  const tooLong = length > LIMITS.messageBodyMax;

  useEffect(() => {
    if (window.matchMedia('(min-width: 760px)').matches) ref.current?.focus();
  }, [channelId]);

  // After a reload the saved drafts arrive after the first render.
  const { draftsLoaded } = store;
  useEffect(() => {
    if (draftsLoaded) setText((t) => t || store.draft(channelId));
  }, [draftsLoaded, store, channelId]);

  // Leaving the channel writes its draft now rather than after the pause.
  useEffect(() => () => store.flushDrafts(channelId), [store, channelId]);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  // The member autocomplete for the `@name` being typed at the caret.
  const [caret, setCaret] = useState(0);
  const [pick, setPick] = useState(0);
  const [closedAt, setClosedAt] = useState<number | null>(null);
  const at = mentionAt(text, caret);
  const memberIds = store.channels.get(channelId)?.memberIds ?? [];
  const candidates =
    at && at.start !== closedAt
      ? memberIds
          .filter((uid) => uid !== store.me.id)
          .map((uid) => store.people.get(uid))
          .filter((p): p is NonNullable<typeof p> => !!p && (p.username.toLowerCase().startsWith(at.query) || p.displayName.toLowerCase().startsWith(at.query)))
          .slice(0, 8)
      : [];
  const choose = (username: string) => {
    if (!at) return;
    const next = insertMention(text, at.start, caret, username);
    setText(next.text);
    store.setDraft(channelId, next.text);
    setCaret(next.caret);
    requestAnimationFrame(() => ref.current?.setSelectionRange(next.caret, next.caret));
  };

  const send = () => {
    const body = text.trim();
    if (!body || tooLong) return;
    store.send(channelId, body);
    setText('');
    ref.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (candidates.length > 0 && at) {
      const n = candidates.length;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setPick((p) => (p + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
        return;
      }
      if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) {
        e.preventDefault();
        choose(candidates[Math.min(pick, n - 1)].username);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setClosedAt(at.start);
        return;
      }
    }
    // As in Slack: Up in an empty composer edits our last message.
    if (e.key === 'ArrowUp' && !text && !e.shiftKey && !e.altKey && !e.metaKey && !e.ctrlKey) {
      const mine = store.lastOwnMessage(channelId);
      if (mine) {
        e.preventDefault();
        store.setEditing(mine.id);
      }
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <textarea
        id={id}
        ref={ref}
        rows={1}
        value={text}
        placeholder={label}
        aria-describedby={hintId}
        aria-invalid={tooLong}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        aria-autocomplete="list"
        aria-controls={`${id}-mentions`}
        onChange={(e) => {
          setCaret(e.target.selectionStart);
          setPick(0);
          setText(e.target.value);
          store.setDraft(channelId, e.target.value);
          if (e.target.value) store.typingNow(channelId);
        }}
        onKeyDown={onKeyDown}
      />
      {candidates.length > 0 && (
        <ul className="mention-list" role="listbox" id={`${id}-mentions`} aria-label="People to mention">
          {candidates.map((p, i) => (
            <li
              key={p.id}
              role="option"
              aria-selected={i === Math.min(pick, candidates.length - 1)}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(p.username);
              }}
            >
              <strong>{p.displayName || p.username}</strong> <span className="muted">@{p.username}</span>
            </li>
          ))}
        </ul>
      )}
      <button type="submit" className="send-button" disabled={!text.trim() || tooLong} aria-label="Send message">
        <Icon name="send" />
      </button>
      <p id={hintId} className={`composer-hint${tooLong ? ' error' : ''}`}>
        {tooLong ? `${length - LIMITS.messageBodyMax} characters over the limit of ${LIMITS.messageBodyMax}` : 'Enter to send · Shift+Enter for a new line'}
      </p>
    </form>
  );
}
