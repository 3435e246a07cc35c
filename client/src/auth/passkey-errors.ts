/**
 * What went wrong with a passkey, in words: the browser's WebAuthn errors (by their DOMException
 * name, which @simplewebauthn/browser's WebAuthnError keeps) and the server's answers.
 */
import { ApiError, describeError } from '../api/http.js';

export function describePasskeyError(err: unknown, during: 'sign-in' | 'register'): string {
  if (err instanceof ApiError) {
    // The server's own sentences say which passkey problem it was (expired, removed, not verified).
    if (err.code === 'invalid_credentials' || err.code === 'invalid_passkey' || err.code === 'invalid_request') return err.message;
    return describeError(err);
  }
  const name = err instanceof Error ? err.name : '';
  const code = (err as { code?: string } | null)?.code;
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return during === 'sign-in'
      ? 'The passkey sign-in was cancelled or not allowed (no passkey chosen, or it timed out). Try again when you are ready.'
      : 'Adding the passkey was cancelled or not allowed (or it timed out). Try again when you are ready.';
  }
  if (name === 'InvalidStateError') return 'This authenticator already holds a passkey for your account.';
  if (name === 'SecurityError' || code === 'ERROR_INVALID_DOMAIN' || code === 'ERROR_INVALID_RP_ID') {
    return 'Passkeys do not work at this address. Open the app at its host name (not an IP address), over HTTPS.';
  }
  if (name === 'NotSupportedError' || code?.startsWith('ERROR_AUTHENTICATOR_MISSING')) {
    return 'This device cannot hold a passkey that signs in without a username. Try another device or security key.';
  }
  return 'Something went wrong with the passkey. Try again.';
}
