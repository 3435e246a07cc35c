/**
 * Signed-out devices, folded away by default: every sign-in makes a device, so they pile up
 * and would bury the ones still signed in. A toggle says how many there are and shows them.
 */
import { useId, useState } from 'react';
import type { Device } from '../../../shared/api.js';
import { DeviceCard } from './DeviceCard.js';

export function SignedOutDevices({ devices }: { devices: Device[] }) {
  const [shown, setShown] = useState(false);
  const listId = useId();
  if (devices.length === 0) return null;
  const n = devices.length;
  return (
    <div className="signed-out-devices">
      <button type="button" className="link-button subtle" aria-expanded={shown} aria-controls={listId} onClick={() => setShown(!shown)}>
        {shown ? 'Hide' : 'Show'} {n} signed-out device{n === 1 ? '' : 's'}
      </button>
      {shown && (
        <ul className="device-list" id={listId} aria-label="Signed-out devices">
          {devices.map((d) => (
            <DeviceCard key={d.id} device={d} />
          ))}
        </ul>
      )}
    </div>
  );
}
