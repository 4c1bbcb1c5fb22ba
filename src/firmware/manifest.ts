/**
 * The release manifest: the signed document that says what image a device may install.
 *   {"type": "moat-fw-manifest", "product", "version", "size", "sha256", "chunkSize", "chunks": [hex…],
 *    "target"?: {"devices"?: […], "groups"?: […]}, "minVersion"?, "createdAt", "expiresAt"}  (ISO-8601 UTC)
 * Release id = first 32 hex chars of SHA-256 over the manifest envelope's payload bytes.
 *
 *   buildManifest(imagePath, options)  → Manifest   (streams the file: one chunk in memory at a time)
 *   parseManifest(bytes | object)      → Manifest   shape and types only            (MOAT_ERR_FW_FORMAT)
 *   checkLayout(manifest)              chunk count = ceil(size / chunkSize)          (MOAT_ERR_FW_FORMAT)
 *   validateManifest(value)            parseManifest + checkLayout
 *   encodeManifest(m) → Buffer; signManifest(m, signer) → Envelope; releaseIdOf(payload) → string
 * The device-side check (signature, product, target, dates, versions, size) is in manifest-check.ts.
 */
import { createHash } from 'node:crypto';
import { FwErr, fwError } from './errors.js';
import { jsonObject } from './json-object.js';
import { signEnvelope, type Envelope } from './envelope.js';
import { hashImage } from './image.js';
import type { SignerKey } from './keys.js';
import { isValidDeviceId, isValidProduct } from './topics.js';
import { isVersion } from './version.js';

export const MANIFEST_TYPE = 'moat-fw-manifest';
export const DEFAULT_CHUNK_SIZE = 16 * 1024;
export const DEFAULT_MANIFEST_TTL_MS = 30 * 24 * 3600 * 1000;

export interface Target {
  devices?: string[];
  groups?: string[];
}

export interface Manifest {
  type: typeof MANIFEST_TYPE;
  product: string;
  version: string;
  size: number;
  sha256: string;
  chunkSize: number;
  chunks: string[];
  target?: Target;
  minVersion?: string;
  createdAt: string;
  expiresAt: string;
}

export interface BuildManifestOptions {
  product: string;
  version: string;
  chunkSize?: number;
  target?: Target;
  minVersion?: string;
  /** createdAt; default: now */
  now?: Date;
  /** default: now + 30 days */
  expiresAt?: Date;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;
const isPositiveInt = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;
const bad = (what: string): never => { throw fwError(FwErr.format, `manifest ${what}`); };

function parseNames(value: unknown, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every(isValidDeviceId)) return bad(`target.${what} is not an array of ids`);
  return [...value];
}

function parseTarget(value: unknown): Target | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('target is not an object');
  const v = value as Record<string, unknown>;
  const devices = parseNames(v.devices, 'devices');
  const groups = parseNames(v.groups, 'groups');
  if (!devices && !groups) return bad('target names neither devices nor groups (leave it out to target every device)');
  return { ...(devices && { devices }), ...(groups && { groups }) };
}

function parseTime(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ISO_UTC.test(value) || !Number.isFinite(Date.parse(value))) return bad(`${what} is not an ISO-8601 UTC time`);
  return value;
}

export function parseManifest(input: Buffer | string | object): Manifest {
  const v = jsonObject(input, 'manifest');
  if (v.type !== MANIFEST_TYPE) bad(`type is not ${MANIFEST_TYPE}`);
  if (!isValidProduct(v.product)) bad('product is not a valid product name');
  if (!isVersion(v.version)) bad('version is not a dotted version');
  if (!isPositiveInt(v.size)) bad('size is not a positive integer');
  if (typeof v.sha256 !== 'string' || !HEX64.test(v.sha256)) bad('sha256 is not 64 lowercase hex characters');
  if (!isPositiveInt(v.chunkSize)) bad('chunkSize is not a positive integer');
  if (!Array.isArray(v.chunks) || !v.chunks.every((c) => typeof c === 'string' && HEX64.test(c))) bad('chunks is not an array of SHA-256 hex strings');
  if (v.minVersion !== undefined && !isVersion(v.minVersion)) bad('minVersion is not a dotted version');
  const createdAt = parseTime(v.createdAt, 'createdAt');
  const expiresAt = parseTime(v.expiresAt, 'expiresAt');
  if (Date.parse(expiresAt) <= Date.parse(createdAt)) bad('expiresAt is not after createdAt');
  const target = parseTarget(v.target);
  return {
    type: MANIFEST_TYPE, product: v.product as string, version: v.version as string, size: v.size as number,
    sha256: v.sha256 as string, chunkSize: v.chunkSize as number, chunks: [...(v.chunks as string[])],
    ...(target && { target }), ...(v.minVersion !== undefined && { minVersion: v.minVersion as string }),
    createdAt, expiresAt,
  };
}

export function checkLayout(m: Manifest): void {
  const expected = Math.ceil(m.size / m.chunkSize);
  if (m.chunks.length !== expected) {
    throw fwError(FwErr.format, `manifest lists ${m.chunks.length} chunks; ${m.size} bytes in chunks of ${m.chunkSize} make ${expected}`);
  }
}

export function validateManifest(value: Buffer | string | object): Manifest {
  const m = parseManifest(value);
  checkLayout(m);
  return m;
}

export function encodeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(validateManifest(m)), 'utf8');
}

export function signManifest(m: Manifest, signer: SignerKey): Envelope {
  return signEnvelope(encodeManifest(m), signer);
}

export function releaseIdOf(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 32);
}

export async function buildManifest(imagePath: string, o: BuildManifestOptions): Promise<Manifest> {
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const { size, sha256, chunks } = await hashImage(imagePath, chunkSize);
  if (size === 0) throw fwError(FwErr.format, `image ${imagePath} is empty`);
  const now = o.now ?? new Date();
  const expiresAt = o.expiresAt ?? new Date(now.getTime() + DEFAULT_MANIFEST_TTL_MS);
  return validateManifest({
    type: MANIFEST_TYPE, product: o.product, version: o.version, size, sha256, chunkSize, chunks,
    ...(o.target && { target: o.target }), ...(o.minVersion !== undefined && { minVersion: o.minVersion }),
    createdAt: now.toISOString(), expiresAt: expiresAt.toISOString(),
  });
}
