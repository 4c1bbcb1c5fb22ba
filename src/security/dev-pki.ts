/**
 * The development PKI: a CA, a server certificate for localhost, 127.0.0.1, ::1 and the host name, and
 * device (client) certificates, under `<dir>/` (default ./.moat/pki). Key types ECDSA P-256 (default),
 * Ed25519 and RSA-2048. Made with @peculiar/x509 on Node's WebCrypto — never by shelling out to openssl.
 * Private keys are written 0600; files appear whole (written aside, then renamed or linked into place).
 *
 * Layout: ca.crt ca.key server.crt server.key devices/<id>.crt devices/<id>.key
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SIGNING, generateKeyPair, loadSigningKey, pkiError, privateKeyPem, type KeyPair, type KeyType } from './x509-keys.js';

export { KEY_TYPES, parseKeyType, type KeyType } from './x509-keys.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const DAY = 24 * 3600 * 1000;
const CA_DAYS = 3650;
// 397 days: the longest lifetime clients accept for server certificates.
const SERVER_DAYS = 397;
export const DEVICE_DAYS = 365;
/** The device certificate the PKI is created with, for the client profile of `moat pub`/`moat sub`. */
export const DEFAULT_DEVICE_ID = 'dev-client';

export interface DeviceCert {
  id: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  /** True when this call created the files. */
  created: boolean;
}

export interface DevPki {
  dir: string;
  caCertPath: string;
  caKeyPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  ca: string;
  cert: string;
  key: string;
  /** True when this call created the CA or the server certificate. */
  created: boolean;
  /** The device made with the PKI; absent when ca.key is not there to issue it. */
  device: DeviceCert | undefined;
}

export interface DevPkiOptions {
  /** Validity starts one day before this (clock skew); tests pass past dates to get expired certificates. */
  now?: Date;
  /** Key type of the CA, server and device keys made by this call (default ecdsa). */
  keyType?: KeyType;
  /** Device made with the PKI (default DEFAULT_DEVICE_ID). */
  deviceId?: string;
}

export interface IssueOptions {
  keyType?: KeyType;
  /** Validity in days (default 365); it may not outlive the CA. */
  days?: number;
  now?: Date;
  /** Replace an existing certificate of the same device. */
  force?: boolean;
}

export function devPkiPaths(dir: string): { caCertPath: string; caKeyPath: string; serverCertPath: string; serverKeyPath: string } {
  return {
    caCertPath: join(dir, 'ca.crt'), caKeyPath: join(dir, 'ca.key'),
    serverCertPath: join(dir, 'server.crt'), serverKeyPath: join(dir, 'server.key'),
  };
}

/**
 * A device id becomes a file name and a certificate CN: 1–64 characters (the X.520 limit for a CN) of
 * letters, digits and . _ @ + -, not starting with . or - (no hidden files, nothing read as a flag), so
 * no path separator or `..` can move the files out of devices/.
 */
export function validateDeviceId(id: string): string {
  if (!/^[A-Za-z0-9_@+][A-Za-z0-9._@+-]{0,63}$/.test(id)) {
    throw pkiError(`invalid device id "${id}": use 1 to 64 letters, digits and . _ @ + - (no path separators), not starting with . or -`);
  }
  return id;
}

export function devicePaths(dir: string, id: string): { certPath: string; keyPath: string } {
  validateDeviceId(id);
  return { certPath: join(dir, 'devices', `${id}.crt`), keyPath: join(dir, 'devices', `${id}.key`) };
}

interface Signer { cert: x509.X509Certificate; key: webcrypto.CryptoKey; type: KeyType }

const serial = (): string => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString('hex');
};

const pem = (cert: x509.X509Certificate): string => cert.toString('pem') + '\n';

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes beside the target then moves it into place, so a reader never sees half a key and a key is
 * never readable by others even for a moment. Without `overwrite`, an existing file is refused (link
 * fails with EEXIST) instead of replaced.
 */
