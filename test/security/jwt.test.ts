/**
 * JWT verification with keys generated here and tokens signed here with node:crypto: HS256, RS256,
 * ES256, JWKS by kid, and every rejection by its code (expired, not yet valid, audience, issuer,
 * signature, alg none, algorithm confusion, unknown kid).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMoatError } from '../../src/codec/index.js';
import { JwtVerifier, identityFromClaims, loadJwks, looksLikeJwt, parseJwks, type JwtVerifierOptions } from '../../src/security/jwt.js';
import { ManualClock } from '../support/manual-clock.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const secret = randomBytes(32);
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Signs a token the way an issuer would; `key` is an HMAC secret or a private KeyObject. */
function mint(header: Record<string, unknown>, claims: Record<string, unknown>, key: Buffer | string | KeyObject): string {
  const input = `${b64(header)}.${b64(claims)}`;
  let sig: Buffer;
  if (header['alg'] === 'HS256') sig = createHmac('sha256', key as Buffer | string).update(input).digest();
  else if (header['alg'] === 'RS256') sig = sign('sha256', Buffer.from(input), key as KeyObject);
  else if (header['alg'] === 'ES256') sig = sign('sha256', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else sig = Buffer.alloc(0);
  return `${input}.${sig.toString('base64url')}`;
}

const clock = new ManualClock(1_700_000_000_000);
const now = (): number => Math.floor(clock.now() / 1000);
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ sub: 'device-1', aud: 'mqtt', iat: now(), exp: now() + 600, ...extra });
const verifier = (o: Partial<JwtVerifierOptions>): JwtVerifier => new JwtVerifier({ audience: 'mqtt', clock, ...o });
const rejects = (v: JwtVerifier, token: string, code: string): void => {
  assert.throws(() => v.verify(token), (err: unknown) => {
    assert.ok(isMoatError(err, code), `expected ${code}, got ${String((err as { code?: string }).code)}: ${String(err)}`);
    assert.equal(err.reasonCode, 0x86);
    assert.ok(!err.message.includes(token), 'the token is never in the message');
    return true;
  });
};

test('valid HS256, RS256 and ES256 tokens verify and return their claims', () => {
  const hs = verifier({ secret });
  assert.equal(hs.verify(mint({ alg: 'HS256', typ: 'JWT' }, claims(), secret)).sub, 'device-1');
  const rs = verifier({ publicKey: rsaPem });
  assert.equal(rs.verify(mint({ alg: 'RS256' }, claims({ sub: 'r' }), rsa.privateKey)).sub, 'r');
  const es = verifier({ publicKey: ecPem });
  const c = es.verify(mint({ alg: 'ES256' }, claims({ sub: 'e', custom: [1, 2] }), ec.privateKey));
  assert.equal(c.sub, 'e');
  assert.deepEqual(c['custom'], [1, 2]);
  // A KeyObject, and a private key (its public half is used), work as configured keys too.
  assert.equal(verifier({ publicKey: ec.publicKey }).verify(mint({ alg: 'ES256' }, claims(), ec.privateKey)).sub, 'device-1');
  assert.equal(verifier({ publicKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) }).verify(mint({ alg: 'RS256' }, claims(), rsa.privateKey)).sub, 'device-1');
});

test('wrong signature: another key, a flipped bit, a DER ECDSA signature, a tampered payload', () => {
  const rs = verifier({ publicKey: rsaPem });
  rejects(rs, mint({ alg: 'RS256' }, claims(), rsa2.privateKey), 'MOAT_ERR_JWT_SIGNATURE');
  const good = mint({ alg: 'RS256' }, claims(), rsa.privateKey);
  const [h, p, s] = good.split('.') as [string, string, string];
  const flipped = Buffer.from(s, 'base64url');
  flipped[10] = flipped[10]! ^ 1;
  rejects(rs, `${h}.${p}.${flipped.toString('base64url')}`, 'MOAT_ERR_JWT_SIGNATURE');
  rejects(rs, `${h}.${b64(claims({ sub: 'admin' }))}.${s}`, 'MOAT_ERR_JWT_SIGNATURE');
  rejects(rs, `${h}.${p}.`, 'MOAT_ERR_JWT_SIGNATURE');
  const es = verifier({ publicKey: ecPem });
  rejects(es, mint({ alg: 'ES256' }, claims(), ec2.privateKey), 'MOAT_ERR_JWT_SIGNATURE');
  const input = `${b64({ alg: 'ES256' })}.${b64(claims())}`;
  const der = sign('sha256', Buffer.from(input), ec.privateKey); // DER, as JOSE does not use
  rejects(es, `${input}.${der.toString('base64url')}`, 'MOAT_ERR_JWT_SIGNATURE');
  const hs = verifier({ secret });
  rejects(hs, mint({ alg: 'HS256' }, claims(), randomBytes(32)), 'MOAT_ERR_JWT_SIGNATURE');
});

