/**
 * Who the passkey relying party is for a request: its id (WEBAUTHN_RP_ID, else the host name of
 * the app's origin), its name, and the origins a ceremony may come from.
 *
 * The app's origin is PUBLIC_URL's when set, else the origin the request reached (scheme and
 * host after TRUST_PROXY), the same rule as the DPoP `htu` (auth/routes.ts requestUrl).
 * Outside production, ALLOWED_ORIGINS (already trusted for cookie requests and the socket) are
 * accepted as well, e.g. the Vite dev server; the browser still refuses any whose host is not
 * under the RP id. In production (NODE_ENV=production) only the app's own origin is: an extra
 * origin allowed for cross-origin API calls is not thereby allowed to run passkey ceremonies.
 */
import { isIP } from 'node:net';
import type { Request } from 'express';
import type { AppContext } from '../../context.js';
import { invalidRequest } from '../../errors.js';

export interface RelyingParty {
  rpID: string;
  rpName: string;
  origins: string[];
}

/** The app's origin for this request. */
export function appOrigin(ctx: Pick<AppContext, 'config'>, req: Request): string {
  return ctx.config.publicUrl ? new URL(ctx.config.publicUrl).origin : `${req.protocol}://${req.host}`;
}

/**
 * The relying party of this request. Throws 400 invalid_request when the app is reached by a
 * bare IP address and no WEBAUTHN_RP_ID is set: browsers allow no passkey for an address.
 */
export function relyingParty(ctx: Pick<AppContext, 'config'>, req: Request): RelyingParty {
  const origin = appOrigin(ctx, req);
  const host = new URL(origin).hostname.replace(/^\[|\]$/g, '');
  const rpID = ctx.config.webauthn.rpId ?? host;
  if (isIP(rpID)) {
    throw invalidRequest(
      `Passkeys need a host name, and this server was reached at the address ${host}: set WEBAUTHN_RP_ID or use a host name`,
    );
  }
  const origins = ctx.config.env === 'production' ? [origin] : [origin, ...ctx.config.allowedOrigins.filter((o) => o !== origin)];
  return { rpID, rpName: ctx.config.webauthn.rpName, origins };
}
