/**
 * wolfMQTT's firmware example format (one PUBLISH on `wolfMQTT/example/firmware`), byte for byte as
 * wolfMQTT writes and reads it — checked against wolfSSL/wolfMQTT examples/firmware/firmware.h,
 * fwpush.c (fw_message_build) and fwclient.c (fw_message_process):
 *   struct FirmwareHeader { word16 sigLen; word16 pubKeyLen; word32 fwLen; } WOLFMQTT_PACK   (8 bytes)
 *   — filled through a struct pointer, so host byte order: little-endian on the x86/ARM targets it runs on;
 *   then the signature: wc_SignatureGenerate(WC_HASH_TYPE_SHA256, WC_SIGNATURE_TYPE_ECC, fw) hashes the
 *   firmware with SHA-256 and wc_ecc_sign_hash()es the digest → DER ECDSA (≤ wc_ecc_sig_size = 72 for
 *   P-256), the same as Node's crypto.sign('sha256', fw, ecKey);
 *   then the public key: wc_ecc_export_x963 of a P-256 key → 65 bytes 0x04‖X‖Y;
 *   then the firmware (fwLen bytes).
 * fwclient computes 8 + sigLen + pubKeyLen + fwLen in a word32 (it can wrap) and trusts the embedded key:
 * here every length is checked exactly, and a pinned key can be required.
 *
 *   encodeWolfMqtt(firmware, ecPrivateKey) → payload      encodeWolfMqttParts({signature, publicKey, firmware})
 *   decodeWolfMqtt(payload) → {signature, publicKey, firmware} (views)   MOAT_ERR_FW_WOLFMQTT_LENGTH
 *   verifyWolfMqtt(decoded, pinned?) → {firmware, pinned}   UNKNOWN_SIGNER (not the pinned key), SIGNATURE
 *     pinned: false means integrity only — anyone can sign with a key of their own; the caller warns.
 *   x963Of(publicKey) / keyFromX963(raw)
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { FwErr, fwError } from './errors.js';

export const WOLFMQTT_HEADER_BYTES = 8;
export const WOLFMQTT_PUBKEY_BYTES = 65;
/** wc_ecc_sig_size() for P-256: 2 × 32 + SIG_HEADER_SZ 6 + ECC_MAX_PAD_SZ 2. */
export const WOLFMQTT_MAX_SIG_BYTES = 72;

// SPKI DER prefix of an uncompressed P-256 key (id-ecPublicKey, prime256v1, BIT STRING of 66 bytes).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

export interface WolfMqttFirmware {
  signature: Buffer;
  publicKey: Buffer;
  firmware: Buffer;
}

const lengthError = (message: string): Error => fwError(FwErr.wolfmqttLength, message);

function assertP256(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw fwError(FwErr.key, 'the wolfMQTT format needs an ECDSA P-256 key');
  }
}

export function x963Of(key: KeyObject): Buffer {
  assertP256(key);
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - WOLFMQTT_PUBKEY_BYTES));
}

export function keyFromX963(raw: Buffer): KeyObject {
  if (raw.length !== WOLFMQTT_PUBKEY_BYTES || raw[0] !== 0x04) throw fwError(FwErr.signature, 'public key is not an uncompressed X9.63 P-256 point');
  try {
    // OpenSSL checks that the point is on the curve while decoding.
    return createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (e) {
    throw fwError(FwErr.signature, 'public key is not a point of P-256', e);
  }
}

export function encodeWolfMqttParts(parts: WolfMqttFirmware): Buffer {
  const { signature, publicKey, firmware } = parts;
  if (signature.length < 1 || signature.length > WOLFMQTT_MAX_SIG_BYTES) throw lengthError(`signature of ${signature.length} bytes (1–${WOLFMQTT_MAX_SIG_BYTES})`);
  if (publicKey.length !== WOLFMQTT_PUBKEY_BYTES) throw lengthError(`public key of ${publicKey.length} bytes (${WOLFMQTT_PUBKEY_BYTES})`);
  if (firmware.length < 1 || firmware.length > 0xffffffff) throw lengthError(`firmware of ${firmware.length} bytes (1 to 2^32 - 1)`);
  const header = Buffer.alloc(WOLFMQTT_HEADER_BYTES);
  header.writeUInt16LE(signature.length, 0);
  header.writeUInt16LE(publicKey.length, 2);
  header.writeUInt32LE(firmware.length, 4);
  return Buffer.concat([header, signature, publicKey, firmware]);
}

export function encodeWolfMqtt(firmware: Buffer, privateKey: KeyObject): Buffer {
  assertP256(privateKey);
  const signature = sign('sha256', firmware, { key: privateKey, dsaEncoding: 'der' });
  return encodeWolfMqttParts({ signature, publicKey: x963Of(privateKey), firmware });
}

export function decodeWolfMqtt(payload: Buffer): WolfMqttFirmware {
  if (payload.length < WOLFMQTT_HEADER_BYTES) throw lengthError(`payload of ${payload.length} bytes is shorter than the 8-byte header`);
  const sigLen = payload.readUInt16LE(0);
  const pubKeyLen = payload.readUInt16LE(2);
  const fwLen = payload.readUInt32LE(4);
  if (pubKeyLen !== WOLFMQTT_PUBKEY_BYTES) throw lengthError(`pubKeyLen ${pubKeyLen} is not ${WOLFMQTT_PUBKEY_BYTES}`);
  if (sigLen < 1 || sigLen > WOLFMQTT_MAX_SIG_BYTES) throw lengthError(`sigLen ${sigLen} is not 1–${WOLFMQTT_MAX_SIG_BYTES}`);
  if (fwLen < 1) throw lengthError('fwLen is 0');
  // Exact in doubles (≤ 2^32 + 2^17): no wrap-around as in a 32-bit sum.
  const total = WOLFMQTT_HEADER_BYTES + sigLen + pubKeyLen + fwLen;
  if (total > payload.length) throw lengthError(`header lengths add up to ${total} bytes, the payload has ${payload.length}`);
  if (total !== payload.length) throw lengthError(`fwLen ${fwLen} leaves ${payload.length - total} bytes after the firmware`);
  const keyAt = WOLFMQTT_HEADER_BYTES + sigLen;
  const fwAt = keyAt + pubKeyLen;
  return {
    signature: payload.subarray(WOLFMQTT_HEADER_BYTES, keyAt),
    publicKey: payload.subarray(keyAt, fwAt),
    firmware: payload.subarray(fwAt),
  };
}

/** Verifies with the embedded key; with `pinned` (a P-256 public key or its X9.63 bytes) that key must be it. */
export function verifyWolfMqtt(decoded: WolfMqttFirmware, pinned?: KeyObject | Buffer): { firmware: Buffer; pinned: boolean } {
  if (pinned !== undefined) {
    const want = Buffer.isBuffer(pinned) ? pinned : x963Of(pinned);
    if (!want.equals(decoded.publicKey)) throw fwError(FwErr.unknownSigner, 'the embedded public key is not the pinned key');
  }
  const key = keyFromX963(decoded.publicKey);
  let ok = false;
  try {
    ok = verify('sha256', decoded.firmware, { key, dsaEncoding: 'der' }, decoded.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw fwError(FwErr.signature, 'the firmware signature does not verify');
  return { firmware: decoded.firmware, pinned: pinned !== undefined };
}
