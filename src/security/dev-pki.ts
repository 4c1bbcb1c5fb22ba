/**
 * The development PKI the broker creates on first start: a CA and a server certificate for localhost,
 * 127.0.0.1, ::1 and the host name, ECDSA P-256, under `<dir>/` (default ./.moat/pki). Made with
 * @peculiar/x509 on Node's WebCrypto — never by shelling out to openssl. Private keys are written 0600.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The DOM's CryptoKeyPair as @peculiar/x509 declares it (no DOM lib in this project). */
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;

export interface DevPki {
  dir: string;
  caCertPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  ca: string;
  cert: string;
  key: string;
  /** True when this call created the files. */
  created: boolean;
}

const serial = (): string => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString('hex');
};

async function keyPem(key: KeyPair['privateKey']): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function generateKeys(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as KeyPair;
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Loads the dev PKI from `dir`, creating it when absent. */
export async function ensureDevPki(dir: string, now = new Date()): Promise<DevPki> {
  const paths = {
    caCertPath: join(dir, 'ca.crt'), caKeyPath: join(dir, 'ca.key'),
    serverCertPath: join(dir, 'server.crt'), serverKeyPath: join(dir, 'server.key'),
  };
  const [ca, cert, key] = await Promise.all([
    readIfPresent(paths.caCertPath), readIfPresent(paths.serverCertPath), readIfPresent(paths.serverKeyPath),
  ]);
  if (ca && cert && key) {
    return { dir, caCertPath: paths.caCertPath, serverCertPath: paths.serverCertPath, serverKeyPath: paths.serverKeyPath, ca, cert, key, created: false };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caKeys = await generateKeys();
  const host = hostname();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=Moat Dev CA (${host})`, keys: caKeys, signingAlgorithm: SIGN,
    notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 3650 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await generateKeys();
  const names: Array<{ type: 'dns' | 'ip'; value: string }> = [
    { type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' },
  ];
  if (host && host !== 'localhost') names.push({ type: 'dns', value: host });
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: 'CN=localhost', issuer: caCert.subject, publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey, signingAlgorithm: SIGN,
    // 397 days: the longest lifetime clients accept for server certificates.
    notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 397 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey),
    ],
  });
  const out = {
    ca: caCert.toString('pem') + '\n', cert: serverCert.toString('pem') + '\n', key: await keyPem(serverKeys.privateKey),
  };
  await writeFile(paths.caKeyPath, await keyPem(caKeys.privateKey), { mode: 0o600 });
  await writeFile(paths.serverKeyPath, out.key, { mode: 0o600 });
  await chmod(paths.caKeyPath, 0o600);
  await chmod(paths.serverKeyPath, 0o600);
  await writeFile(paths.caCertPath, out.ca, { mode: 0o644 });
  await writeFile(paths.serverCertPath, out.cert, { mode: 0o644 });
  return { dir, caCertPath: paths.caCertPath, serverCertPath: paths.serverCertPath, serverKeyPath: paths.serverKeyPath, ...out, created: true };
}
