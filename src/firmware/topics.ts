/**
 * Topic names of firmware delivery (prefix `fw/<product>`), and the names that become topic levels.
 *   fw/<product>/manifest                      retained: the manifest envelope (empty = no campaign)
 *   fw/<product>/trust                         retained: a signed trust list
 *   fw/<product>/chunk/<releaseId>/<index>     retained: one chunk (chunks.ts builds and parses these)
 *   fw/<product>/status/<deviceId>             retained: a device's status JSON
 * product = [a-z0-9][a-z0-9._-]{0,63}; device ids and groups: 1–128 characters, no `/`, `+`, `#`, NUL.
 *
 *   isValidProduct / assertProduct, isValidDeviceId / assertDeviceId   (assert*: MOAT_ERR_FW_FORMAT)
 *   manifestTopic(p), trustTopic(p), statusTopic(p, deviceId), statusFilter(p), fwPrefix(p)
 *   WOLFMQTT_TOPIC: the wolfMQTT example's fixed topic
 */
import { FwErr, fwError } from './errors.js';

export const WOLFMQTT_TOPIC = 'wolfMQTT/example/firmware';

const PRODUCT = /^[a-z0-9][a-z0-9._-]{0,63}$/;
// Device ids and groups are topic levels (status topic) and JSON strings: no level separator, no wildcard.
const DEVICE_ID = /^[^/+#\u0000]{1,128}$/;

export function isValidProduct(product: unknown): product is string {
  return typeof product === 'string' && PRODUCT.test(product);
}

export function assertProduct(product: unknown): string {
  if (!isValidProduct(product)) throw fwError(FwErr.format, `invalid product ${JSON.stringify(product)} (expected [a-z0-9][a-z0-9._-]{0,63})`);
  return product;
}

export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID.test(id);
}

export function assertDeviceId(id: unknown): string {
  if (!isValidDeviceId(id)) throw fwError(FwErr.format, `invalid device id or group ${JSON.stringify(id)} (1–128 characters, no / + # or NUL)`);
  return id;
}

export const fwPrefix = (product: string): string => `fw/${assertProduct(product)}`;
export const manifestTopic = (product: string): string => `${fwPrefix(product)}/manifest`;
export const trustTopic = (product: string): string => `${fwPrefix(product)}/trust`;
export const statusTopic = (product: string, deviceId: string): string => `${fwPrefix(product)}/status/${assertDeviceId(deviceId)}`;
export const statusFilter = (product: string): string => `${fwPrefix(product)}/status/+`;
