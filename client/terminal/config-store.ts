/**
 * The stored login of the terminal client: one JSON file holding the server URL, who signed in,
 * the session and device-fingerprint cookies, and the private half of the device key.
 *
 * Guarantees:
 * - It lives in `$RELAY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/relay`, else `~/.config/relay`; a
 *   directory this module creates gets mode 0700.
 * - The file is only ever written whole: a temp file created with mode 0600 (never wider, even
 *   for an instant) in the same directory, synced, then renamed over the old one. A crash leaves
 *   the old login or the new one, never half of either.
 * - Like ssh with a private key, a file that group or others may read or write, or that another
 *   user owns, is refused with a message saying how to fix it, and is not read; so is a
 *   directory others may write to (they could swap the file) or that another user owns.
 * - Neither the directory nor the file may be a symbolic link (checked with lstat, and the file
 *   is opened with O_NOFOLLOW): a link could lead the key anywhere another user can read.
 * - The file's permissions are checked on the descriptor it is read from (open, then fstat the
 *   same fd): nothing can swap it between the check and the read.
 * - Nothing here prints or logs the file's contents.
 *
 * @example
 * const login = loadLogin();          // null when nobody is logged in
 * saveLogin({ ...login, cookies });   // atomic replace
 * deleteLogin();
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync, chmodSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { CliError } from './errors.js';

const FILE_NAME = 'login.json';

const privateJwk = z.looseObject({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: z.string().min(1),
  y: z.string().min(1),
  d: z.string().min(1),
});

const storedLogin = z.object({
  version: z.literal(1),
  /** The server's base URL, e.g. "https://chat.example" (no trailing slash). */
  server: z.url(),
  user: z.object({ id: z.string(), username: z.string() }),
  deviceId: z.string(),
  /** Cookie name → value, exactly as the server set them (the session and `relay_fp`). */
  cookies: z.record(z.string(), z.string()),
  /** The device key, private part included: what proves this device to the server. */
  deviceKey: privateJwk,
  createdAt: z.string(),
});

export type StoredLogin = z.infer<typeof storedLogin>;

type Env = Record<string, string | undefined>;

/** The directory the login is kept in (see the header for the order of precedence). */
export function configDir(env: Env = process.env): string {
  if (env.RELAY_CONFIG_DIR) return path.resolve(env.RELAY_CONFIG_DIR);
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  return path.join(xdg ?? path.join(env.HOME || os.homedir(), '.config'), 'relay');
}

export function loginPath(env: Env = process.env): string {
  return path.join(configDir(env), FILE_NAME);
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

const uid = () => process.getuid?.();

/**
 * Refuses a directory that is a symbolic link, belongs to another user or that others may write
 * to (see the header). Throws ENOENT (as an ErrnoException) when there is no directory.
 */
function checkDirectory(dir: string, doing: string): void {
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw new CliError(`The directory ${dir} is a symbolic link; refusing to ${doing} through it.\nUse a real directory (or set RELAY_CONFIG_DIR to one).`);
  if (!st.isDirectory()) throw new CliError(`${dir} is not a directory`);
  const me = uid();
  if (me !== undefined && st.uid !== me) throw new CliError(`The directory ${dir} belongs to another user; refusing to ${doing} in it.`);
  if (st.mode & 0o022) {
    throw new CliError(`The directory ${dir} is writable by others (mode ${octal(st.mode)}), so the login in it cannot be trusted.\nFix it with: chmod 700 ${dir}`);
  }
}

/** Refuses an opened login file that is not a regular file of ours, readable by us alone (see the header). */
function checkFile(file: string, st: Stats): void {
  if (!st.isFile()) throw new CliError(`${file} is not a regular file; refusing to use it. Remove it and run relay login.`);
  const me = uid();
  if (me !== undefined && st.uid !== me) {
    throw new CliError(`${file} belongs to another user; refusing to use it. Remove it and run relay login.`);
  }
  if (st.mode & 0o077) {
    throw new CliError(
      `Permissions ${octal(st.mode)} for ${file} are too open: it holds this device's private key and session, and must be readable by you alone.\n` +
        `Fix it with: chmod 600 ${file}   (or delete it and run relay login)`,
    );
  }
}

/** The file's text, read from the descriptor its checks were made on; null when there is no file. */
function readChecked(file: string): string | null {
  let fd: number;
  try {
    // O_NOFOLLOW: a symbolic link fails with ELOOP instead of being followed.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new CliError(`${file} is a symbolic link; refusing to use it. Remove it and run relay login.`);
    throw err;
  }
  try {
    checkFile(file, fstatSync(fd));
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** The stored login, or null when there is none. Throws a CliError for an unsafe or damaged file. */
export function loadLogin(env: Env = process.env): StoredLogin | null {
  const file = loginPath(env);
  let text: string | null;
  try {
    checkDirectory(path.dirname(file), 'read a login');
    text = readChecked(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof CliError) throw err;
    throw new CliError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  if (text === null) return null;
  let parsed: ReturnType<typeof storedLogin.safeParse>;
  try {
    parsed = storedLogin.safeParse(JSON.parse(text));
  } catch {
    parsed = { success: false } as ReturnType<typeof storedLogin.safeParse>;
  }
  if (!parsed.success) throw new CliError(`The stored login in ${file} is damaged; delete it and run relay login`);
  return parsed.data;
}

/** Writes the login atomically with mode 0600 (see the header). */
export function saveLogin(login: StoredLogin, env: Env = process.env): void {
  const dir = configDir(env);
  const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode passes through the umask; a directory we made is ours to pin to 0700.
  if (created !== undefined) chmodSync(dir, 0o700);
  checkDirectory(dir, 'store a key');
  const file = path.join(dir, FILE_NAME);
  const tmp = path.join(dir, `.${FILE_NAME}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': a fresh file, never one an attacker placed; 0600 from its first byte (umask only narrows).
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      writeSync(fd, JSON.stringify(storedLogin.parse(login), null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
}

/** Deletes the stored login. Returns whether there was one. */
export function deleteLogin(env: Env = process.env): boolean {
  try {
    unlinkSync(loginPath(env));
    syncDir(configDir(env));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Makes a rename or unlink durable; best effort (not every file system lets a directory be synced). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not supported here */
  }
}
