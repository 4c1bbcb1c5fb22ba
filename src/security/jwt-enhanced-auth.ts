/**
 * JWT as a v5 enhanced authentication method (spec 4.12): CONNECT carries Authentication Method "JWT"
 * and the token as Authentication Data; later, AUTH with reason 0x19 and a fresh token re-authenticates
 * the client without reconnecting [4.12.1], moving the time its connection ends with the token.
 * Declared structurally (EnhancedAuthHandler of src/broker/hooks.ts): src/security may not import it.
 */
import { redactedReason, tokenExpiry } from './authenticator.js';
import { identityFromClaims, type JwtClaims } from './jwt.js';

export const JWT_AUTH_METHOD = 'JWT';

export interface JwtEnhancedAuthOptions {
  verifier: { verify(token: string): JwtClaims };
  /** The claim that names the user (default `sub`); a user name the client sends must equal it. */
  usernameClaim?: string;
  /** A claim that must equal the client id, when set. */
  clientIdClaim?: string;
  /** Told of each outcome, without the token. */
  onEvent?: (e: { outcome: 'allow' | 'deny'; clientId: string; reauthenticate: boolean; reason?: string }) => void;
}

type Result =
  | { result: 'success'; username?: string; expiresAt?: number }
  | { result: 'fail'; reasonCode?: number };

export function jwtEnhancedAuth(options: JwtEnhancedAuthOptions): {
  method: string;
  step(s: { client: { clientId: string; username: string | undefined }; data: Buffer | undefined; reauthenticate: boolean }): Result;
} {
  return {
    method: JWT_AUTH_METHOD,
    step({ client, data, reauthenticate }) {
      const deny = (reason: string): Result => {
        options.onEvent?.({ outcome: 'deny', clientId: client.clientId, reauthenticate, reason });
        // CONNACK 0x86 Bad User Name or Password; a DISCONNECT cannot carry that code: 0x87 Not authorized.
        return { result: 'fail', reasonCode: reauthenticate ? 0x87 : 0x86 };
      };
      if (!data || data.length === 0) return deny('no token');
      let claims: JwtClaims;
      try {
        claims = options.verifier.verify(data.toString('latin1'));
      } catch (err) {
        return deny(redactedReason(err));
      }
      const identity = identityFromClaims(claims, options.usernameClaim ?? 'sub');
      // On re-authentication the token must name the same user: a refresh, not a change of identity.
      if (client.username !== undefined && identity !== client.username) return deny('username does not match the token');
      if (options.clientIdClaim !== undefined && identityFromClaims(claims, options.clientIdClaim) !== client.clientId) {
        return deny('client id does not match the token');
      }
      options.onEvent?.({ outcome: 'allow', clientId: client.clientId, reauthenticate });
      const ok: Result = { result: 'success' };
      if (identity !== undefined) ok.username = identity;
      const expiresAt = tokenExpiry(claims);
      if (expiresAt !== undefined) ok.expiresAt = expiresAt;
      return ok;
    },
  };
}
