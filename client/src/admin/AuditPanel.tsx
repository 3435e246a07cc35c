/**
 * Admin, Audit log tab: who did what to whom, newest first. Targets are named as the server
 * names them in its answer (a device's name and owner, a user's display name and username), the
 * id kept for reference; an event whose target is gone shows its short id.
 */
import { useEffect, useState } from 'react';
import type { AuditEvent } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import { useStore } from '../state/use-store.js';
import { ErrorNotice } from '../ui/bits.js';
import { formatAgo, formatFull } from '../ui/format.js';

const ACTIONS: Record<string, string> = {
  'device.revoke': 'Signed out a device',
  'device.revoked': 'Signed out a device',
  'user.disable': 'Disabled a user',
  'user.enable': 'Enabled a user',
  'user.revoke_devices': 'Signed out every device',
  'user.role': 'Changed a role',
  'user.display_name': 'Changed a display name',
  'user.password_change': 'Changed a password',
  'message.delete': 'Deleted a message',
  'invite.create': 'Created an invite',
  'invite.use': 'Registered with an invite',
  'settings.registration': 'Changed registration',
};

const short = (id: string | null) => (id ? id.slice(0, 8) : '');

function Target({ event: e }: { event: AuditEvent }) {
  const owner = e.targetUser;
  const person = owner && (
    <span className="audit-person">
      {owner.displayName} <span className="muted">@{owner.username}</span>
    </span>
  );
  switch (e.targetType) {
    case 'user':
      return person ?? <span className="muted">user {short(e.targetId)}</span>;
    case 'device':
      return (
        <span title={e.targetId ?? undefined}>
          <strong>{e.targetName ?? `device ${short(e.targetId)}`}</strong>
          {person && <> of {person}</>}
        </span>
      );
    case 'message':
      return (
        <span title={e.targetId ?? undefined}>
          message {e.targetId}
          {person && <> by {person}</>}
        </span>
      );
    case 'channel':
      return <span title={e.targetId ?? undefined}>{e.targetName ? `#${e.targetName}` : `channel ${short(e.targetId)}`}</span>;
    default:
      return (
        <span className="muted" title={e.targetId ?? undefined}>
          {e.targetType} {short(e.targetId)}
        </span>
      );
  }
}

export function AuditPanel() {
  const store = useStore();
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.admin.audit(200).then(setEvents, (err) => setError(describeError(err)));
  }, []);

  if (error) return <ErrorNotice message={error} />;
  if (!events) return <p className="muted">Loading the audit log…</p>;
  if (events.length === 0) return <p className="muted">Nothing has happened yet.</p>;

  const who = (e: AuditEvent) => (e.actor ? e.actor.displayName : e.actorId ? store.personName(e.actorId) : 'System');

  return (
    <div className="admin-table">
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
              <td data-label="Who">{who(e)}</td>
              <td data-label="Action">
                <span className="action-name">{ACTIONS[e.action] ?? e.action}</span>
                <code className="muted small">{e.action}</code>
              </td>
              <td data-label="Target">
                <Target event={e} />
              </td>
              <td data-label="IP" className="muted">
                {e.ip ?? '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
