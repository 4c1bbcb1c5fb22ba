/**
 * JWT verification (RFC 7519 / 7515) for HS256, RS256 and ES256 with node:crypto only.
 *
 * Keys are typed, and an algorithm is only ever tried with a key of its own type: HS256 with a configured
 * HMAC secret, RS256 with an RSA public key, ES256 with a P-256 key. That closes algorithm confusion (an
 * HS256 token "signed" with the server's public key as the secret) and `alg: none` by construction.
 * Every failure is a MoatError with its own code and reason code 0x86 (Bad User Name or Password);
 * messages never contain the token.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify, constants, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { MoatError } from '../codec/index.js';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'RS256', 'ES256'];

export type JwtClaims = Record<string, unknown> & {
  sub?: unknown; iss?: unknown; aud?: unknown; exp?: unknown; nbf?: unknown; iat?: unknown;
};

/** One verification key: an HMAC secret, or a public key with the algorithm family it serves. */
export type JwtKey =
  | { kind: 'hmac'; kid?: string; secret: Buffer }
  | { kind: 'rsa' | 'ec'; kid?: string; key: KeyObject; alg?: JwtAlgorithm };

export interface JwtVerifierOptions {
  /** Algorithms accepted (default: those the configured keys can verify). `none` is never accepted. */
  algorithms?: JwtAlgorithm[];
  /** HS256 secret, at least 32 bytes [RFC 7518 3.2]. */
  secret?: string | Buffer;
  /** RS256/ES256 public key (PEM: SPKI, certificate, or a private key whose public half is used). */
  publicKey?: string | Buffer | KeyObject;
  /** Keys from a JWKS file (see loadJwks), looked up by `kid`. */
  jwks?: JwtKey[];
  /**
   * Accepted `aud` values: the token's `aud` (string or array) must contain one of them. Required so a
   * token minted for another service is not accepted by accident; `null` switches the check off.
   */
  audience: string | string[] | null;
  /** Accepted `iss` values, when given. */
  issuer?: string | string[];
  /** Tolerance for `exp` and `nbf`, seconds (default 30). */
  clockSkewSeconds?: number;
  /** Tokens without `exp` are refused unless this is false (default true). */
  requireExpiration?: boolean;
  /** Longest token accepted, characters (default 8192). */
  maxLength?: number;
  clock?: { now(): number };
}

const BAD_CREDENTIALS = 0x86;
const fail = (code: string, message: string, cause?: unknown): MoatError =>
  new MoatError(code, message, { reasonCode: BAD_CREDENTIALS, cause });
const config = (message: string, cause?: unknown): MoatError => new MoatError('MOAT_ERR_CONFIG', message, { cause });

/** The error codes verify() may throw, for documentation and switch statements. */
export const JWT_ERROR_CODES = [
  'MOAT_ERR_JWT_MALFORMED', 'MOAT_ERR_JWT_ALGORITHM', 'MOAT_ERR_JWT_KEY_UNKNOWN', 'MOAT_ERR_JWT_SIGNATURE',
  'MOAT_ERR_JWT_EXPIRED', 'MOAT_ERR_JWT_NOT_YET_VALID', 'MOAT_ERR_JWT_AUDIENCE', 'MOAT_ERR_JWT_ISSUER', 'MOAT_ERR_JWT_CLAIMS',
] as const;

const SEGMENT = /^[A-Za-z0-9_-]*$/;
const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

/** True when `value` has the shape of a compact JWS (three base64url segments): worth trying as a token. */
export function looksLikeJwt(value: string | Buffer): boolean {
  const s = typeof value === 'string' ? value : value.toString('latin1');
  return s.length <= 65535 && s.startsWith('eyJ') && JWT_SHAPE.test(s);
}

