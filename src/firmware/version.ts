/**
 * Firmware versions: 1 to 4 dot-separated non-negative integers ("1.4.2"), compared numerically part
 * by part with missing parts read as 0 (so "1.2" equals "1.2.0"). No leading zeros and at most 15
 * digits per part, so every part is an exact integer and one version has one spelling.
 *
 *   isVersion(text)          → boolean
 *   parseVersion(text)       → number[]   (throws MOAT_ERR_FW_FORMAT)
 *   compareVersions(a, b)    → -1 | 0 | 1 (throws MOAT_ERR_FW_FORMAT on an invalid version)
 */
import { FwErr, fwError } from './errors.js';

const VERSION = /^(0|[1-9][0-9]{0,14})(\.(0|[1-9][0-9]{0,14})){0,3}$/;

export function isVersion(text: unknown): text is string {
  return typeof text === 'string' && VERSION.test(text);
}

export function parseVersion(text: string): number[] {
  if (!isVersion(text)) throw fwError(FwErr.format, `invalid version ${JSON.stringify(text)} (expected e.g. 1.4.2)`);
  return text.split('.').map(Number);
}

export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
