/** New channel, new direct message, and browse public channels. */
import { useEffect, useId, useState, type FormEvent } from 'react';
import type { UserSummary } from '../../../shared/api.js';
import { LIMITS } from '../../../shared/codes.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import { useStore } from '../state/use-store.js';
import { Avatar, Icon, Modal } from '../ui/bits.js';
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

export function NewDirectDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const [q, setQ] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { users, error: searchError } = usePeopleSearch(q);
  const searchId = useId();

  const open = async (userId: string) => {
    setBusy(true);
    try {
      const c = await store.openDirect(userId);
      onClose();
      navigate({ name: 'channel', id: c.id });
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Modal title="New direct message" onClose={onClose}>
      <div className="field search-field">
        <label htmlFor={searchId} className="sr-only">
          Search people
        </label>
        <Icon name="search" size={16} />
        <input id={searchId} type="search" placeholder="Search by name or username" value={q} onChange={(e) => setQ(e.target.value)} autoFocus />
      </div>
      {(error || searchError) && (
        <p className="notice error" role="alert">
          {error || searchError}
        </p>
      )}
      <ul className="people-list" aria-label="People" aria-busy={busy || users === null}>
        {users?.map((u) => (
          <PersonRow key={u.id} u={u} onPick={() => void open(u.id)} action="Message" />
        ))}
        {users && users.length === 0 && <li className="muted list-empty">Nobody matches “{q}”.</li>}
        {users === null && <li className="muted list-empty">Searching…</li>}
      </ul>
    </Modal>
  );
}

export function NewChannelDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'public' | 'private'>('public');
  const [members, setMembers] = useState<Set<string>>(new Set());
  const [q, setQ] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { users } = usePeopleSearch(q);
  const ids = { name: useId(), search: useId() };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError('Give the channel a name.');
    setBusy(true);
    setError(null);
    try {
      const c = await store.createChannel(name.trim(), kind, kind === 'private' ? [...members] : []);
      onClose();
      navigate({ name: 'channel', id: c.id });
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  const toggle = (id: string) =>
    setMembers((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  return (
    <Modal title="New channel" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <div className="field">
          <label htmlFor={ids.name}>Name</label>
          <input id={ids.name} value={name} maxLength={LIMITS.channelNameMax} onChange={(e) => setName(e.target.value)} placeholder="e.g. design-review" autoFocus />
        </div>
        <fieldset className="field">
          <legend>Who can find it</legend>
          <div className="radio-cards">
            <label className={`radio-card${kind === 'public' ? ' checked' : ''}`}>
              <input type="radio" name="kind" value="public" checked={kind === 'public'} onChange={() => setKind('public')} />
              <Icon name="hash" size={18} />
              <span>
                <strong>Public</strong>
                <span className="muted">Anyone can browse and join</span>
              </span>
            </label>
            <label className={`radio-card${kind === 'private' ? ' checked' : ''}`}>
              <input type="radio" name="kind" value="private" checked={kind === 'private'} onChange={() => setKind('private')} />
              <Icon name="lock" size={18} />
              <span>
                <strong>Private</strong>
                <span className="muted">Only the people you add</span>
              </span>
            </label>
          </div>
        </fieldset>
        {kind === 'private' && (
          <div className="field">
            <label htmlFor={ids.search}>Add people {members.size > 0 && <span className="muted">({members.size} selected)</span>}</label>
            <input id={ids.search} type="search" placeholder="Search by name or username" value={q} onChange={(e) => setQ(e.target.value)} />
            <ul className="people-list compact" aria-label="People to add">
              {users?.map((u) => (
                <PersonRow key={u.id} u={u} selected={members.has(u.id)} onPick={() => toggle(u.id)} action={members.has(u.id) ? 'Remove' : 'Add'} />
              ))}
            </ul>
          </div>
        )}
        {error && (
          <p className="notice error" role="alert">
            {error}
          </p>
        )}
        <div className="modal-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create channel'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function BrowseChannelsDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const [q, setQ] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const searchId = useId();
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

  const join = async (id: string) => {
    setBusy(id);
    setError(null);
    try {
      if (!store.isMember(store.channels.get(id)!)) await store.join(id);
      onClose();
      navigate({ name: 'channel', id });
    } catch (err) {
      setError(describeError(err));
      setBusy(null);
    }
  };

  return (
    <Modal title="Browse public channels" onClose={onClose}>
      <div className="field search-field">
        <label htmlFor={searchId} className="sr-only">
          Filter channels
        </label>
        <Icon name="search" size={16} />
        <input id={searchId} type="search" placeholder="Filter channels" value={q} onChange={(e) => setQ(e.target.value)} autoFocus />
      </div>
      {error && (
        <p className="notice error" role="alert">
          {error}
        </p>
      )}
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
