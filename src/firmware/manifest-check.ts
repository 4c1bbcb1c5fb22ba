/**
 * The device-side check of a manifest envelope, each refusal its own code, in this order:
 *   1. envelope shape                     MOAT_ERR_FW_FORMAT
 *   2. signer revoked / not in the list   MOAT_ERR_FW_REVOKED_SIGNER / MOAT_ERR_FW_UNKNOWN_SIGNER
 *   3. signature                          MOAT_ERR_FW_SIGNATURE
 *   4. manifest shape (only once signed: unsigned bytes are never interpreted)   MOAT_ERR_FW_FORMAT
 *   5. product                            MOAT_ERR_FW_PRODUCT
 *   6. target (device ids or groups)      MOAT_ERR_FW_TARGET
 *   7. expired, or created > 5 min ahead  MOAT_ERR_FW_EXPIRED
 *   8. version ≤ running (rollback, replay)   MOAT_ERR_FW_ROLLBACK
 *   9. running < minVersion               MOAT_ERR_FW_MIN_VERSION
 *  10. size > maxImageBytes (default 64 MiB)  MOAT_ERR_FW_TOO_LARGE
 *  11. chunk count / size inconsistent    MOAT_ERR_FW_FORMAT
 *
 *   checkManifest({manifestEnvelope, trust, product, deviceId, groups?, runningVersion, maxImageBytes?, now?})
 *     → {manifest, releaseId, payload}
 */
import { FwErr, fwError } from './errors.js';
import { verifyEnvelope, type Envelope, type KeySet } from './envelope.js';
import { checkLayout, parseManifest, releaseIdOf, type Manifest } from './manifest.js';
import { compareVersions } from './version.js';

export const DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024;
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface ManifestCheckInput {
  manifestEnvelope: Buffer | string | Envelope;
  trust: KeySet;
  product: string;
  deviceId: string;
  groups?: readonly string[];
  runningVersion: string;
  maxImageBytes?: number;
  /** default: Date.now() */
  now?: number | Date;
}

export interface CheckedManifest {
  manifest: Manifest;
  releaseId: string;
  /** the signed payload bytes (what the release id is computed over) */
  payload: Buffer;
}

function targets(m: Manifest, deviceId: string, groups: readonly string[]): boolean {
  if (!m.target) return true;
  return (m.target.devices ?? []).includes(deviceId) || (m.target.groups ?? []).some((g) => groups.includes(g));
}

export function checkManifest(input: ManifestCheckInput): CheckedManifest {
  const payload = verifyEnvelope(input.manifestEnvelope, input.trust);
  const m = parseManifest(payload);
  if (m.product !== input.product) throw fwError(FwErr.product, `manifest is for product ${m.product}, this device is ${input.product}`);
  if (!targets(m, input.deviceId, input.groups ?? [])) throw fwError(FwErr.target, `manifest does not target device ${input.deviceId} or its groups`);
  const now = input.now === undefined ? Date.now() : Number(input.now);
  if (now >= Date.parse(m.expiresAt)) throw fwError(FwErr.expired, `manifest expired at ${m.expiresAt}`);
  if (Date.parse(m.createdAt) > now + CLOCK_SKEW_MS) throw fwError(FwErr.expired, `manifest created at ${m.createdAt}, in the future`);
  if (compareVersions(m.version, input.runningVersion) <= 0) {
    throw fwError(FwErr.rollback, `manifest version ${m.version} is not newer than the running ${input.runningVersion}`);
  }
  if (m.minVersion !== undefined && compareVersions(input.runningVersion, m.minVersion) < 0) {
    throw fwError(FwErr.minVersion, `running ${input.runningVersion} is below the manifest's minVersion ${m.minVersion}`);
  }
  const max = input.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  if (m.size > max) throw fwError(FwErr.tooLarge, `image of ${m.size} bytes is over this device's maximum of ${max}`);
  checkLayout(m);
  return { manifest: m, releaseId: releaseIdOf(payload), payload };
}
