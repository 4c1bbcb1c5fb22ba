/**
 * Trust lists: which signer keys a device accepts. Document (UTF-8 JSON):
 *   {"type": "moat-fw-trust", "sequence": ≥1, "keys": [{"keyId", "alg", "publicKey": base64 SPKI DER}], "revoked": [keyId…]}
 * A device starts from an unsigned pin the operator gives it (a file); a new list is accepted only in an
 * envelope signed by a non-revoked key of the current list, with a greater sequence.
 *
 *   createTrustList(keys, {sequence?, revoked?})  → TrustList (sequence 1 by default)
 *   parseTrustList(bytes | object)                → TrustList   (MOAT_ERR_FW_FORMAT; keyId and alg checked against the key)
 *   encodeTrustList(list)                         → Buffer
 *   loadTrustFile(path)                           → TrustList: a trust list JSON, or one SPKI PEM public key (sequence 1; a private key PEM is refused, MOAT_ERR_FW_KEY)
 *   signTrustList(list, signer)                   → Envelope
 *   acceptTrustUpdate(current, envelope)          → the new TrustList; refusals: FORMAT, REVOKED_SIGNER,
 *                                                   UNKNOWN_SIGNER, SIGNATURE, TRUST_SEQUENCE (sequence ≤ current,
 *                                                   which also covers the retained copy seen again on reconnect,
 *                                                   or > current + MAX_TRUST_SEQUENCE_STEP)
 */
import { readFile } from 'node:fs/promises';
import { FwErr, fwError } from './errors.js';
import { jsonObject } from './json-object.js';
import { decodeBase64, isKeyId, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import { loadPublicKey, publicKeyFromSpki, spkiOf, type PublicSignerKey, type SignerAlg, type SignerKey } from './keys.js';

export const TRUST_TYPE = 'moat-fw-trust';

export interface TrustedKey {
  keyId: string;
  alg: SignerAlg;
  /** base64 of the SPKI DER public key */
  publicKey: string;
}

export interface TrustList {
  type: typeof TRUST_TYPE;
  sequence: number;
  keys: TrustedKey[];
  revoked: string[];
}

export function trustedKey(key: PublicSignerKey): TrustedKey {
  return { keyId: key.keyId, alg: key.alg, publicKey: spkiOf(key.publicKey).toString('base64') };
}

export function createTrustList(keys: readonly PublicSignerKey[], opts: { sequence?: number; revoked?: string[] } = {}): TrustList {
  return parseTrustList({ type: TRUST_TYPE, sequence: opts.sequence ?? 1, keys: keys.map(trustedKey), revoked: opts.revoked ?? [] });
}

function parseKey(value: unknown, i: number): TrustedKey {
  if (typeof value !== 'object' || value === null) throw fwError(FwErr.format, `trust list key ${i} is not an object`);
  const v = value as Record<string, unknown>;
  let key: PublicSignerKey;
  try {
    key = publicKeyFromSpki(decodeBase64(v.publicKey, `trust list key ${i} publicKey`));
  } catch (e) {
    throw fwError(FwErr.format, `trust list key ${i}: publicKey is not an Ed25519 or P-256 SPKI key`, e);
  }
  // The id and alg are derived from the key; a list that says otherwise is wrong, not a second name.
  if (v.keyId !== key.keyId) throw fwError(FwErr.format, `trust list key ${i}: keyId ${JSON.stringify(v.keyId)} is not the key's id ${key.keyId}`);
  if (v.alg !== key.alg) throw fwError(FwErr.format, `trust list key ${i}: alg ${JSON.stringify(v.alg)} is not the key's ${key.alg}`);
  return { keyId: key.keyId, alg: key.alg, publicKey: v.publicKey as string };
}

export function parseTrustList(input: Buffer | string | object): TrustList {
  const v = jsonObject(input, 'trust list');
  if (v.type !== TRUST_TYPE) throw fwError(FwErr.format, `trust list type is not ${TRUST_TYPE}`);
  if (!Number.isSafeInteger(v.sequence) || (v.sequence as number) < 1) throw fwError(FwErr.format, 'trust list sequence is not an integer ≥ 1');
  if (!Array.isArray(v.keys)) throw fwError(FwErr.format, 'trust list keys is not an array');
  if (!Array.isArray(v.revoked) || !v.revoked.every(isKeyId)) throw fwError(FwErr.format, 'trust list revoked is not an array of key ids');
  const keys = v.keys.map(parseKey);
  if (new Set(keys.map((k) => k.keyId)).size !== keys.length) throw fwError(FwErr.format, 'trust list names a key twice');
  return { type: TRUST_TYPE, sequence: v.sequence as number, keys, revoked: [...(v.revoked as string[])] };
}

export function encodeTrustList(list: TrustList): Buffer {
  const { type, sequence, keys, revoked } = list;
  return Buffer.from(JSON.stringify({ type, sequence, keys, revoked }), 'utf8');
}

/** The operator's initial pin: a trust list JSON file, or a single PEM key (a list of that key, sequence 1). */
export async function loadTrustFile(path: string): Promise<TrustList> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw fwError(FwErr.format, `cannot read trust file ${path}`, e);
  }
  if (text.trimStart().startsWith('-----BEGIN')) return createTrustList([await loadPublicKey(path)]);
  return parseTrustList(text);
}

export function signTrustList(list: TrustList, signer: SignerKey): Envelope {
  return signEnvelope(encodeTrustList(parseTrustList(list)), signer);
}

/**
 * How far one signed update may move the sequence. Without a bound, a thief of a pinned key could sign a
 * list with sequence 2^53 − 1: no pin could ever be greater, so the device could not be re-pinned. With
 * it, each of their updates gains at most 2^20; an operator re-pins with a sequence far above (see
 * docs/firmware.md, "Re-pinning").
 */
export const MAX_TRUST_SEQUENCE_STEP = 2 ** 20;

export function acceptTrustUpdate(current: TrustList, update: Buffer | string | Envelope): TrustList {
  const next = parseTrustList(verifyEnvelope(update, current));
  if (next.sequence <= current.sequence) {
    throw fwError(FwErr.trustSequence, `trust list sequence ${next.sequence} is not greater than the current ${current.sequence}`);
  }
  if (next.sequence > current.sequence + MAX_TRUST_SEQUENCE_STEP) {
    throw fwError(FwErr.trustSequence, `trust list sequence ${next.sequence} jumps more than ${MAX_TRUST_SEQUENCE_STEP} past the current ${current.sequence}`);
  }
  return next;
}
