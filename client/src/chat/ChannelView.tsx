/** One conversation: header with presence, message history (older pages on scroll-up), typing, composer. */
import { useEffect, useId, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Message } from '../../../shared/api.js';
import { characterCount, LIMITS } from '../../../shared/codes.js';
import type { OutboxEntry } from '../realtime/client.js';
import { useStore } from '../state/use-store.js';
import { Avatar, BackButton, Icon } from '../ui/bits.js';
import { ConfirmDialog } from '../ui/ConfirmDialog.js';
import { formatDay, formatFull, formatTime } from '../ui/format.js';
import { navigate } from '../ui/router.js';
import { AddPeopleDialog } from './dialogs.js';

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
    prev.current = { first, height: el.scrollHeight, top: el.scrollTop };
    if (el.scrollTop < 200 && view.hasMore && !view.loadingOlder && view.loaded) void store.loadOlder(channelId);
  };

  const rows: Row[] = [];
  let last: { senderId: string; at: number; day: string } | null = null;
  const push = (senderId: string, at: string, make: (grouped: boolean) => Row) => {
    const day = formatDay(at);
    const t = new Date(at).getTime();
    if (!last || last.day !== day) rows.push({ kind: 'day', key: `day-${day}-${rows.length}`, label: day });
    const grouped = !!last && last.day === day && last.senderId === senderId && t - last.at < GROUP_MS;
    rows.push(make(grouped));
    last = { senderId, at: t, day };
  };
  for (const m of view.messages) push(m.senderId, m.createdAt, (grouped) => ({ kind: 'message', key: m.id, message: m, grouped }));
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
            ) : r.kind === 'message' ? (
              <MessageRow key={r.key} message={r.message} grouped={r.grouped} />
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
            setShowJump(false);
          }}
        >
          New messages ↓
        </button>
      )}
    </div>
  );
}

function MessageShell({ senderId, at, grouped, children, status, className }: { senderId: string; at: string; grouped: boolean; children: React.ReactNode; status?: React.ReactNode; className?: string }) {
  const store = useStore();
  const name = store.personName(senderId);
  const own = senderId === store.me.id;
  return (
    <li className={`message${grouped ? ' grouped' : ''}${own ? ' own' : ''}${className ? ` ${className}` : ''}`}>
      <div className="message-gutter">
        {grouped ? (
          <time className="hover-time" dateTime={at} title={formatFull(at)}>
            {formatTime(at)}
          </time>
        ) : (
          <Avatar id={senderId} name={name} size={36} />
        )}
      </div>
      <div className="message-main">
        {!grouped && (
          <div className="message-meta">
            <strong className="message-author">{name}</strong>
            <time dateTime={at} title={formatFull(at)}>
              {formatTime(at)}
            </time>
          </div>
        )}
        {grouped && <span className="sr-only">{name}: </span>}
        <div className="message-body">{children}</div>
        {status}
      </div>
    </li>
  );
}

function MessageRow({ message, grouped }: { message: Message; grouped: boolean }) {
  const store = useStore();
  const own = message.senderId === store.me.id;
  return (
    <MessageShell
      senderId={message.senderId}
      at={message.createdAt}
      grouped={grouped}
      status={
        own ? (
          <span className="message-status sent" data-status="sent" title={`Sent ${formatFull(message.createdAt)}`}>
            <Icon name="check" size={13} /> <span className="status-label">Sent</span>
          </span>
        ) : undefined
      }
    >
      {message.body}
    </MessageShell>
  );
}

function OutboxRow({ entry, grouped }: { entry: OutboxEntry; grouped: boolean }) {
  const store = useStore();
  const failed = entry.status === 'failed';
  return (
    <MessageShell
      senderId={store.me.id}
      at={entry.createdAt}
      grouped={grouped}
      className={failed ? 'failed' : 'pending'}
      status={
        failed ? (
          <span className="message-status failed" data-status="failed" role="alert">
            <Icon name="alert" size={13} /> Not sent{entry.error ? ` · ${entry.error}` : ''}
            <button type="button" className="link-button" onClick={() => store.retry(entry.clientMsgId)}>
              Retry
            </button>
            <button type="button" className="link-button subtle" onClick={() => store.discard(entry.clientMsgId)}>
              Discard
            </button>
          </span>
        ) : (
          <span className="message-status pending" data-status="pending">
            <Icon name="clock" size={13} /> Sending…
          </span>
        )
      }
    >
      {entry.body}
    </MessageShell>
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

  const send = () => {
    const body = text.trim();
    if (!body || tooLong) return;
    store.send(channelId, body);
    setText('');
    ref.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
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
        onChange={(e) => {
          setText(e.target.value);
          store.setDraft(channelId, e.target.value);
          if (e.target.value) store.typingNow(channelId);
        }}
        onKeyDown={onKeyDown}
      />
      <button type="submit" className="send-button" disabled={!text.trim() || tooLong} aria-label="Send message">
        <Icon name="send" />
      </button>
      <p id={hintId} className={`composer-hint${tooLong ? ' error' : ''}`}>
        {tooLong ? `${length - LIMITS.messageBodyMax} characters over the limit of ${LIMITS.messageBodyMax}` : 'Enter to send · Shift+Enter for a new line'}
      </p>
    </form>
  );
}
