/**
 * What a signed-out visitor sees: on an empty install the first-run screen that makes the
 * administrator (GET /api/setup: needsAdmin), else sign-in, told whether registration is open,
 * by invitation or closed. If the setup question fails, sign-in is shown all the same.
 */
import { useEffect, useState } from 'react';
import type { User } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { AuthScreen } from './AuthScreen.js';
import { FirstRunScreen } from './FirstRunScreen.js';
import type { Registration } from './RegistrationNote.js';

type Setup = { state: 'loading' } | { state: 'known'; needsAdmin: boolean; registration: Registration } | { state: 'unknown' };

export function SignedOut({ notice, onSignedIn }: { notice?: string; onSignedIn: (me: User, deviceId: string, registered?: boolean) => void }) {
  const [setup, setSetup] = useState<Setup>({ state: 'loading' });
  const [skipFirstRun, setSkipFirstRun] = useState(false);

  useEffect(() => {
    let live = true;
    api.setup().then(
      (s) => live && setSetup({ state: 'known', ...s }),
      () => live && setSetup({ state: 'unknown' }),
    );
    return () => {
      live = false;
    };
  }, []);

  if (setup.state === 'loading')
    return (
      <div className="splash" role="status" aria-live="polite">
        <div className="brand-mark large" aria-hidden="true">R</div>
        <p>Loading Relay…</p>
      </div>
    );
  if (setup.state === 'known' && setup.needsAdmin && !skipFirstRun)
    return <FirstRunScreen registration={setup.registration} onSignedIn={(me, deviceId) => onSignedIn(me, deviceId, true)} onSignIn={() => setSkipFirstRun(true)} />;
  return <AuthScreen notice={notice} registration={setup.state === 'known' ? setup.registration : undefined} onSignedIn={onSignedIn} />;
}
