/** My devices: every device signed in to this account, with a way to sign any of them out. */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Device } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { describeError } from '../api/http.js';
import { useStore } from '../state/use-store.js';
import { BackButton, ErrorNotice } from '../ui/bits.js';
import { useConfirm } from '../ui/use-confirm.js';
import { DeviceCard } from './DeviceCard.js';
import { PasskeysSection } from './PasskeysSection.js';
import { SignedOutDevices } from './SignedOutDevices.js';

export function DevicesView({ onSignedOut }: { onSignedOut: (notice?: string) => void }) {
  const store = useStore();
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [done, setDone] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const [dialog, ask] = useConfirm();

  const load = useCallback(() => {
    api.devices().then(
      (d) => {
        setDevices(d);
        setError(null);
      },
      (err) => setError(describeError(err)),
    );
  }, []);
  useEffect(load, [load]);

  /** Runs in the question's dialog: a failure is shown there, and the device stays signed in. */
  const revoke = async (d: Device) => {
    setBusy(d.id);
    setError(null);
    try {
      if (d.current) store.rt.disconnect();
      await api.revokeDevice(d.id);
      if (d.current) return onSignedOut('You signed out of this device.');
      setDone(`${d.name} was signed out.`);
      load();
    } catch (err) {
      // The request failed, so this device is still signed in: bring its connection back.
      if (d.current) store.rt.connect();
      throw err;
    } finally {
      setBusy(null);
    }
  };

  const askRevoke = (d: Device) =>
    ask({
      title: d.current ? 'Sign out this device?' : `Sign out “${d.name}”?`,
      body: <p>{d.current ? 'You will need to sign in again here.' : 'It is disconnected at once and has to sign in again.'}</p>,
      confirmLabel: 'Sign out',
      busyLabel: 'Signing out…',
      danger: true,
      run: () => revoke(d),
      // Its card (and the button that asked) moves to the signed-out devices: keep focus on the page.
      focusAfter: () => heading.current,
    });

  const active = devices?.filter((d) => !d.revokedAt) ?? [];
  const revoked = devices?.filter((d) => d.revokedAt) ?? [];

  return (
    <section className="page" aria-labelledby="devices-title">
      <header className="page-header">
        <BackButton />
        <div>
          <h1 id="devices-title">My devices</h1>
          <p className="muted">Everywhere your account is signed in. Sign out anything you do not recognise.</p>
        </div>
      </header>
      <div className="page-body">
        <ErrorNotice message={error} />
        <p className="sr-only" role="status">
          {done}
        </p>
        {devices === null && !error && <p className="muted">Loading devices…</p>}
        {devices && (
          <>
            <h2 className="section-title" ref={heading} tabIndex={-1}>
              Signed in ({active.length})
            </h2>
            <ul className="device-list">
              {active.map((d) => (
                <DeviceCard key={d.id} device={d} busy={busy === d.id} onRevoke={() => askRevoke(d)} />
              ))}
            </ul>
            <SignedOutDevices devices={revoked} />
          </>
        )}
        <PasskeysSection />
      </div>
      {dialog}
    </section>
  );
}
