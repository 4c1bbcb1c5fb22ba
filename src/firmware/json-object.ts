/**
 * The first step of every firmware document parser (envelope, trust list, manifest, status): bytes or
 * text → a JSON object, or MOAT_ERR_FW_FORMAT naming the document. An object passes through unchanged.
 */
import { FwErr, fwError } from './errors.js';

export function jsonObject(input: Buffer | string | object, what: string): Record<string, unknown> {
  let value: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      value = JSON.parse(input.toString());
    } catch (e) {
      throw fwError(FwErr.format, `${what} is not JSON`, e);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fwError(FwErr.format, `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}