function decodeSegment(s: string, what: string): Buffer {
  if (!SEGMENT.test(s) || s.length % 4 === 1) throw fail('MOAT_ERR_JWT_MALFORMED', `the ${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

function decodeJson(s: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeSegment(s, what).toString('utf8'));
  } catch (err) {
    if (err instanceof MoatError) throw err;
    throw fail('MOAT_ERR_JWT_MALFORMED', `the ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('MOAT_ERR_JWT_MALFORMED', `the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function familyOf(alg: JwtAlgorithm): JwtKey['kind'] {
  return alg === 'HS256' ? 'hmac' : alg === 'RS256' ? 'rsa' : 'ec';
}

/** Checks a public key is one we can use safely and says which family it serves. */
function typedPublicKey(key: KeyObject, what: string): { kind: 'rsa' | 'ec'; key: KeyObject } {
  if (key.type !== 'public') throw config(`${what}: expected a public key`);
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw config(`${what}: RSA keys must have at least 2048 bits`);
    return { kind: 'rsa', key };
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') throw config(`${what}: only the P-256 curve is supported (ES256)`);
    return { kind: 'ec', key };
  }
  throw config(`${what}: unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (RSA or EC P-256)`);
}

function hmacSecret(secret: string | Buffer): Buffer {
  const s = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  // A PEM as an HMAC secret is the algorithm-confusion setup: refuse it outright.
  if (s.toString('latin1').includes('-----BEGIN')) throw config('jwt secret: a PEM key is not an HMAC secret; use publicKey');
  if (s.length < 32) throw config('jwt secret: must be at least 32 bytes (RFC 7518 3.2)');
  return s;
}

/** Parses a JWKS document (`{"keys": [...]}`): RSA and EC P-256 public keys; other entries are refused. */
export function parseJwks(text: string, source = 'JWKS'): JwtKey[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new MoatError('MOAT_ERR_JWKS', `${source}: not JSON`, { cause: err });
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new MoatError('MOAT_ERR_JWKS', `${source}: expected {"keys": [...]}`);
  const out: JwtKey[] = [];
  keys.forEach((jwk: unknown, i) => {
    const at = `${source} keys[${i}]`;
    if (typeof jwk !== 'object' || jwk === null) throw new MoatError('MOAT_ERR_JWKS', `${at}: not an object`);
    const j = jwk as JsonWebKey & { kid?: unknown; use?: unknown; alg?: unknown };
    if (j.use !== undefined && j.use !== 'sig') return; // encryption keys are not for us
    if (j.kid !== undefined && typeof j.kid !== 'string') throw new MoatError('MOAT_ERR_JWKS', `${at}: kid must be a string`);
    if (j.alg !== undefined && !JWT_ALGORITHMS.includes(j.alg as JwtAlgorithm)) return; // an algorithm we do not do
    if (j.kty !== 'RSA' && j.kty !== 'EC') throw new MoatError('MOAT_ERR_JWKS', `${at}: kty must be RSA or EC`);
    if (j.d !== undefined) throw new MoatError('MOAT_ERR_JWKS', `${at}: a private key has no place in a JWKS file`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: j, format: 'jwk' });
    } catch (err) {
      throw new MoatError('MOAT_ERR_JWKS', `${at}: not a valid ${j.kty} key`, { cause: err });
    }
    let typed: { kind: 'rsa' | 'ec'; key: KeyObject };
    try {
      typed = typedPublicKey(key, at);
    } catch (err) {
      throw new MoatError('MOAT_ERR_JWKS', (err as Error).message);
    }
    const alg = j.alg as JwtAlgorithm | undefined;
    if (alg !== undefined && familyOf(alg) !== typed.kind) throw new MoatError('MOAT_ERR_JWKS', `${at}: alg ${alg} does not fit a ${j.kty} key`);
    out.push({ ...typed, ...(j.kid !== undefined ? { kid: j.kid } : {}), ...(alg ? { alg } : {}) });
  });
  return out;
}

/** Reads a JWKS file; MOAT_ERR_JWKS when it cannot be read or parsed. */
export async function loadJwks(path: string): Promise<JwtKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MoatError('MOAT_ERR_JWKS', `cannot read JWKS file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return parseJwks(text, path);
}

export class JwtVerifier {
  private readonly keys: JwtKey[] = [];
  private jwks: JwtKey[] = [];
  /** Explicitly allowed algorithms; undefined: whatever the current keys can verify (JWKS reloads included). */
  private readonly algorithms: Set<JwtAlgorithm> | undefined;
  private readonly audience: string[] | null;
  private readonly issuer: string[] | undefined;
  private readonly skew: number;
  private readonly requireExp: boolean;
  private readonly maxLength: number;
  private readonly clock: { now(): number };

  constructor(options: JwtVerifierOptions) {
    if (options.secret !== undefined) this.keys.push({ kind: 'hmac', secret: hmacSecret(options.secret) });
    if (options.publicKey !== undefined) {
      let key: KeyObject;
      try {
        key = typeof options.publicKey === 'object' && !Buffer.isBuffer(options.publicKey)
          ? options.publicKey
          : createPublicKey(options.publicKey);
      } catch (err) {
        throw config('jwt publicKey: not a PEM public key, certificate or private key', err);
      }
      if (key.type === 'private') key = createPublicKey(key);
      this.keys.push(typedPublicKey(key, 'jwt publicKey'));
    }
    this.jwks = options.jwks ?? [];
    if (this.keys.length === 0 && this.jwks.length === 0) throw config('jwt: configure a secret, a publicKey or a JWKS file');
    for (const a of options.algorithms ?? []) {
      if (!JWT_ALGORITHMS.includes(a)) throw config(`jwt algorithms: ${String(a)} is not supported (HS256, RS256, ES256)`);
    }
    this.algorithms = options.algorithms ? new Set(options.algorithms) : undefined;
    if (options.audience === undefined) throw config('jwt audience: required (null to accept any audience)');
    this.audience = options.audience === null ? null : [options.audience].flat();
    this.issuer = options.issuer === undefined ? undefined : [options.issuer].flat();
    this.skew = options.clockSkewSeconds ?? 30;
    this.requireExp = options.requireExpiration ?? true;
    this.maxLength = options.maxLength ?? 8192;
    this.clock = options.clock ?? { now: () => Date.now() };
  }

  /** Swaps in the keys of a reloaded JWKS file; tokens verified afterwards use them. */
  setJwks(keys: JwtKey[]): void {
    this.jwks = keys;
  }

  /** Verifies a compact JWS and its registered claims; returns the claims or throws one of JWT_ERROR_CODES. */
  verify(token: string): JwtClaims {
    if (token.length > this.maxLength) throw fail('MOAT_ERR_JWT_MALFORMED', `the token is longer than ${this.maxLength} characters`);
    const parts = token.split('.');
    if (parts.length !== 3) throw fail('MOAT_ERR_JWT_MALFORMED', 'a token has three dot-separated parts');
    const [h, p, s] = parts as [string, string, string];
    const header = decodeJson(h, 'header');
    if (header['crit'] !== undefined) throw fail('MOAT_ERR_JWT_MALFORMED', 'the crit header names extensions this verifier does not understand');
    const alg = header['alg'];
    if (typeof alg !== 'string' || !JWT_ALGORITHMS.includes(alg as JwtAlgorithm) || (this.algorithms && !this.algorithms.has(alg as JwtAlgorithm))) {
      throw fail('MOAT_ERR_JWT_ALGORITHM', `algorithm ${typeof alg === 'string' ? JSON.stringify(alg.slice(0, 16)) : 'missing'} is not allowed`);
    }
    const kid = header['kid'];
    if (kid !== undefined && typeof kid !== 'string') throw fail('MOAT_ERR_JWT_MALFORMED', 'kid must be a string');
    const signature = decodeSegment(s, 'signature');
    const input = Buffer.from(`${h}.${p}`, 'latin1');
    const candidates = this.candidates(alg as JwtAlgorithm, kid);
    if (!candidates.some((k) => checkSignature(alg as JwtAlgorithm, k, input, signature))) throw fail('MOAT_ERR_JWT_SIGNATURE', 'the signature does not verify');
    // Claims are only looked at once the signature holds: nothing unauthenticated is trusted or echoed.
    const claims = decodeJson(p, 'payload') as JwtClaims;
    this.checkClaims(claims);
    return claims;
  }

  private candidates(alg: JwtAlgorithm, kid: string | undefined): JwtKey[] {
    const kind = familyOf(alg);
    const fits = (k: JwtKey): boolean => k.kind === kind && (k.kind === 'hmac' || k.alg === undefined || k.alg === alg);
    if (kid !== undefined && this.jwks.length > 0) {
      const byKid = this.jwks.filter((k) => k.kid === kid);
      if (byKid.length > 0) {
        const usable = byKid.filter(fits);
        if (usable.length === 0) throw fail('MOAT_ERR_JWT_ALGORITHM', `key ${JSON.stringify(kid.slice(0, 64))} is not a ${alg} key`);
        return usable;
      }
      const configured = this.keys.filter(fits);
      if (configured.length === 0) throw fail('MOAT_ERR_JWT_KEY_UNKNOWN', `no key with kid ${JSON.stringify(kid.slice(0, 64))}`);
      return configured;
    }
    const all = [...this.keys, ...this.jwks].filter(fits);
    if (all.length === 0) {
      throw kind === 'hmac' || this.keys.length > 0 ? fail('MOAT_ERR_JWT_ALGORITHM', `no ${alg} key is configured`) : fail('MOAT_ERR_JWT_KEY_UNKNOWN', `no ${alg} key in the JWKS`);
    }
    return all;
  }

  private checkClaims(c: JwtClaims): void {
    const now = this.clock.now() / 1000;
    for (const name of ['exp', 'nbf', 'iat'] as const) {
      if (c[name] !== undefined && (typeof c[name] !== 'number' || !Number.isFinite(c[name]))) throw fail('MOAT_ERR_JWT_CLAIMS', `${name} must be a number`);
    }
    const exp = c.exp as number | undefined;
    if (exp === undefined && this.requireExp) throw fail('MOAT_ERR_JWT_CLAIMS', 'the token has no exp');
    if (exp !== undefined && now >= exp + this.skew) throw fail('MOAT_ERR_JWT_EXPIRED', 'the token has expired');
    const nbf = c.nbf as number | undefined;
    if (nbf !== undefined && now + this.skew < nbf) throw fail('MOAT_ERR_JWT_NOT_YET_VALID', 'the token is not valid yet (nbf)');
    if (this.audience !== null) {
      const aud = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : undefined;
      if (aud === undefined || !aud.every((a) => typeof a === 'string')) throw fail('MOAT_ERR_JWT_AUDIENCE', 'the token has no valid aud');
      if (!aud.some((a) => this.audience!.includes(a as string))) throw fail('MOAT_ERR_JWT_AUDIENCE', 'the token is for another audience');
    }
    if (this.issuer !== undefined && (typeof c.iss !== 'string' || !this.issuer.includes(c.iss))) throw fail('MOAT_ERR_JWT_ISSUER', 'the token is from another issuer');
  }
}

function checkSignature(alg: JwtAlgorithm, key: JwtKey, input: Buffer, signature: Buffer): boolean {
  if (key.kind === 'hmac') {
    const mac = createHmac('sha256', key.secret).update(input).digest();
    return mac.length === signature.length && timingSafeEqual(mac, signature);
  }
  try {
    if (alg === 'RS256') return verify('sha256', input, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, signature);
    // JOSE carries ECDSA signatures as raw r||s (64 bytes for P-256), not DER.
    return signature.length === 64 && verify('sha256', input, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false; // a signature of the wrong size or shape simply does not verify
  }
}

/**
 * The MQTT identity a token speaks for: the string value of `claim` (default `sub`), or undefined when
 * the claim is missing or not a non-empty string.
 */
export function identityFromClaims(claims: JwtClaims, claim = 'sub'): string | undefined {
  const v = claims[claim];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
