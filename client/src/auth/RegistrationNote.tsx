/** How new accounts are made on this server, said on the sign-in screen; and the invite code field. */
import { useId } from 'react';
import './first-run.css';

/** GET /api/setup `registration`: open, closed but an invite is outstanding, or closed. */
export type Registration = 'open' | 'closed' | 'invite';

export function RegistrationNote({ registration, hasInvite }: { registration?: Registration; hasInvite: boolean }) {
  if (hasInvite) return <div className="notice info" role="note">You have an invitation: choose a username and a password to join.</div>;
  if (registration === 'closed')
    return (
      <div className="notice info" role="note" data-testid="registration-note">
        Registration is closed on this server. Ask an administrator for an account or an invite link.
      </div>
    );
  if (registration === 'invite')
    return (
      <div className="notice info" role="note" data-testid="registration-note">
        New accounts are by invitation only: open the invite link an administrator sent you, or enter its code under Register.
      </div>
    );
  return null;
}

/** The invite code, asked for when registration is by invitation and the page was not opened from an invite link. */
export function InviteCodeField({ value, onChange }: { value: string; onChange: (code: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>Invite code</label>
      <input id={id} name="invite" autoComplete="off" spellCheck={false} value={value} onChange={(e) => onChange(e.target.value.trim())} />
    </div>
  );
}
