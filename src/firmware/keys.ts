/**
 * Signer keys: Ed25519 (default) or ECDSA P-256 with SHA-256, through Node's crypto only.
 * Files: PKCS#8 PEM private key (mode 0600) and SPKI PEM public key. Key id = first 16 hex chars of
 * SHA-256 over the SPKI DER, so anyone holding the public key computes the same id.
 *
 *   generateSigner(alg?)                       → SignerKey (in memory)
 *   writeSignerFiles(key, dir, {name?, force?}) → {privatePath, publicPath}   (<name>.key / <name>.pub, name 'signer')
 *   loadSigner(privatePemPath)                 → SignerKey
 *   loadPublicKey(pemPath)                     → PublicSignerKey
 *   publicKeyFromSpki(der) / spkiOf(key)       → SPKI DER ⇄ PublicSignerKey
 *   keyIdOf(publicKey), algOf(key)
 * Failures: MOAT_ERR_FW_KEY (unreadable or unparsable file, unsupported key type, file exists without force, a
 * private key PEM given to loadPublicKey). The private key file is written via an O_EXCL 0600 temp file + rename.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FwErr, fwError } from './errors.js';

export type SignerAlg = 'ed25519' | 'ecdsa-p256-sha256';
export const SIGNER_ALGS: readonly SignerAlg[] = ['ed25519', 'ecdsa-p256-sha256'];

export interface PublicSignerKey {
  alg: SignerAlg;
  keyId: string;
  publicKey: KeyObject;
}

export interface SignerKey extends PublicSignerKey {
  privateKey: KeyObject;
}

/** The signer algorithm of a key (private or public); MOAT_ERR_FW_KEY for anything else (RSA, P-384, …). */
export function algOf(key: KeyObject): SignerAlg {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256-sha256';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  throw fwError(FwErr.key, `unsupported signer key type ${key.asymmetricKeyType ?? '?'}${curve ? ` (${curve})` : ''}: use Ed25519 or ECDSA P-256`);
}

export function spkiOf(publicKey: KeyObject): Buffer {
  return publicKey.export({ format: 'der', type: 'spki' });
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(spkiOf(publicKey)).digest('hex').slice(0, 16);
}

function publicSigner(publicKey: KeyObject): PublicSignerKey {
  return { alg: algOf(publicKey), keyId: keyIdOf(publicKey), publicKey };
}

export function generateSigner(alg: SignerAlg = 'ed25519'): SignerKey {
  const pair = alg === 'ed25519'
    ? generateKeyPairSync('ed25519')
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { ...publicSigner(pair.publicKey), privateKey: pair.privateKey };
}

export function publicKeyFromSpki(der: Buffer): PublicSignerKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (e) {
    throw fwError(FwErr.key, 'public key is not a valid SPKI DER key', e);
  }
  return publicSigner(key);
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw fwError(FwErr.key, `cannot read key file ${path}`, e);
  }
}

export async function loadSigner(privatePemPath: string): Promise<SignerKey> {
  const pem = await readKeyFile(privatePemPath);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw fwError(FwErr.key, `${privatePemPath} is not a PEM private key`, e);
  }
  return { ...publicSigner(createPublicKey(privateKey)), privateKey };
}

/**
 * A public key from SPKI PEM. A private key PEM is refused: where a public key is expected (a device's
 * pin, a trust list) a private key is a mistake that would copy the signing secret onto every device.
 */
export async function loadPublicKey(pemPath: string): Promise<PublicSignerKey> {
  const pem = await readKeyFile(pemPath);
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem)) {
    throw fwError(FwErr.key, `${pemPath} holds a PRIVATE key: give its public half (<name>.pub), never the private key, to pins and trust lists`);
  }
  try {
    return publicSigner(createPublicKey({ key: pem, format: 'pem' }));
  } catch (e) {
    if ((e as { code?: string }).code === FwErr.key) throw e;
    throw fwError(FwErr.key, `${pemPath} is not a PEM public key`, e);
  }
}

/**
 * The private key goes into a fresh temp file created 0600 with O_EXCL (never an existing file or a
 * symlink's target, so never readable by others for an instant), then is renamed into place: with force
 * over the old file (rename replaces a symlink itself, never follows it), without force only if nothing
 * is there (link(2) fails with EEXIST, atomically).
 */
async function writePrivateFile(path: string, pem: string | Buffer, force: boolean): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const h = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await h.writeFile(pem);
    await h.sync();
  } finally {
    await h.close();
  }
  try {
    if (force) await rename(tmp, path);
    else await link(tmp, path);
  } finally {
    if (!force) await rm(tmp, { force: true });
  }
}

/** Writes `<name>.key` (PKCS#8 PEM, 0600) and `<name>.pub` (SPKI PEM); refuses to overwrite unless force. */
export async function writeSignerFiles(
  key: SignerKey, dir: string, opts: { name?: string; force?: boolean } = {},
): Promise<{ privatePath: string; publicPath: string }> {
  const name = opts.name ?? 'signer';
  const privatePath = join(dir, `${name}.key`);
  const publicPath = join(dir, `${name}.pub`);
  const flag = opts.force ? 'w' : 'wx';
  let wrotePrivate = false;
  try {
    await mkdir(dir, { recursive: true });
    await writePrivateFile(privatePath, key.privateKey.export({ format: 'pem', type: 'pkcs8' }), opts.force === true);
    wrotePrivate = true;
    await writeFile(publicPath, key.publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644, flag });
  } catch (e) {
    // Never leave a private key without its public half (the pair would not match a later keygen).
    if (wrotePrivate && !opts.force) await rm(privatePath, { force: true });
    const exists = (e as { code?: string }).code === 'EEXIST';
    throw fwError(FwErr.key, exists ? `${privatePath} or ${publicPath} exists (force to overwrite)` : `cannot write keys to ${dir}`, e);
  }
  return { privatePath, publicPath };
}
