/** New channel, new direct message, browse public channels, and add people to a channel. */
import { useEffect, useId, useState, type FormEvent } from 'react';
import type { UserSummary } from '../../../shared/api.js';
import { LIMITS } from '../../../shared/codes.js';
import { api } from '../api/endpoints.js';
import { ApiError, describeError } from '../api/http.js';
import { useStore } from '../state/use-store.js';
import { Avatar, ErrorNotice, Icon, Modal } from '../ui/bits.js';
import { navigate } from '../ui/router.js';

/** People matching a search box, from GET /api/users?q= (debounced). */
function usePeopleSearch(q: string) {
  const store = useStore();
  const [users, setUsers] = useState<UserSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const t = setTimeout(() => {
      api.users(q.trim() || undefined).then(
        (list) => {
          if (!live) return;
          setUsers(list.filter((u) => u.id !== store.me.id));
          setError(null);
          store.rememberPeople(list);
        },
        (err) => live && setError(describeError(err)),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [q, store]);
  return { users, error };
}

function PersonRow({ u, selected, onPick, action }: { u: UserSummary; selected?: boolean; onPick: () => void; action: string }) {
  const store = useStore();
  const status = store.presence.get(u.id) ?? (u.online ? 'online' : 'offline');
  return (
    <li>
      <button type="button" className={`person-row${selected ? ' selected' : ''}`} onClick={onPick} aria-pressed={selected} aria-label={`${action} ${u.displayName} (@${u.username}), ${status}`}>
        <Avatar id={u.id} name={u.displayName || u.username} size={32} status={status} />
        <span className="person-text">
          <strong>{u.displayName}</strong>
          <span className="muted">@{u.username}</span>
        </span>
        {selected !== undefined && <span className="checkbox" aria-hidden="true">{selected && <Icon name="check" size={14} />}</span>}
      </button>
    </li>
  );
}

/** The search box at the top of a dialog: the focus starts in it. */
function SearchField({ label, placeholder, value, onChange }: { label: string; placeholder: string; value: string; onChange: (value: string) => void }) {
  const id = useId();
  return (
    <div className="field search-field">
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <Icon name="search" size={16} />
      <input id={id} type="search" placeholder={placeholder} value={value} onChange={(e) => onChange(e.target.value)} data-autofocus />
    </div>
  );
}

/** Cancel and submit at the foot of a dialog's form; the submit button says when it is working. */
function FormActions({ onCancel, busy, label, busyLabel }: { onCancel: () => void; busy: boolean; label: string; busyLabel: string }) {
  return (
    <div className="modal-actions">
      <button type="button" className="button" onClick={onCancel}>
        Cancel
      </button>
      <button type="submit" className="button primary" disabled={busy}>
        {busy ? busyLabel : label}
      </button>
    </div>
  );
}

/**
 * A search box over the directory and a list of people to tick, for choosing who joins a
 * channel. `exclude` hides people who are in it already.
 */
function PeoplePicker({ selected, onToggle, exclude, autoFocus }: { selected: Set<string>; onToggle: (id: string) => void; exclude?: readonly string[]; autoFocus?: boolean }) {
  const [q, setQ] = useState('');
  const { users, error } = usePeopleSearch(q);
  const id = useId();
  const shown = exclude ? users?.filter((u) => !exclude.includes(u.id)) : users;
  return (
    <div className="field">
      <label htmlFor={id}>Add people {selected.size > 0 && <span className="muted">({selected.size} selected)</span>}</label>
      <input id={id} type="search" placeholder="Search by name or username" value={q} onChange={(e) => setQ(e.target.value)} data-autofocus={autoFocus || undefined} />
      <ErrorNotice message={error} />
      <ul className="people-list compact" aria-label="People to add" aria-busy={users === null}>
        {shown?.map((u) => (
          <PersonRow key={u.id} u={u} selected={selected.has(u.id)} onPick={() => onToggle(u.id)} action={selected.has(u.id) ? 'Remove' : 'Add'} />
        ))}
        {shown && shown.length === 0 && <li className="muted list-empty">{q.trim() ? `Nobody to add matches “${q}”.` : 'Nobody else to add.'}</li>}
      </ul>
    </div>
  );
}

/** A set of ids with one id flipped in or out. */
function toggled(s: Set<string>, id: string): Set<string> {
  const n = new Set(s);
  if (n.has(id)) n.delete(id);
  else n.add(id);
  return n;
}

/**
 * The end of every dialog here that takes you somewhere: run the step that yields a channel id,
 * then close the dialog and open that channel; on failure say why and stop being busy. `busy`
 * is the key of the step running (a channel id, or any word), null when idle.
 */
function useOpenChannel(onClose: () => void) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (key: string, step: () => Promise<string>) => {
    setBusy(key);
    setError(null);
    try {
      const id = await step();
      onClose();
      navigate({ name: 'channel', id });
    } catch (err) {
      setError(describeError(err));
      setBusy(null);
    }
  };
  return { busy, error, setError, run };
}

export function NewDirectDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const [q, setQ] = useState('');
  const { busy, error, run } = useOpenChannel(onClose);
  const { users, error: searchError } = usePeopleSearch(q);

  const open = (userId: string) => run(userId, async () => (await store.openDirect(userId)).id);

  return (
    <Modal title="New direct message" onClose={onClose}>
      <SearchField label="Search people" placeholder="Search by name or username" value={q} onChange={setQ} />
      <ErrorNotice message={error || searchError} />
      <ul className="people-list" aria-label="People" aria-busy={busy !== null || users === null}>
        {users?.map((u) => (
          <PersonRow key={u.id} u={u} onPick={() => void open(u.id)} action="Message" />
        ))}
        {users && users.length === 0 && <li className="muted list-empty">Nobody matches “{q}”.</li>}
        {users === null && <li className="muted list-empty">Searching…</li>}
      </ul>
    </Modal>
  );
}

