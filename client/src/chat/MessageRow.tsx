/**
 * One message in a conversation: the shell (avatar, author, time), its Markdown body or its
 * tombstone, the "edited" label, the hover actions (edit and delete our own; an admin deletes
 * anyone's), editing in place, and the delivery status (sent, Seen in a direct channel).
 * Also the row of a send still in the outbox.
 */
import { useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { Message } from '../../../shared/api.js';
import { characterCount, LIMITS } from '../../../shared/codes.js';
import type { OutboxEntry } from '../realtime/client.js';
import { useStore } from '../state/use-store.js';
import { Avatar, Icon } from '../ui/bits.js';
import { ConfirmDialog } from '../ui/ConfirmDialog.js';
import { formatFull, formatTime } from '../ui/format.js';
import { MessageBody } from './MessageBody.js';

function MessageShell({
  senderId,
  at,
  grouped,
  children,
  status,
  className,
  actions,
}: {
  senderId: string;
  at: string;
  grouped: boolean;
  children: ReactNode;
  status?: ReactNode;
  className?: string;
  actions?: ReactNode;
}) {
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
        {children}
        {status}
      </div>
      {actions}
    </li>
  );
}

export function MessageRow({
  message,
  grouped,
  seen,
  usernames,
  highlighted,
}: {
  message: Message;
  grouped: boolean;
  seen: boolean;
  usernames: ReadonlySet<string>;
  /** The message a search result opened the conversation at. */
  highlighted?: boolean;
}) {
  const store = useStore();
  const own = message.senderId === store.me.id;
  const deleted = !!message.deletedAt;
  const editing = store.editing === message.id && own && !deleted;
  const [confirming, setConfirming] = useState(false);
  const canEdit = own && !deleted;
  const canDelete = !deleted && (own || store.me.role === 'admin');
  const mentionsMe = !deleted && message.mentions.includes(store.me.id);

  return (
    <MessageShell
      senderId={message.senderId}
      at={message.createdAt}
      grouped={grouped}
      className={`${deleted ? 'deleted' : ''}${mentionsMe ? ' mentions-me' : ''}${highlighted ? ' highlighted' : ''}`}
      actions={
        (canEdit || canDelete) &&
        !editing && (
          <div className="message-actions" role="group" aria-label="Message actions">
            {canEdit && (
              <button type="button" className="icon-button small" aria-label="Edit message" title="Edit" onClick={() => store.setEditing(message.id)}>
                <Icon name="edit" size={14} />
              </button>
            )}
            {canDelete && (
              <button type="button" className="icon-button small" aria-label="Delete message" title="Delete" onClick={() => setConfirming(true)}>
                <Icon name="trash" size={14} />
              </button>
            )}
          </div>
        )
      }
      status={
        deleted ? undefined : seen ? (
          <span className="message-status seen" data-status="seen" title="Seen">
            <Icon name="check" size={13} /> <span className="status-label">Seen</span>
          </span>
        ) : own ? (
          <span className="message-status sent" data-status="sent" title={`Sent ${formatFull(message.createdAt)}`}>
            <Icon name="check" size={13} /> <span className="status-label">Sent</span>
          </span>
        ) : undefined
      }
    >
      {deleted ? (
        <div className="message-body tombstone">
          <em>message deleted</em>
        </div>
      ) : editing ? (
        <EditBox message={message} />
      ) : (
        <>
          <div className="message-body md">
            <MessageBody body={message.body} usernames={usernames} me={store.me.username.toLowerCase()} />
          </div>
          {message.editedAt && (
            <span className="edited-label" title={`Edited ${formatFull(message.editedAt)}`}>
              (edited)
            </span>
          )}
        </>
      )}
      {confirming && (
        <ConfirmDialog
          title="Delete this message?"
          confirmLabel="Delete"
          busyLabel="Deleting…"
          danger
          onConfirm={async () => {
            await store.deleteMessage(message.channelId, message.id);
            setConfirming(false);
          }}
          onCancel={() => setConfirming(false)}
        >
          <p>{own ? 'It will show as “message deleted” for everyone.' : 'You are deleting someone else’s message as an admin; this is recorded in the audit log.'}</p>
        </ConfirmDialog>
      )}
    </MessageShell>
  );
}

/** Editing in place: Enter saves, Escape cancels, Shift+Enter is a new line. */
function EditBox({ message }: { message: Message }) {
  const store = useStore();
  const [text, setText] = useState(message.body);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);
  const tooLong = characterCount(text) > LIMITS.messageBodyMax;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
  }, [text]);

  const save = async () => {
    const body = text.trim();
    if (!body || tooLong) return;
    if (body === message.body) return store.setEditing(null);
    setBusy(true);
    setError(null);
    try {
      await store.edit(message.channelId, message.id, body);
      store.setEditing(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : 'Not saved');
      setBusy(false);
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      store.setEditing(null);
    } else if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void save();
    }
  };
  return (
    <form
      className="edit-box"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <textarea ref={ref} aria-label="Edit message" value={text} rows={1} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} disabled={busy} />
      <div className="edit-actions">
        <span className="muted">Escape to cancel · Enter to save</span>
        <button type="button" className="button small subtle" onClick={() => store.setEditing(null)}>
          Cancel
        </button>
        <button type="submit" className="button small primary" disabled={busy || !text.trim() || tooLong}>
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
      {error && (
        <p className="notice error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

export function OutboxRow({ entry, grouped }: { entry: OutboxEntry; grouped: boolean }) {
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
      <div className="message-body">{entry.body}</div>
    </MessageShell>
  );
}
