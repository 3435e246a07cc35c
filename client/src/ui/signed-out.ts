/**
 * What a signed-out device is told, from the reason its socket was closed with (4403): who did
 * it, so a person can tell "I did that from my phone" from "an administrator did".
 */
export function signedOutNotice(reason: string | undefined): string {
  switch (reason) {
    case 'revoked_by_admin':
      return 'An administrator signed this device out.';
    case 'account_disabled':
      return 'This account was disabled by an administrator.';
    case 'password_changed':
      return 'Your password was changed on another of your devices, which signed this one out. Sign in with the new password.';
    case 'logged_out':
      return 'You signed out of this device.';
    case 'device_revoked':
      return 'This device was signed out from another of your devices.';
    default:
      return 'This device was signed out.';
  }
}
