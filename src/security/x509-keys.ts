/**
 * Key types of the dev PKI on Node's WebCrypto: generate a pair, write the private key as PKCS#8 PEM,
 * load it back, and pick the certificate signature algorithm that goes with the signing key. Kept apart
 * from dev-pki.ts so the PKI layout reads without the algorithm details.
 */
import { createPrivateKey, webcrypto } from 'node:crypto';
import { MoatError } from '../codec/index.js';

/** ECDSA P-256 (the default: small, fast, accepted everywhere), Ed25519, RSA-2048 (for old stacks). */
export type KeyType = 'ecdsa' | 'ed25519' | 'rsa';
export const KEY_TYPES: readonly KeyType[] = ['ecdsa', 'ed25519', 'rsa'];

/** A WebCrypto key pair; left loose because this project has no DOM lib to name CryptoKeyPair. */
export interface KeyPair { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey }

const GENERATE = {
  ecdsa: { name: 'ECDSA', namedCurve: 'P-256' },
  ed25519: { name: 'Ed25519' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;

/** What a certificate signed by a key of this type is signed with. */
export const SIGNING = {
  ecdsa: { name: 'ECDSA', hash: 'SHA-256' },
  ed25519: { name: 'Ed25519' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
} as const;

export const pkiError = (message: string, cause?: unknown): MoatError =>
  new MoatError('MOAT_ERR_PKI', message, cause === undefined ? {} : { cause });

export function parseKeyType(value: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw pkiError(`key type must be one of ${KEY_TYPES.join(', ')}, not "${value}"`);
}

export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(GENERATE[type], true, ['sign', 'verify'])) as KeyPair;
}

export async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** Loads a PEM private key (any encoding OpenSSL reads) as a WebCrypto signing key, with its type. */
export async function loadSigningKey(pem: string, path: string): Promise<{ type: KeyType; key: webcrypto.CryptoKey }> {
  let obj;
  try {
    obj = createPrivateKey(pem);
  } catch (err) {
    throw pkiError(`${path} is not a readable private key`, err);
  }
  const kind = obj.asymmetricKeyType;
  const type: KeyType | undefined = kind === 'ed25519' ? 'ed25519' : kind === 'rsa' ? 'rsa'
    : kind === 'ec' && obj.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ecdsa' : undefined;
  if (type === undefined) throw pkiError(`${path}: unsupported key (${kind ?? 'unknown'}); the dev CA signs with ${KEY_TYPES.join(', ')}`);
  const der = obj.export({ type: 'pkcs8', format: 'der' });
  const alg = type === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : GENERATE[type];
  return { type, key: await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']) };
}