test('expired and not-yet-valid tokens are refused beyond the clock skew (default 30 s), accepted within it', () => {
  const v = verifier({ secret });
  const hs = (c: Record<string, unknown>): string => mint({ alg: 'HS256' }, claims(c), secret);
  assert.equal(v.verify(hs({ exp: now() - 29 })).sub, 'device-1');
  rejects(v, hs({ exp: now() - 30 }), 'MOAT_ERR_JWT_EXPIRED');
  rejects(v, hs({ exp: now() - 3600 }), 'MOAT_ERR_JWT_EXPIRED');
  assert.equal(v.verify(hs({ nbf: now() + 30 })).sub, 'device-1');
  rejects(v, hs({ nbf: now() + 31 }), 'MOAT_ERR_JWT_NOT_YET_VALID');
  const strict = verifier({ secret, clockSkewSeconds: 0 });
  rejects(strict, hs({ exp: now() }), 'MOAT_ERR_JWT_EXPIRED');
  rejects(strict, hs({ nbf: now() + 1 }), 'MOAT_ERR_JWT_NOT_YET_VALID');
  // The verifier reads its injected clock on every call: a token valid now expires later.
  const t = hs({ exp: now() + 60 });
  assert.equal(v.verify(t).sub, 'device-1');
  clock.advance(91_000);
  rejects(v, t, 'MOAT_ERR_JWT_EXPIRED');
  clock.advance(-91_000);
});

test('exp is required by default; registered claims must be numbers', () => {
  const v = verifier({ secret });
  rejects(v, mint({ alg: 'HS256' }, { sub: 'x', aud: 'mqtt' }, secret), 'MOAT_ERR_JWT_CLAIMS');
  rejects(v, mint({ alg: 'HS256' }, claims({ exp: String(now() + 600) }), secret), 'MOAT_ERR_JWT_CLAIMS');
  rejects(v, mint({ alg: 'HS256' }, claims({ nbf: null }), secret), 'MOAT_ERR_JWT_CLAIMS');
  const lax = verifier({ secret, requireExpiration: false });
  assert.equal(lax.verify(mint({ alg: 'HS256' }, { sub: 'x', aud: 'mqtt' }, secret)).sub, 'x');
});

