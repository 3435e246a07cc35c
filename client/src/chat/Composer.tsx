/** Who is typing, and the composer: drafts, @mention autocomplete, Enter to send, Up to edit. */
import { useEffect, useId, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import { characterCount, LIMITS } from '../../../shared/codes.js';
import { useStore } from '../state/use-store.js';
import { Icon } from '../ui/bits.js';
import { insertMention, mentionAt } from './mention-query.js';

export function TypingIndicator({ channelId }: { channelId: string }) {
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

export function Composer({ channelId, label }: { channelId: string; label: string }) {
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
