/**
 * Signed envelopes: `{"payload": base64(bytes), "alg", "keyId", "sig": base64}` as UTF-8 JSON. The
 * signature covers the payload bytes exactly as carried, so nothing is canonicalised. Ed25519 signs the
 * bytes; ECDSA P-256 signs SHA-256 of them with a DER signature (Node's default).
 *
 *   signEnvelope(payload, signer)      → Envelope
 *   encodeEnvelope(envelope)           → Buffer (JSON)
 *   parseEnvelope(bytes | Envelope)    → Envelope                       (MOAT_ERR_FW_FORMAT)
 *   verifyEnvelope(input, keys)        → Buffer: the verified payload bytes
 *     order: shape (FORMAT), revoked key id (REVOKED_SIGNER), key id not listed (UNKNOWN_SIGNER),
 *     alg not the key's or signature false (SIGNATURE).
 * `keys` is anything shaped like a trust list ({keys, revoked}); trust.ts builds on this file, not the reverse.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { FwErr, fwError } from './errors.js';
import { jsonObject } from './json-object.js';
import { SIGNER_ALGS, type SignerAlg, type SignerKey } from './keys.js';

export interface Envelope {
  payload: string;
  alg: SignerAlg;
  keyId: string;
  sig: string;
}

/** The part of a trust list the verifier needs: keys by id (base64 SPKI DER) and revoked ids. */
export interface KeySet {
  keys: readonly { keyId: string; alg: SignerAlg; publicKey: string }[];
  revoked: readonly string[];
}

const KEY_ID = /^[0-9a-f]{16}$/;

/** Strict base64: only the canonical spelling decodes (no whitespace, no alternative padding). */
export function decodeBase64(text: unknown, what: string): Buffer {
  if (typeof text !== 'string') throw fwError(FwErr.format, `${what} is not a base64 string`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw fwError(FwErr.format, `${what} is not canonical base64`);
  return bytes;
}

export function isKeyId(text: unknown): text is string {
  return typeof text === 'string' && KEY_ID.test(text);
}

function rawSign(alg: SignerAlg, data: Buffer, key: KeyObject): Buffer {
  return alg === 'ed25519' ? sign(null, data, key) : sign('sha256', data, { key, dsaEncoding: 'der' });
}

function rawVerify(alg: SignerAlg, data: Buffer, key: KeyObject, sig: Buffer): boolean {
  try {
    return alg === 'ed25519' ? verify(null, data, key, sig) : verify('sha256', data, { key, dsaEncoding: 'der' }, sig);
  } catch {
    return false; // malformed DER and the like: simply not a valid signature
  }
}

export function signEnvelope(payload: Buffer | string, signer: SignerKey): Envelope {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const sig = rawSign(signer.alg, bytes, signer.privateKey);
  return { payload: bytes.toString('base64'), alg: signer.alg, keyId: signer.keyId, sig: sig.toString('base64') };
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  const { payload, alg, keyId, sig } = envelope;
  return Buffer.from(JSON.stringify({ payload, alg, keyId, sig }), 'utf8');
}

export function parseEnvelope(input: Buffer | string | Envelope): Envelope {
  const v = jsonObject(input, 'envelope');
  if (!SIGNER_ALGS.includes(v.alg as SignerAlg)) throw fwError(FwErr.format, `envelope alg ${JSON.stringify(v.alg)} is not one of ${SIGNER_ALGS.join(', ')}`);
  if (!isKeyId(v.keyId)) throw fwError(FwErr.format, 'envelope keyId is not 16 lowercase hex characters');
  decodeBase64(v.payload, 'envelope payload');
  decodeBase64(v.sig, 'envelope sig');
  return { payload: v.payload as string, alg: v.alg as SignerAlg, keyId: v.keyId, sig: v.sig as string };
}

export function verifyEnvelope(input: Buffer | string | Envelope, keys: KeySet): Buffer {
  const env = parseEnvelope(input);
  if (keys.revoked.includes(env.keyId)) throw fwError(FwErr.revokedSigner, `signer ${env.keyId} is revoked`);
  const entry = keys.keys.find((k) => k.keyId === env.keyId);
  if (!entry) throw fwError(FwErr.unknownSigner, `signer ${env.keyId} is not in the trust list`);
  if (entry.alg !== env.alg) throw fwError(FwErr.signature, `envelope alg ${env.alg} does not match signer ${env.keyId} (${entry.alg})`);
  const key = createPublicKey({ key: Buffer.from(entry.publicKey, 'base64'), format: 'der', type: 'spki' });
  const payload = Buffer.from(env.payload, 'base64');
  if (!rawVerify(env.alg, payload, key, Buffer.from(env.sig, 'base64'))) {
    throw fwError(FwErr.signature, `signature by ${env.keyId} does not verify`);
  }
  return payload;
}