test('aud: a string or an array containing an accepted audience; missing or other is refused', () => {
  const v = verifier({ secret, audience: ['mqtt', 'mqtt-eu'] });
  const hs = (c: Record<string, unknown>): string => mint({ alg: 'HS256' }, claims(c), secret);
  assert.ok(v.verify(hs({ aud: 'mqtt-eu' })));
  assert.ok(v.verify(hs({ aud: ['billing', 'mqtt'] })));
  rejects(v, hs({ aud: 'billing' }), 'MOAT_ERR_JWT_AUDIENCE');
  rejects(v, hs({ aud: ['billing', 'web'] }), 'MOAT_ERR_JWT_AUDIENCE');
  rejects(v, hs({ aud: undefined }), 'MOAT_ERR_JWT_AUDIENCE');
  rejects(v, hs({ aud: ['mqtt', 7] }), 'MOAT_ERR_JWT_AUDIENCE');
  assert.ok(verifier({ secret, audience: null }).verify(hs({ aud: 'anything' })), 'null switches the check off');
  assert.throws(() => new JwtVerifier({ secret } as unknown as JwtVerifierOptions), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
});

test('iss: checked when an issuer is configured', () => {
  const v = verifier({ secret, issuer: 'https://idp.example' });
  assert.ok(v.verify(mint({ alg: 'HS256' }, claims({ iss: 'https://idp.example' }), secret)));
  rejects(v, mint({ alg: 'HS256' }, claims({ iss: 'https://evil.example' }), secret), 'MOAT_ERR_JWT_ISSUER');
  rejects(v, mint({ alg: 'HS256' }, claims(), secret), 'MOAT_ERR_JWT_ISSUER');
});

test('alg none, unknown algorithms and algorithms outside the allowed list are refused', () => {
  const v = verifier({ secret, publicKey: rsaPem });
  rejects(v, `${b64({ alg: 'none' })}.${b64(claims())}.`, 'MOAT_ERR_JWT_ALGORITHM');
  rejects(v, `${b64({ alg: 'None' })}.${b64(claims())}.`, 'MOAT_ERR_JWT_ALGORITHM');
  rejects(v, `${b64({})}.${b64(claims())}.`, 'MOAT_ERR_JWT_ALGORITHM');
  rejects(v, mint({ alg: 'HS512' }, claims(), secret), 'MOAT_ERR_JWT_ALGORITHM');
  const rsOnly = verifier({ secret, publicKey: rsaPem, algorithms: ['RS256'] });
  rejects(rsOnly, mint({ alg: 'HS256' }, claims(), secret), 'MOAT_ERR_JWT_ALGORITHM');
  assert.ok(rsOnly.verify(mint({ alg: 'RS256' }, claims(), rsa.privateKey)));
  assert.throws(() => verifier({ secret, algorithms: ['none' as 'HS256'] }), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
});

test('algorithm confusion: an HS256 token "signed" with the RSA or EC public key PEM as the secret fails', () => {
  for (const [pem, v] of [[rsaPem, verifier({ publicKey: rsaPem })], [ecPem, verifier({ publicKey: ecPem })]] as const) {
    rejects(v, mint({ alg: 'HS256' }, claims(), pem), 'MOAT_ERR_JWT_ALGORITHM');
    // Even when HS256 is listed as allowed, a public key never serves as an HMAC secret.
    const listed = verifier({ publicKey: pem, algorithms: ['HS256', 'RS256', 'ES256'] });
    rejects(listed, mint({ alg: 'HS256' }, claims(), pem), 'MOAT_ERR_JWT_ALGORITHM');
  }
  // An RSA token against an EC key (and the reverse) is refused the same way.
  rejects(verifier({ publicKey: ecPem }), mint({ alg: 'RS256' }, claims(), rsa.privateKey), 'MOAT_ERR_JWT_ALGORITHM');
  rejects(verifier({ publicKey: rsaPem }), mint({ alg: 'ES256' }, claims(), ec.privateKey), 'MOAT_ERR_JWT_ALGORITHM');
  // And a PEM cannot be configured as the HMAC secret in the first place.
  assert.throws(() => verifier({ secret: rsaPem }), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
});

test('configuration is refused when unsafe: short secret, small RSA key, other curves, no key at all', () => {
  const config = (e: unknown): boolean => isMoatError(e, 'MOAT_ERR_CONFIG');
  assert.throws(() => verifier({ secret: 'short' }), config);
  assert.throws(() => verifier({}), config);
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  assert.throws(() => verifier({ publicKey: small.publicKey }), config);
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  assert.throws(() => verifier({ publicKey: p384.publicKey }), config);
  const ed = generateKeyPairSync('ed25519');
  assert.throws(() => verifier({ publicKey: ed.publicKey }), config);
  assert.throws(() => verifier({ publicKey: 'not a pem' }), config);
});

test('malformed tokens: parts, base64url, JSON, crit, length', () => {
  const v = verifier({ secret });
  const good = mint({ alg: 'HS256' }, claims(), secret);
  rejects(v, 'abc', 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, `${good}.x`, 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, `${b64('not json')}.${b64(claims())}.x`, 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, `${b64([1])}.${b64(claims())}.x`, 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, `ey+J.${b64(claims())}.x`, 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, mint({ alg: 'HS256', crit: ['exp'] }, claims(), secret), 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, mint({ alg: 'HS256', kid: 5 }, claims(), secret), 'MOAT_ERR_JWT_MALFORMED');
  rejects(v, mint({ alg: 'HS256' }, claims({ pad: 'x'.repeat(9000) }), secret), 'MOAT_ERR_JWT_MALFORMED');
  const signedGarbage = `${b64({ alg: 'HS256' })}.${b64('[]')}`;
  rejects(v, `${signedGarbage}.${createHmac('sha256', secret).update(signedGarbage).digest('base64url')}`, 'MOAT_ERR_JWT_MALFORMED');
});

test('JWKS file: keys found by kid (RSA and EC), unknown kid refused, key type checked against alg', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moat-jwks-'));
  const path = join(dir, 'jwks.json');
  const jwk = (k: KeyObject, kid: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ ...k.export({ format: 'jwk' }), kid, use: 'sig', ...extra });
  await writeFile(path, JSON.stringify({ keys: [
    jwk(rsa.publicKey, 'r1', { alg: 'RS256' }), jwk(rsa2.publicKey, 'r2'), jwk(ec.publicKey, 'e1'),
    { ...jwk(ec2.publicKey, 'enc'), use: 'enc' }, // not a signing key: ignored
  ] }));
  const keys = await loadJwks(path);
  assert.equal(keys.length, 3);
  const v = verifier({ jwks: keys });
  assert.equal(v.verify(mint({ alg: 'RS256', kid: 'r1' }, claims({ sub: 'a' }), rsa.privateKey)).sub, 'a');
  assert.equal(v.verify(mint({ alg: 'RS256', kid: 'r2' }, claims({ sub: 'b' }), rsa2.privateKey)).sub, 'b');
  assert.equal(v.verify(mint({ alg: 'ES256', kid: 'e1' }, claims({ sub: 'c' }), ec.privateKey)).sub, 'c');
  rejects(v, mint({ alg: 'RS256', kid: 'r1' }, claims(), rsa2.privateKey), 'MOAT_ERR_JWT_SIGNATURE');
  rejects(v, mint({ alg: 'RS256', kid: 'nope' }, claims(), rsa.privateKey), 'MOAT_ERR_JWT_KEY_UNKNOWN');
  rejects(v, mint({ alg: 'ES256', kid: 'enc' }, claims(), ec2.privateKey), 'MOAT_ERR_JWT_KEY_UNKNOWN');
  rejects(v, mint({ alg: 'ES256', kid: 'r1' }, claims(), ec.privateKey), 'MOAT_ERR_JWT_ALGORITHM');
  rejects(v, mint({ alg: 'HS256', kid: 'r1' }, claims(), rsaPem), 'MOAT_ERR_JWT_ALGORITHM');
  rejects(v, mint({ alg: 'HS256' }, claims(), rsaPem), 'MOAT_ERR_JWT_ALGORITHM');
  // Without a kid every key of the right type is a candidate.
  assert.equal(v.verify(mint({ alg: 'RS256' }, claims({ sub: 'd' }), rsa2.privateKey)).sub, 'd');
  // Reloaded keys take effect for later tokens.
  v.setJwks(parseJwks(JSON.stringify({ keys: [jwk(ec2.publicKey, 'e2')] })));
  assert.equal(v.verify(mint({ alg: 'ES256', kid: 'e2' }, claims({ sub: 'e' }), ec2.privateKey)).sub, 'e');
  rejects(v, mint({ alg: 'RS256', kid: 'r1' }, claims(), rsa.privateKey), 'MOAT_ERR_JWT_KEY_UNKNOWN');  // Without an explicit list the algorithms follow the keys: an RSA-only set reloaded with an EC key takes ES256.
  const follows = verifier({ jwks: parseJwks(JSON.stringify({ keys: [jwk(rsa.publicKey, 'r1')] })) });
  rejects(follows, mint({ alg: 'ES256', kid: 'e1' }, claims(), ec.privateKey), 'MOAT_ERR_JWT_KEY_UNKNOWN');
  follows.setJwks(parseJwks(JSON.stringify({ keys: [jwk(ec.publicKey, 'e1')] })));
  assert.equal(follows.verify(mint({ alg: 'ES256', kid: 'e1' }, claims({ sub: 'f' }), ec.privateKey)).sub, 'f');
  // An explicit list stays the list.
  const pinned = verifier({ jwks: keys, algorithms: ['RS256'] });
  rejects(pinned, mint({ alg: 'ES256', kid: 'e1' }, claims(), ec.privateKey), 'MOAT_ERR_JWT_ALGORITHM');
});

test('JWKS files that are broken, hold private keys or unsupported keys are MOAT_ERR_JWKS', async () => {
  const jwks = (e: unknown): boolean => isMoatError(e, 'MOAT_ERR_JWKS');
  assert.throws(() => parseJwks('{'), jwks);
  assert.throws(() => parseJwks('{"keys": {}}'), jwks);
  assert.throws(() => parseJwks(JSON.stringify({ keys: [{ kty: 'oct', k: 'AAAA' }] })), jwks);
  assert.throws(() => parseJwks(JSON.stringify({ keys: [ec.privateKey.export({ format: 'jwk' })] })), jwks);
  assert.throws(() => parseJwks(JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] })), jwks);
  assert.throws(() => parseJwks(JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), alg: 'RS256' }] })), jwks);
  assert.throws(() => parseJwks(JSON.stringify({ keys: [generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })] })), jwks);
  await assert.rejects(loadJwks(join(tmpdir(), 'moat-no-such-jwks.json')), jwks);
});

test('identityFromClaims maps a claim to the MQTT identity; looksLikeJwt spots token-shaped passwords', () => {
  assert.equal(identityFromClaims({ sub: 'dev-7' }), 'dev-7');
  assert.equal(identityFromClaims({ sub: 'x', client_id: 'c-1' }, 'client_id'), 'c-1');
  assert.equal(identityFromClaims({ sub: '' }), undefined);
  assert.equal(identityFromClaims({ sub: 7 }), undefined);
  assert.equal(identityFromClaims({}), undefined);
  const token = mint({ alg: 'HS256' }, claims(), secret);
  assert.equal(looksLikeJwt(token), true);
  assert.equal(looksLikeJwt(Buffer.from(token)), true);
  assert.equal(looksLikeJwt('correct horse battery staple'), false);
  assert.equal(looksLikeJwt('a.b.c'), false);
});
