/** `relay devices` and `relay revoke <device-id-or-prefix>`. */
import type { Device } from '../../../shared/api.js';
import type { CommandLine } from '../args.js';
import { deleteLogin } from '../config-store.js';
import { CliError, EXIT } from '../errors.js';
import { formatTime, print, printJson, safeText, table } from '../output.js';
import { openSession } from '../session.js';

type Env = Record<string, string | undefined>;

async function listDevices(session: ReturnType<typeof openSession>): Promise<Device[]> {
  return (await session.http.request<{ devices: Device[] }>('GET', '/api/devices')).devices;
}

function stateCell(d: Device): string {
  if (d.revokedAt) return `signed out ${formatTime(d.revokedAt)}`;
  return d.online ? 'online' : `seen ${formatTime(d.lastSeenAt)}`;
}

export async function devices(cl: CommandLine, env: Env = process.env): Promise<number> {
  const session = openSession(env);
  const list = await listDevices(session);
  session.persist();
  if (cl.json) {
    printJson({ devices: list });
    return EXIT.ok;
  }
  const rows = list.map((d) => [d.current ? '*' : ' ', d.id, safeText(d.name), d.bound ? 'bound' : 'unbound', stateCell(d), d.ip]);
  print(table([' ', 'ID', 'NAME', 'KEY', 'STATE', 'IP'], rows));
  print('\n* this device. "bound": its tokens need a proof signed by its key.');
  return EXIT.ok;
}

/** The one device `ref` names: its full id, or a prefix of it that no other device shares. */
function pick(list: Device[], ref: string): Device {
  const wanted = ref.trim().toLowerCase();
  const exact = list.find((d) => d.id.toLowerCase() === wanted);
  if (exact) return exact;
  const matches = list.filter((d) => d.id.toLowerCase().startsWith(wanted));
  if (wanted.length > 0 && matches.length === 1) return matches[0];
  if (matches.length > 1) throw new CliError(`Several devices start with ${ref}; give more of the id:\n${matches.map((d) => `  ${d.id}  ${safeText(d.name)}`).join('\n')}`);
  throw new CliError(`None of your devices has an id starting with ${ref} ("relay devices" lists them)`);
}

export async function revoke(cl: CommandLine, env: Env = process.env): Promise<number> {
  const session = openSession(env);
  const target = pick(await listDevices(session), cl.args[0]);
  if (target.revokedAt) throw new CliError(`Device ${target.id.slice(0, 8)} ("${safeText(target.name)}") is already signed out`);
  const { device } = await session.http.request<{ device: Device }>('POST', `/api/devices/${encodeURIComponent(target.id)}/revoke`);
  // Revoking this very device ends its session: the stored login is worth nothing now.
  const self = target.id === session.login.deviceId;
  if (self) deleteLogin(env);
  else session.persist();
  if (cl.json) printJson({ device, loggedOut: self });
  else print(`Signed out "${safeText(device.name)}" (${device.id.slice(0, 8)}); its connections were closed.${self ? ' That was this device: the stored login is deleted.' : ''}`);
  return EXIT.ok;
}
