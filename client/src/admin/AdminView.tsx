/** Admin: every user (online, role, disabled), each user's devices, revocation, and the audit log. */
import { Fragment, useCallback, useEffect, useState } from 'react';
import type { AdminUser, AuditEvent, Device } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { ApiError, describeError } from '../api/http.js';
import { DeviceCard } from '../devices/DeviceCard.js';
import { RegistrationPanel } from './RegistrationPanel.js';
import { useStore } from '../state/use-store.js';
import { Avatar, BackButton, ErrorNotice, Icon } from '../ui/bits.js';
import { formatAgo, formatFull } from '../ui/format.js';

type Tab = 'users' | 'audit';

export function AdminView() {
  const [tab, setTab] = useState<Tab>('users');
  return (
    <section className="page" aria-labelledby="admin-title">
      <header className="page-header">
        <BackButton />
        <div>
          <h1 id="admin-title">Administration</h1>
          <p className="muted">People, their devices, and everything administrators have done.</p>
        </div>
      </header>
      <RegistrationPanel />
      <div className="tabs" role="tablist" aria-label="Administration">
        <button type="button" role="tab" id="tab-users" aria-controls="panel-users" aria-selected={tab === 'users'} onClick={() => setTab('users')}>
          <Icon name="users" size={16} /> Users
        </button>
        <button type="button" role="tab" id="tab-audit" aria-controls="panel-audit" aria-selected={tab === 'audit'} onClick={() => setTab('audit')}>
          <Icon name="shield" size={16} /> Audit log
        </button>
      </div>
      <div className="page-body">
        {tab === 'users' ? (
          <div role="tabpanel" id="panel-users" aria-labelledby="tab-users">
            <UsersPanel />
          </div>
        ) : (
          <div role="tabpanel" id="panel-audit" aria-labelledby="tab-audit">
            <AuditPanel />
          </div>
        )}
      </div>
    </section>
  );
}

/** A row's action button: asks `confirm` first (when given) with the browser's own question. */
function ActionButton({ label, disabled, danger, confirm, onRun }: { label: string; disabled: boolean; danger?: boolean; confirm?: string; onRun: () => void }) {
  return (
    <button
      type="button"
      className={`button small${danger ? ' danger' : ''}`}
      disabled={disabled}
      onClick={() => {
        if (confirm === undefined || window.confirm(confirm)) onRun();
      }}
    >
      {label}
    </button>
  );
}

/** POST /api/admin/users/:id/role refuses (400) to take an administrator's own role away. */
function roleError(err: unknown): string {
  if (err instanceof ApiError && err.status === 400 && err.code === 'invalid_request')
    return 'You cannot make yourself a member. Another administrator has to change your role.';
  return describeError(err);
}

