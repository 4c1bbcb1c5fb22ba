/**
 * Username/password and JWT authentication as one hook. Its shape is the broker's AuthenticateHook
 * (src/broker/hooks.ts), declared structurally because src/security may not import src/broker.
 *
 * Decisions:
 * - No username and no password: no opinion (the broker's anonymous policy decides).
 * - A password shaped like a JWT, with JWT configured: the token is verified and nothing else; the
 *   username, when given, must equal the token's identity claim. `moat passwd` refuses passwords of
 *   that shape, so the two never overlap.
 * - Any other password: checked against the password file (unknown users cost the same scrypt).
 * - A username without a password: denied, unless a client certificate, a PSK identity or v5 enhanced
 *   authentication already vouches for the client (then another mechanism decides: no opinion).
 *   Letting it through as "anonymous" would let a loopback client claim any username for the ACLs.
 * - Backoff: while an address is backing off it is denied at once with 0x86, without checking. Denying
 *   rather than delaying means a guesser costs no scrypt work and holds no pending connection; the
 *   answer is the same as for a wrong password, so it tells nothing about the credentials.
 */
import { isMoatError } from '../codec/index.js';
import type { JwtClaims, JwtVerifier } from './jwt.js';
import { identityFromClaims, looksLikeJwt } from './jwt.js';
import type { LoginBackoff } from './login-backoff.js';

/** The fields of the broker's AuthenticateRequest this hook reads. */
export interface AuthRequest {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  remoteAddress: string;
  tls?: { peerCertificate?: Buffer; pskIdentity?: string } | undefined;
  authenticationMethod?: string | undefined;
}

export type AuthVerdict = { verdict: 'allow'; username?: string; expiresAt?: number } | { verdict: 'deny'; reasonCode?: number };

/** The password check the authenticator needs (PasswordFile provides it). */
export interface PasswordChecker {
  verify(user: string, password: Buffer | string): Promise<boolean>;
}

export interface JwtAuthOptions {
  verifier: Pick<JwtVerifier, 'verify'>;
  /** Claim that must equal the MQTT username when the client sends one (default `sub`). */
  usernameClaim?: string;
  /** When set, this claim must equal the client id. */
  clientIdClaim?: string;
}

/** One authentication decision, safe to log: it never holds a password or token. */
export interface AuthEvent {
  outcome: 'allow' | 'deny' | 'backoff';
  method: 'password' | 'jwt' | 'none';
  clientId: string;
  username: string | undefined;
  remoteAddress: string;
  /** Why it was denied: an error code of a failed token check (see JWT_ERROR_CODES), or one of AUTH_REASONS. */
  reason?: string;
  /** While backing off: milliseconds left. */
  waitMs?: number;
}

export interface AuthenticatorOptions {
  passwords?: PasswordChecker;
  jwt?: JwtAuthOptions;
  backoff?: LoginBackoff;
  /** Called once per decision; pass it to the logger as is. */
  onEvent?: (e: AuthEvent) => void;
}

const BAD_USER_NAME_OR_PASSWORD = 0x86;
const deny: AuthVerdict = { verdict: 'deny', reasonCode: BAD_USER_NAME_OR_PASSWORD };
const allow: AuthVerdict = { verdict: 'allow' };

/** Deny reasons that are not MoatError codes. */
export const AUTH_REASONS = {
  wrongPassword: 'wrong password or unknown user',
  noPassword: 'username without password',
  noMethod: 'no configured method can check these credentials',
  usernameMismatch: 'username does not match the token',
  clientIdMismatch: 'client id does not match the token',
  backoff: 'too many failed logins from this address',
} as const;

/** A log-safe reason for an error thrown while checking credentials: the code only, never the message. */
export function redactedReason(err: unknown): string {
  if (isMoatError(err)) return err.code;
  return 'internal error';
}

export type Authenticate = (req: AuthRequest, signal?: AbortSignal) => Promise<AuthVerdict | undefined>;

export function createAuthenticator(options: AuthenticatorOptions): Authenticate {
  const { passwords, jwt, backoff, onEvent } = options;
  return async (req) => {
    const { clientId, username, password, remoteAddress } = req;
    if (username === undefined && password === undefined) return undefined;
    const event = (outcome: AuthEvent['outcome'], method: AuthEvent['method'], extra: Partial<AuthEvent> = {}): void =>
      onEvent?.({ outcome, method, clientId, username, remoteAddress, ...extra });
    if (password === undefined) {
      if (req.tls?.peerCertificate || req.tls?.pskIdentity !== undefined || req.authenticationMethod !== undefined) return undefined;
      event('deny', 'none', { reason: AUTH_REASONS.noPassword });
      return deny;
    }
    const wait = backoff?.check(remoteAddress) ?? 0;
    if (wait > 0) {
      event('backoff', 'none', { reason: AUTH_REASONS.backoff, waitMs: wait });
      return deny;
    }
    const failed = (method: AuthEvent['method'], reason: string): AuthVerdict => {
      backoff?.failed(remoteAddress);
      event('deny', method, { reason });
      return deny;
    };
    const succeeded = (method: AuthEvent['method']): AuthVerdict => {
      backoff?.succeeded(remoteAddress);
      event('allow', method);
      return allow;
    };

    if (jwt && looksLikeJwt(password)) {
      let claims: JwtClaims;
      try {
        claims = jwt.verifier.verify(password.toString('latin1'));
      } catch (err) {
        return failed('jwt', redactedReason(err));
      }
      const identity = identityFromClaims(claims, jwt.usernameClaim ?? 'sub');
      if (username !== undefined && identity !== username) return failed('jwt', AUTH_REASONS.usernameMismatch);
      if (jwt.clientIdClaim !== undefined && identityFromClaims(claims, jwt.clientIdClaim) !== clientId) {
        return failed('jwt', AUTH_REASONS.clientIdMismatch);
      }
      succeeded('jwt');
      // Sent without a user name, the token's identity claim is the user name (for ACLs, %u); the
      // connection ends when the token does, unless the client re-authenticates (jwt-enhanced-auth.ts).
      const verdict: AuthVerdict = { verdict: 'allow' };
      if (identity !== undefined) verdict.username = identity;
      const expiresAt = tokenExpiry(claims);
      if (expiresAt !== undefined) verdict.expiresAt = expiresAt;
      return verdict;
    }
    if (!passwords || username === undefined) return failed('none', AUTH_REASONS.noMethod);
    let ok: boolean;
    try {
      ok = await passwords.verify(username, password);
    } catch (err) {
      return failed('password', redactedReason(err));
    }
    return ok ? succeeded('password') : failed('password', AUTH_REASONS.wrongPassword);
  };
}

/** A token's `exp` (seconds) as wall-clock milliseconds. */
export function tokenExpiry(claims: JwtClaims): number | undefined {
  return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
}
