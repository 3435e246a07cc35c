/**
 * Admin, Users tab: every user (online, role, disabled), each one's devices on demand, and the
 * actions on them. Every consequential action asks first, in the app's own dialog. The table
 * never widens the page: its columns are fixed, long text (a user agent) wraps inside its cell,
 * and on a narrow screen each row becomes a card.
 */
import { Fragment, useCallback, useRef, useState } from 'react';
import type { AdminUser, Device } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { ApiError, describeError } from '../api/http.js';
import { DeviceCard } from '../devices/DeviceCard.js';
import { SignedOutDevices } from '../devices/SignedOutDevices.js';
import { useStore } from '../state/use-store.js';
import { Avatar, ErrorNotice } from '../ui/bits.js';
import { formatAgo, formatFull } from '../ui/format.js';
import { useConfirm, type Question } from '../ui/use-confirm.js';
import { useAdminUsers } from './use-admin-users.js';

/** POST /api/admin/users/:id/role refuses (400) to take an administrator's own role away. */
function roleError(err: unknown): unknown {
  if (err instanceof ApiError && err.status === 400 && err.code === 'invalid_request')
    return new ApiError(400, err.code, 'You cannot make yourself a member. Another administrator has to change your role.');
  return err;
}

export function UsersPanel() {
  const store = useStore();
  const { users, error: loadError, reload } = useAdminUsers();
  const [open, setOpen] = useState<string | null>(null);
  const [devices, setDevices] = useState<Record<string, Device[]>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [dialog, ask] = useConfirm();
  const table = useRef<HTMLDivElement>(null);

  const loadDevices = useCallback(async (userId: string) => {
    try {
      const d = await api.admin.devices(userId);
      setDevices((all) => ({ ...all, [userId]: d }));
    } catch (err) {
      setError(describeError(err));
    }
  }, []);

  const toggle = (userId: string) => {
    if (open === userId) return setOpen(null);
    setOpen(userId);
    void loadDevices(userId);
  };

  /** Runs an action; a failure is thrown for the dialog to show (or shown here when there is none). */
  const act = async (key: string, fn: () => Promise<unknown>, done: string, userId?: string, explain: (err: unknown) => unknown = (e) => e) => {
    setBusy(key);
    setError(null);
    try {
      await fn();
      setFlash(done);
      reload();
      if (userId && open === userId) await loadDevices(userId);
    } catch (err) {
      throw explain(err);
    } finally {
      setBusy(null);
    }
  };
  /** An action without a question: its failure is shown above the table. */
  const now = (run: () => Promise<void>) => void run().catch((err: unknown) => setError(describeError(err)));
  /** Focus for after an action whose button went away: the user's Devices button, else the table. */
  const focusRow = (userId: string) => () =>
    table.current?.querySelector<HTMLElement>(`tr[data-user-id="${userId}"] button[aria-controls]`) ?? table.current;
  const confirmThen = (q: Omit<Question, 'busyLabel'> & { busyLabel?: string }) => ask({ busyLabel: 'Working…', ...q });

  if (!users) return loadError ? <ErrorNotice message={loadError} /> : <p className="muted">Loading users…</p>;

  return (
    <>
      <ErrorNotice message={error ?? loadError} />
      <p className="sr-only" role="status">
        {flash}
      </p>
      <div className="admin-table" ref={table} tabIndex={-1}>
        <table className="data-table users-table">
          <caption className="sr-only">Users</caption>
          <colgroup>
            <col className="col-user" />
            <col className="col-role" />
            <col className="col-status" />
            <col className="col-joined" />
            <col className="col-actions" />
          </colgroup>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Joined</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <Fragment key={u.id}>
                <UserRow
                  user={u}
                  self={u.id === store.me.id}
                  expanded={open === u.id}
                  disabled={busy !== null}
                  onToggle={() => toggle(u.id)}
                  onRevokeAll={() =>
                    confirmThen({
                      title: `Sign out every device of ${u.displayName}?`,
                      body: <p>Each of their devices is disconnected at once and has to sign in again.</p>,
                      confirmLabel: 'Sign out all',
                      busyLabel: 'Signing out…',
                      danger: true,
                      run: () => act(`all-${u.id}`, () => api.admin.revokeAll(u.id), `Signed out every device of ${u.displayName}.`, u.id),
                    })
                  }
                  onRole={(role) =>
                    role === 'user'
                      ? now(() => act(`role-${u.id}`, () => api.admin.setRole(u.id, 'user'), `${u.displayName} is now a member.`, undefined, roleError))
                      : confirmThen({
                          title: `Make ${u.displayName} an administrator?`,
                          body: <p>They will be able to disable accounts and sign out anyone’s devices.</p>,
                          confirmLabel: 'Make admin',
                          run: () => act(`role-${u.id}`, () => api.admin.setRole(u.id, 'admin'), `${u.displayName} is now an administrator.`, undefined, roleError),
                          focusAfter: focusRow(u.id),
                        })
                  }
                  onEnable={() => now(() => act(`en-${u.id}`, () => api.admin.enable(u.id), `${u.displayName} was enabled.`))}
                  onDisable={() =>
                    confirmThen({
                      title: `Disable ${u.displayName}?`,
                      body: <p>They cannot sign in until enabled again, and every device of theirs is signed out at once.</p>,
                      confirmLabel: 'Disable',
                      busyLabel: 'Disabling…',
                      danger: true,
                      run: () => act(`dis-${u.id}`, () => api.admin.disable(u.id), `${u.displayName} was disabled.`, u.id),
                      focusAfter: focusRow(u.id),
                    })
                  }
                />
                {open === u.id && (
                  <tr className="devices-row" id={`devices-${u.id}`}>
                    <td colSpan={5}>
                      {!devices[u.id] ? (
                        <p className="muted">Loading devices…</p>
                      ) : devices[u.id].length === 0 ? (
                        <p className="muted">No devices.</p>
                      ) : (
                        <>
                          <ul className="device-list">
                            {devices[u.id]
                              .filter((d) => !d.revokedAt)
                              .map((d) => (
                                <DeviceCard
                                  key={d.id}
                                  device={d}
                                  busy={busy === `dev-${d.id}`}
                                  onRevoke={() =>
                                    confirmThen({
                                      title: `Sign out “${d.name}”?`,
                                      body: (
                                        <p>
                                          {u.displayName}’s device is disconnected at once and told that an administrator signed it out.
                                        </p>
                                      ),
                                      confirmLabel: 'Sign out',
                                      busyLabel: 'Signing out…',
                                      danger: true,
                                      run: () => act(`dev-${d.id}`, () => api.admin.revokeDevice(d.id), `${d.name} was signed out.`, u.id),
                                      focusAfter: focusRow(u.id),
                                    })
                                  }
                                />
                              ))}
                          </ul>
                          <SignedOutDevices devices={devices[u.id].filter((d) => d.revokedAt)} />
                        </>
                      )}
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      </div>
      {dialog}
    </>
  );
}

function UserRow({
  user: u,
  self,
  expanded,
  disabled,
  onToggle,
  onRevokeAll,
  onRole,
  onEnable,
  onDisable,
}: {
  user: AdminUser;
  self: boolean;
  expanded: boolean;
  disabled: boolean;
  onToggle: () => void;
  onRevokeAll: () => void;
  onRole: (role: 'user' | 'admin') => void;
  onEnable: () => void;
  onDisable: () => void;
}) {
  return (
    <tr className={u.disabled ? 'disabled-row' : ''} data-username={u.username} data-user-id={u.id}>
      <td data-label="User">
        <div className="user-cell">
          <Avatar id={u.id} name={u.displayName || u.username} size={32} status={u.online ? 'online' : 'offline'} />
          <span className="person-text">
            <strong>{u.displayName}</strong>
            <span className="muted">
              @{u.username}
              {self && ' (you)'}
            </span>
          </span>
        </div>
      </td>
      <td data-label="Role">
        <span className={`pill${u.role === 'admin' ? ' accent' : ''}`}>{u.role === 'admin' ? 'Admin' : 'Member'}</span>
      </td>
      <td data-label="Status">
        {u.disabled ? <span className="pill danger">Disabled</span> : u.online ? <span className="pill success">Online</span> : <span className="pill">Offline</span>}
      </td>
      <td data-label="Joined" title={formatFull(u.createdAt)}>
        {formatAgo(u.createdAt)}
      </td>
      <td className="actions-cell">
        <div className="actions">
          <button type="button" className="button small" aria-expanded={expanded} aria-controls={`devices-${u.id}`} onClick={onToggle}>
            Devices
          </button>
          <button type="button" className="button small" disabled={disabled} onClick={onRevokeAll}>
            Revoke all
          </button>
          {!self && (
            <button type="button" className="button small" disabled={disabled} onClick={() => onRole(u.role === 'admin' ? 'user' : 'admin')}>
              {u.role === 'admin' ? 'Make member' : 'Make admin'}
            </button>
          )}
          {!self &&
            (u.disabled ? (
              <button type="button" className="button small" disabled={disabled} onClick={onEnable}>
                Enable
              </button>
            ) : (
              <button type="button" className="button small danger" disabled={disabled} onClick={onDisable}>
                Disable
              </button>
            ))}
        </div>
      </td>
    </tr>
  );
}