function UsersPanel() {
  const store = useStore();
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [devices, setDevices] = useState<Record<string, Device[]>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);

  const load = useCallback(() => {
    api.admin.users().then(
      (u) => {
        setUsers(u);
        store.rememberPeople(u);
      },
      (err) => setError(describeError(err)),
    );
  }, [store]);
  useEffect(load, [load]);

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

  const act = async (key: string, fn: () => Promise<unknown>, done: string, userId?: string, explain: (err: unknown) => string = describeError) => {
    setBusy(key);
    setError(null);
    try {
      await fn();
      setFlash(done);
      load();
      if (userId && open === userId) await loadDevices(userId);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(null);
    }
  };

  if (!users) return error ? <ErrorNotice message={error} /> : <p className="muted">Loading users…</p>;

  return (
    <>
      <ErrorNotice message={error} />
      <p className="sr-only" role="status">
        {flash}
      </p>
      <table className="data-table users-table">
        <caption className="sr-only">Users</caption>
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
              <tr className={u.disabled ? 'disabled-row' : ''} data-username={u.username}>
                <td data-label="User">
                  <div className="user-cell">
                    <Avatar id={u.id} name={u.displayName || u.username} size={32} status={u.online ? 'online' : 'offline'} />
                    <span className="person-text">
                      <strong>{u.displayName}</strong>
                      <span className="muted">@{u.username}</span>
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
                  <button type="button" className="button small" aria-expanded={open === u.id} aria-controls={`devices-${u.id}`} onClick={() => toggle(u.id)}>
                    Devices
                  </button>
                  <ActionButton
                    label="Revoke all"
                    disabled={busy !== null}
                    confirm={`Sign out every device of ${u.displayName}?`}
                    onRun={() => void act(`all-${u.id}`, () => api.admin.revokeAll(u.id), `Signed out every device of ${u.displayName}.`, u.id)}
                  />
                  {u.id !== store.me.id &&
                    (u.role === 'admin' ? (
                      <ActionButton
                        label="Make member"
                        disabled={busy !== null}
                        onRun={() => void act(`role-${u.id}`, () => api.admin.setRole(u.id, 'user'), `${u.displayName} is now a member.`, undefined, roleError)}
                      />
                    ) : (
                      <ActionButton
                        label="Make admin"
                        disabled={busy !== null}
                        confirm={`Make ${u.displayName} an administrator? They will be able to disable accounts and sign out anyone’s devices.`}
                        onRun={() => void act(`role-${u.id}`, () => api.admin.setRole(u.id, 'admin'), `${u.displayName} is now an administrator.`, undefined, roleError)}
                      />
                    ))}
                  {u.id !== store.me.id &&
                    (u.disabled ? (
                      <ActionButton label="Enable" disabled={busy !== null} onRun={() => void act(`en-${u.id}`, () => api.admin.enable(u.id), `${u.displayName} was enabled.`)} />
                    ) : (
                      <ActionButton
                        label="Disable"
                        danger
                        disabled={busy !== null}
                        confirm={`Disable ${u.displayName}? Every device of theirs is signed out at once.`}
                        onRun={() => void act(`dis-${u.id}`, () => api.admin.disable(u.id), `${u.displayName} was disabled.`, u.id)}
                      />
                    ))}
                </td>
              </tr>
              {open === u.id && (
                <tr className="devices-row" id={`devices-${u.id}`}>
                  <td colSpan={5}>
                    {!devices[u.id] ? (
                      <p className="muted">Loading devices…</p>
                    ) : devices[u.id].length === 0 ? (
                      <p className="muted">No devices.</p>
                    ) : (
                      <ul className="device-list">
                        {devices[u.id].map((d) => (
                          <DeviceCard
                            key={d.id}
                            device={d}
                            busy={busy === `dev-${d.id}`}
                            onRevoke={() => void act(`dev-${d.id}`, () => api.admin.revokeDevice(d.id), `${d.name} was signed out.`, u.id)}
                          />
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    </>
  );
}

const ACTIONS: Record<string, string> = {
  'device.revoke': 'Signed out a device',
  'device.revoked': 'Signed out a device',
  'user.disable': 'Disabled a user',
  'user.enable': 'Enabled a user',
  'user.revoke_devices': 'Signed out every device',
  'user.role': 'Changed a role',
};

function AuditPanel() {
  const store = useStore();
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.admin.audit(200).then(setEvents, (err) => setError(describeError(err)));
  }, []);

  if (error) return <ErrorNotice message={error} />;
  if (!events) return <p className="muted">Loading the audit log…</p>;
  if (events.length === 0) return <p className="muted">Nothing has happened yet.</p>;

  const who = (id: string | null) => (id ? store.personName(id) : 'System');
  const target = (e: AuditEvent) => (e.targetType === 'user' && e.targetId ? store.personName(e.targetId) : `${e.targetType}${e.targetId ? ` ${e.targetId.slice(0, 8)}` : ''}`);

  return (
    <table className="data-table audit-table">
      <caption className="sr-only">Audit log, newest first</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Who</th>
          <th scope="col">Action</th>
          <th scope="col">Target</th>
          <th scope="col">IP</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.id}>
            <td data-label="When" title={formatFull(e.at)}>
              {formatAgo(e.at)}
            </td>
            <td data-label="Who">{who(e.actorId)}</td>
            <td data-label="Action">
              <span className="action-name">{ACTIONS[e.action] ?? e.action}</span>
              <code className="muted small">{e.action}</code>
            </td>
            <td data-label="Target">{target(e)}</td>
            <td data-label="IP" className="muted">
              {e.ip ?? '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
