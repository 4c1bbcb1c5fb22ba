/**
 * Pre-shared keys for TLS-PSK devices, in Mosquitto's psk_file format: one `identity:hexkey` per
 * line, `#` comments and blank lines ignored. Errors name the file and line, never a key.
 */
import { readFile } from 'node:fs/promises';
import { MoatError } from '../codec/index.js';

export type PskTable = ReadonlyMap<string, Buffer>;

/** OpenSSL's limits (PSK_MAX_IDENTITY_LEN, PSK_MAX_PSK_LEN); 16 bytes is the least we accept. */
const MAX_IDENTITY = 128;
const MIN_KEY = 16;
const MAX_KEY = 256;

export function parsePskFile(text: string, source = 'PSK file'): PskTable {
  const table = new Map<string, Buffer>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const bad = (why: string): MoatError => new MoatError('MOAT_ERR_TLS_FILE', `${source} line ${i + 1}: ${why}`);
    // Mosquitto splits at the first ':', so identities cannot contain one.
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad('expected identity:hexkey');
    const identity = line.slice(0, colon);
    const hex = line.slice(colon + 1).trim();
    if (Buffer.byteLength(identity) > MAX_IDENTITY) throw bad(`identity longer than ${MAX_IDENTITY} bytes`);
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw bad('the key must be an even number of hex digits');
    const key = Buffer.from(hex, 'hex');
    if (key.length < MIN_KEY || key.length > MAX_KEY) throw bad(`the key must be ${MIN_KEY} to ${MAX_KEY} bytes`);
    if (table.has(identity)) throw bad(`identity "${identity}" appears twice`);
    table.set(identity, key);
  }
  return table;
}

export async function loadPskFile(path: string): Promise<PskTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new MoatError('MOAT_ERR_TLS_FILE', `cannot read PSK file ${path}: ${(cause as Error).message}`, { cause });
  }
  return parsePskFile(text, `PSK file ${path}`);
}
