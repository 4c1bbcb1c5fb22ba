/**
 * The console's host keys: an Ed25519 key generated on first use as `<dir>/host_ed25519_key` (folder
 * 0700, file 0600, OpenSSH format), plus `<dir>/host_ecdsa_key` when an operator put one there.
 * The SHA256 fingerprint is what operators compare with `ssh-keygen -lf` on first connection.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { MoatError } from '../codec/errors.js';

export interface HostKey {
  /** The private key as read (OpenSSH or PEM format). */
  key: Buffer;
  type: string;
  /** `SHA256:…` like ssh-keygen -l. */
  fingerprint: string;
  path: string;
}

const ED25519 = 'host_ed25519_key';
const ECDSA = 'host_ecdsa_key';

export async function loadHostKeys(dir: string): Promise<HostKey[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = [await loadOrCreate(join(dir, ED25519))];
  const ecdsa = await readIfPresent(join(dir, ECDSA));
  if (ecdsa) keys.push(describe(ecdsa, join(dir, ECDSA)));
  return keys;
}

async function loadOrCreate(path: string): Promise<HostKey> {
  const existing = await readIfPresent(path);
  if (existing) return describe(existing, path);
  const pair = generateEd25519();
  // 'wx': never overwrite a key another process wrote in the meantime.
  try {
    await writeFile(path, pair.private, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw hostKeyError(path, err);
    return describe(await readFile(path), path);
  }
  await chmod(path, 0o600);
  await writeFile(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
  return describe(Buffer.from(pair.private), path);
}

/**
 * ssh2's generator writes an Ed25519 public key whose first byte is 0 as 31 bytes (it trims it like an
 * integer), and its own parser then refuses the file as malformed: about 1 key in 256. Such a key is
 * drawn again; after a few tries something else is wrong.
 */
function generateEd25519(): { private: string; public: string } {
  for (let i = 0; i < 8; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'moat ssh console host key' });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new MoatError('MOAT_ERR_SSH_HOST_KEY', 'could not generate a usable Ed25519 SSH host key');
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw hostKeyError(path, err);
  }
}

function describe(key: Buffer, path: string): HostKey {
  const parsed = ssh2.utils.parseKey(key);
  const one = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!one || one instanceof Error || !one.isPrivateKey()) throw hostKeyError(path, one instanceof Error ? one : undefined);
  return { key, type: one.type, fingerprint: fingerprintOf(one.getPublicSSH()), path };
}

/** OpenSSH's SHA256 fingerprint of a public key blob. */
export function fingerprintOf(publicBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicBlob).digest('base64').replace(/=+$/, '')}`;
}

function hostKeyError(path: string, cause: unknown): MoatError {
  return new MoatError('MOAT_ERR_SSH_HOST_KEY', `cannot use SSH host key ${path}`, { cause });
}
