/** One device: name, this-device mark, online, last seen, where from, and a revoke action. */
import { useLayoutEffect, useRef } from 'react';
import type { Device } from '../../../shared/api.js';
import { Icon, PresenceDot } from '../ui/bits.js';
import { formatAgo, formatFull } from '../ui/format.js';

export function DeviceCard({ device, onRevoke, busy }: { device: Device; onRevoke?: () => void; busy?: boolean }) {
  const revoked = !!device.revokedAt;
  const card = useRef<HTMLLIElement>(null);
  const buttonHadFocus = useRef(false);
  // Signing out removes the button: keep keyboard focus on this card rather than lose it to the page.
  useLayoutEffect(() => {
    if (revoked && buttonHadFocus.current) card.current?.focus();
  }, [revoked]);
  return (
    <li ref={card} tabIndex={revoked ? -1 : undefined} className={`device-card${revoked ? ' revoked' : ''}${device.current ? ' current' : ''}`}>
      <span className="device-icon">
        <Icon name="devices" size={20} />
      </span>
      <div className="device-text">
        <div className="device-title">
          <strong>{device.name}</strong>
          {device.current && <span className="pill accent">This device</span>}
          {device.bound && (
            <span className="pill" title="Holds a device key: its session cannot be used from another machine">
              Bound
            </span>
          )}
          {revoked ? <span className="pill">Signed out</span> : device.online && <span className="pill success">Online</span>}
        </div>
        <p className="muted small">
          {!revoked && (
            <>
              <PresenceDot status={device.online ? 'online' : 'offline'} /> {device.online ? 'Connected now' : `Last seen ${formatAgo(device.lastSeenAt)}`}
              {' · '}
            </>
          )}
          {revoked ? `Signed out ${formatAgo(device.revokedAt!)}` : `Signed in${device.signedInWith === 'passkey' ? ' with a passkey' : ''} ${formatFull(device.createdAt)}`}
          {device.ip && ` · ${device.ip}`}
        </p>
        {device.userAgent && (
          <p className="muted small ua" title={device.userAgent}>
            {device.userAgent}
          </p>
        )}
      </div>
      {!revoked && onRevoke && (
        <button
          type="button"
          className="button small danger"
          onClick={onRevoke}
          disabled={busy}
          onFocus={() => (buttonHadFocus.current = true)}
          onBlur={() => (buttonHadFocus.current = !!busy)}
          aria-label={`Sign out ${device.name}${device.current ? ' (this device)' : ''}`}
        >
          {busy ? 'Signing out…' : 'Sign out'}
        </button>
      )}
    </li>
  );
}