const KINDS = [
  { kind: 'public', icon: 'hash', label: 'Public', hint: 'Anyone can browse and join' },
  { kind: 'private', icon: 'lock', label: 'Private', hint: 'Only the people you add' },
] as const;

export function NewChannelDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'public' | 'private'>('public');
  const [members, setMembers] = useState<Set<string>>(new Set());
  const { busy, error, setError, run } = useOpenChannel(onClose);
  const nameId = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError('Give the channel a name.');
    await run('create', async () => (await store.createChannel(name.trim(), kind, kind === 'private' ? [...members] : [])).id);
  };

  return (
    <Modal title="New channel" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <div className="field">
          <label htmlFor={nameId}>Name</label>
          <input id={nameId} value={name} maxLength={LIMITS.channelNameMax} onChange={(e) => setName(e.target.value)} placeholder="e.g. design-review" data-autofocus />
        </div>
        <fieldset className="field">
          <legend>Who can find it</legend>
          <div className="radio-cards">
            {KINDS.map((k) => (
              <label key={k.kind} className={`radio-card${kind === k.kind ? ' checked' : ''}`}>
                <input type="radio" name="kind" value={k.kind} checked={kind === k.kind} onChange={() => setKind(k.kind)} />
                <Icon name={k.icon} size={18} />
                <span>
                  <strong>{k.label}</strong>
                  <span className="muted">{k.hint}</span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        {kind === 'private' && <PeoplePicker selected={members} onToggle={(id) => setMembers((s) => toggled(s, id))} />}
        <ErrorNotice message={error} />
        <FormActions onCancel={onClose} busy={busy !== null} label="Create channel" busyLabel="Creating…" />
      </form>
    </Modal>
  );
}

export function BrowseChannelsDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const [q, setQ] = useState('');
  const { busy, error, setError, run } = useOpenChannel(onClose);
  const [refreshed, setRefreshed] = useState(false);
  useEffect(() => {
    store.refreshChannels().then(
      () => setRefreshed(true),
      (err) => {
        setError(describeError(err));
        setRefreshed(true);
      },
    );
  }, [store]);
  const all = [...store.channels.values()]
    .filter((c) => c.kind === 'public' && c.name.toLowerCase().includes(q.trim().toLowerCase()))
    .sort((a, b) => a.name.localeCompare(b.name));

  const join = (id: string) =>
    run(id, async () => {
      if (!store.isMember(store.channels.get(id)!)) await store.join(id);
      return id;
    });

  return (
    <Modal title="Browse public channels" onClose={onClose}>
      <SearchField label="Filter channels" placeholder="Filter channels" value={q} onChange={setQ} />
      <ErrorNotice message={error} />
      <ul className="channel-browse" aria-label="Public channels" aria-busy={!refreshed}>
        {all.map((c) => {
          const member = store.isMember(c);
          return (
            <li key={c.id}>
              <span className="nav-icon">
                <Icon name="hash" size={16} />
              </span>
              <span className="person-text">
                <strong>{c.name}</strong>
                <span className="muted">
                  {c.memberIds.length} member{c.memberIds.length === 1 ? '' : 's'}
                </span>
              </span>
              <button
                type="button"
                className={`button small${member ? '' : ' primary'}`}
                disabled={busy === c.id}
                onClick={() => void join(c.id)}
                aria-label={`${member ? 'Open' : 'Join'} ${c.name}`}
              >
                {member ? 'Open' : busy === c.id ? 'Joining…' : 'Join'}
              </button>
            </li>
          );
        })}
        {all.length === 0 && !refreshed && <li className="muted list-empty">Loading channels…</li>}
        {all.length === 0 && refreshed && <li className="muted list-empty">{q ? `No public channel matches “${q}”.` : 'No public channels yet. Create the first one.'}</li>}
      </ul>
    </Modal>
  );
}

/** Why one person could not be added, in words (403: we may not add to this channel; 404: it or they are gone). */
function addFailure(name: string, err: unknown): string {
  if (err instanceof ApiError && err.status === 403) return `You cannot add ${name}: ${describeError(err).replace(/\.?$/, '.')}`;
  if (err instanceof ApiError && err.status === 404)
    return `Could not add ${name}: ${/channel/i.test(err.message) ? 'this channel no longer exists.' : 'that account no longer exists.'}`;
  return `Could not add ${name}: ${describeError(err)}`;
}

/**
 * Add people to a public or private channel we belong to: POST /api/channels/:id/members for
 * each person picked, one after another. Each answer's member list updates the channel at once;
 * whoever could not be added stays picked, with the reason shown.
 */
export function AddPeopleDialog({ channelId, onClose }: { channelId: string; onClose: () => void }) {
  const store = useStore();
  const channel = store.channels.get(channelId);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (picked.size === 0) return setError('Pick at least one person to add.');
    setBusy(true);
    setError(null);
    const left = new Set(picked);
    const failures: string[] = [];
    for (const userId of picked) {
      try {
        await store.addMember(channelId, userId);
        left.delete(userId);
      } catch (err) {
        failures.push(addFailure(store.personName(userId), err));
        // Refused for the channel itself (we are no longer a member): the rest would fail alike.
        if (err instanceof ApiError && err.status === 403) break;
      }
    }
    if (failures.length === 0) return onClose();
    setPicked(left);
    setError(failures.join(' '));
    setBusy(false);
  };

  const n = picked.size;
  return (
    <Modal title={`Add people to ${channel?.kind === 'private' ? '' : '#'}${channel?.name ?? 'this channel'}`} onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <PeoplePicker selected={picked} onToggle={(id) => setPicked((s) => toggled(s, id))} exclude={channel?.memberIds ?? []} autoFocus />
        <ErrorNotice message={error} />
        <FormActions onCancel={onClose} busy={busy} label={n > 1 ? `Add ${n} people` : 'Add'} busyLabel="Adding…" />
      </form>
    </Modal>
  );
}