async function writeWhole(path: string, data: string, secret: boolean, overwrite: boolean): Promise<void> {
  const mode = secret ? 0o600 : 0o644;
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await chmod(tmp, mode); // the umask can only clear bits; be exact for the public files too
    if (overwrite) await rename(tmp, path);
    else await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw pkiError(`${path} already exists (--force replaces it)`, err);
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

async function loadCa(dir: string, caPem: string, keyPem: string): Promise<Signer> {
  const { caCertPath, caKeyPath } = devPkiPaths(dir);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(caPem);
  } catch (err) {
    throw pkiError(`${caCertPath} is not a readable certificate`, err);
  }
  const { type, key } = await loadSigningKey(keyPem, caKeyPath);
  return { cert, key, type };
}

async function createCa(dir: string, type: KeyType, now: Date): Promise<Signer> {
  const keys = await generateKeyPair(type);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=Moat Dev CA (${hostname()})`, keys: keys as never, signingAlgorithm: SIGNING[type],
    notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + CA_DAYS * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  const { caCertPath, caKeyPath } = devPkiPaths(dir);
  await writeWhole(caKeyPath, await privateKeyPem(keys.privateKey), true, true);
  await writeWhole(caCertPath, pem(cert), false, true);
  return { cert, key: keys.privateKey, type };
}

/** An end-entity certificate signed by the CA: serverAuth with the local names, or clientAuth with CN = device id. */
async function issue(signer: Signer, keys: KeyPair, cn: string, days: number, now: Date, role: 'server' | 'client'): Promise<x509.X509Certificate> {
  const notAfter = new Date(now.getTime() + days * DAY);
  if (notAfter > signer.cert.notAfter) {
    throw pkiError(`a certificate for ${days} days would outlive the CA (valid until ${signer.cert.notAfter.toISOString()})`);
  }
  const caKeyId = signer.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([role === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
    ...(caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : []),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
  ];
  if (role === 'server') {
    const names: Array<{ type: 'dns' | 'ip'; value: string }> = [
      { type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' },
    ];
    const host = hostname();
    if (host && host !== 'localhost') names.push({ type: 'dns', value: host });
    extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: [{ CN: [cn] }], issuer: signer.cert.subject, publicKey: keys.publicKey as never,
    signingKey: signer.key as never, signingAlgorithm: SIGNING[signer.type],
    notBefore: new Date(now.getTime() - DAY), notAfter, extensions,
  });
}

async function createServer(dir: string, signer: Signer, type: KeyType, now: Date): Promise<{ cert: string; key: string }> {
  const keys = await generateKeyPair(type);
  const out = { cert: pem(await issue(signer, keys, 'localhost', SERVER_DAYS, now, 'server')), key: await privateKeyPem(keys.privateKey) };
  const { serverCertPath, serverKeyPath } = devPkiPaths(dir);
  await writeWhole(serverKeyPath, out.key, true, true);
  await writeWhole(serverCertPath, out.cert, false, true);
  return out;
}

async function createDevice(dir: string, signer: Signer, id: string, o: Required<Omit<IssueOptions, 'force'>>, overwrite: boolean): Promise<DeviceCert> {
  const { certPath, keyPath } = devicePaths(dir, id);
  const keys = await generateKeyPair(o.keyType);
  const cert = pem(await issue(signer, keys, id, o.days, o.now, 'client'));
  const key = await privateKeyPem(keys.privateKey);
  await mkdir(join(dir, 'devices'), { recursive: true, mode: 0o700 });
  await writeWhole(keyPath, key, true, overwrite);
  await writeWhole(certPath, cert, false, overwrite);
  return { id, certPath, keyPath, cert, key, created: true };
}

async function createAll(dir: string, o: DevPkiOptions): Promise<DevPki> {
  const now = o.now ?? new Date();
  const keyType = o.keyType ?? 'ecdsa';
  const deviceId = validateDeviceId(o.deviceId ?? DEFAULT_DEVICE_ID);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const signer = await createCa(dir, keyType, now);
  const server = await createServer(dir, signer, keyType, now);
  // A device of an earlier CA would no longer verify: replace it.
  const device = await createDevice(dir, signer, deviceId, { keyType, days: DEVICE_DAYS, now }, true);
  return { dir, ...devPkiPaths(dir), ca: pem(signer.cert), ...server, created: true, device };
}

/**
 * Loads the dev PKI from `dir`, creating what is missing: the whole PKI when there is no CA (key and
 * certificate), the server certificate from the existing CA, and the default device when its files are
 * absent and ca.key is there. The second argument may be a Date (the `now` of older callers).
 */
export async function ensureDevPki(dir: string, options: DevPkiOptions | Date = {}): Promise<DevPki> {
  const o = options instanceof Date ? { now: options } : options;
  const now = o.now ?? new Date();
  const deviceId = validateDeviceId(o.deviceId ?? DEFAULT_DEVICE_ID);
  const paths = devPkiPaths(dir);
  const [ca, caKey, cert, key] = await Promise.all([paths.caCertPath, paths.caKeyPath, paths.serverCertPath, paths.serverKeyPath].map(readIfPresent));
  if (!ca || !(cert && key) && !caKey) return createAll(dir, o);
  let signer: Signer | undefined;
  let server = cert && key ? { cert, key } : undefined;
  const created = !server;
  if (!server) {
    signer = await loadCa(dir, ca, caKey!);
    server = await createServer(dir, signer, o.keyType ?? signer.type, now);
  }
  const { certPath, keyPath } = devicePaths(dir, deviceId);
  const [dCert, dKey] = await Promise.all([readIfPresent(certPath), readIfPresent(keyPath)]);
  let device: DeviceCert | undefined;
  if (dCert && dKey) device = { id: deviceId, certPath, keyPath, cert: dCert, key: dKey, created: false };
  else if (caKey) {
    signer ??= await loadCa(dir, ca, caKey);
    device = await createDevice(dir, signer, deviceId, { keyType: o.keyType ?? signer.type, days: DEVICE_DAYS, now }, true);
  }
  return { dir, ...paths, ca, ...server, created, device };
}

/** `moat certs init`: a new PKI; an existing one (any of its four files) is refused unless `force`. */
export async function initDevPki(dir: string, options: DevPkiOptions & { force?: boolean } = {}): Promise<DevPki> {
  validateDeviceId(options.deviceId ?? DEFAULT_DEVICE_ID);
  if (!options.force) {
    const found = await Promise.all(Object.values(devPkiPaths(dir)).map(readIfPresent));
    if (found.some((f) => f !== undefined)) {
      throw pkiError(`a dev PKI already exists in ${dir} (--force replaces it, and every certificate it issued stops verifying)`);
    }
  }
  return createAll(dir, options);
}

/** `moat certs issue`: a device certificate (CN = id, clientAuth) signed by the dev CA in `dir`. */
export async function issueDeviceCert(dir: string, id: string, options: IssueOptions = {}): Promise<DeviceCert> {
  const { certPath, keyPath } = devicePaths(dir, id);
  const days = options.days ?? DEVICE_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > CA_DAYS) throw pkiError(`days must be a whole number from 1 to ${CA_DAYS}`);
  const { caCertPath, caKeyPath } = devPkiPaths(dir);
  const [ca, caKey] = await Promise.all([readIfPresent(caCertPath), readIfPresent(caKeyPath)]);
  if (!ca || !caKey) throw pkiError(`no dev CA in ${dir} (needs ca.crt and ca.key; run moat certs init first)`);
  if (!options.force) {
    const existing = (await Promise.all([readIfPresent(certPath), readIfPresent(keyPath)])).some((f) => f !== undefined);
    if (existing) throw pkiError(`device "${id}" already has a certificate in ${join(dir, 'devices')} (--force replaces it)`);
  }
  const signer = await loadCa(dir, ca, caKey);
  const keyType = options.keyType ?? 'ecdsa';
  return createDevice(dir, signer, id, { keyType, days, now: options.now ?? new Date() }, options.force ?? false);
}
