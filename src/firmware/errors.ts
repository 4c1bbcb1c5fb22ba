/**
 * Firmware error codes (docs/errors.md, section "Firmware"). Every refusal of the firmware layer is a
 * MoatError with one of these codes, so the device agent can report it verbatim in its status and
 * tests can assert it.
 *
 *   FwErr.<name>          the code strings (a const object: switch on them, never on messages)
 *   fwError(code, msg)    a MoatError carrying one of them (no MQTT reason code: nothing goes on the wire)
 */
import { MoatError } from '../codec/index.js';

export const FwErr = {
  /** An envelope, manifest, trust list, chunk header, version string or name of the wrong form. */
  format: 'MOAT_ERR_FW_FORMAT',
  /** The signing key id is not in the trust list (wolfMQTT mode: the embedded key is not the pinned one). */
  unknownSigner: 'MOAT_ERR_FW_UNKNOWN_SIGNER',
  /** The signing key id is revoked by the trust list. */
  revokedSigner: 'MOAT_ERR_FW_REVOKED_SIGNER',
  /** The signature does not verify (tampered payload or signature, alg not matching the key). */
  signature: 'MOAT_ERR_FW_SIGNATURE',
  /** The manifest is for another product. */
  product: 'MOAT_ERR_FW_PRODUCT',
  /** The manifest targets other devices / groups. */
  target: 'MOAT_ERR_FW_TARGET',
  /** Past its expiry, or created further in the future than the allowed clock skew. */
  expired: 'MOAT_ERR_FW_EXPIRED',
  /** Version not newer than the running one (older: rollback; equal: replay). */
  rollback: 'MOAT_ERR_FW_ROLLBACK',
  /** The device runs a version below the manifest's minVersion. */
  minVersion: 'MOAT_ERR_FW_MIN_VERSION',
  /** Image over the device's maximum, or a chunk longer than its place in the image. */
  tooLarge: 'MOAT_ERR_FW_TOO_LARGE',
  /** A chunk whose SHA-256 or header index does not match the manifest. */
  chunk: 'MOAT_ERR_FW_CHUNK',
  /** The assembled image's size or SHA-256 does not match the manifest. */
  image: 'MOAT_ERR_FW_IMAGE',
  /** A signed trust list whose sequence is not greater than the current one. */
  trustSequence: 'MOAT_ERR_FW_TRUST_SEQUENCE',
  /** A signer key file that cannot be read, written or parsed, or a key of an unsupported type. */
  key: 'MOAT_ERR_FW_KEY',
  /** wolfMQTT format: header lengths that overflow, disagree with the payload or are out of range. */
  wolfmqttLength: 'MOAT_ERR_FW_WOLFMQTT_LENGTH',
  /** The install hook failed: the command exited non-zero (or by a signal), or the callback threw. */
  install: 'MOAT_ERR_FW_INSTALL',
  /** The agent's state directory cannot be read or written, or belongs to another product / device. */
  staging: 'MOAT_ERR_FW_STAGING',
} as const;

export type FwErrCode = (typeof FwErr)[keyof typeof FwErr];

export function fwError(code: FwErrCode, message: string, cause?: unknown): MoatError {
  return new MoatError(code, message, { cause });
}
