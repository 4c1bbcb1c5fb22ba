/**
 * Test certificates made with @peculiar/x509 (as src/security/dev-pki.ts does): CAs, server and
 * client certificates with chosen validity and key type, and CRLs. Real X.509, verified by OpenSSL.
 * Also what the TLS tests share: a broker on a TLS listener on port 0, openssl/mosquitto runners, a
 * log sink to assert on.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, type BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';
import { prepareTls, type TlsListenerOptions } from '../../src/security/tls-listener.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
export type KeyKind = 'ec' | 'rsa';

const DAY = 24 * 3600 * 1000;
const ALG = {
  ec: { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  rsa: {
    gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  },
} as const;

export interface Issued {
  cert: x509.X509Certificate;
  keys: KeyPair;
  kind: KeyKind;
  /** PEM certificate and PKCS#8 private key. */
  pem: string;
  keyPem: string;
  serial: string;
}

const serial = (): string => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
};

async function keyPem(key: KeyPair['privateKey']): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function keys(kind: KeyKind): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG[kind].gen, true, ['sign', 'verify'])) as unknown as KeyPair;
}

export async function makeCa(name: string, kind: KeyKind = 'ec'): Promise<Issued> {
  const k = await keys(kind);
  const s = serial();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: s, name: `CN=${name}`, keys: k, signingAlgorithm: ALG[kind].sign,
    notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
    ],
  });
  return { cert, keys: k, kind, pem: cert.toString('pem') + '\n', keyPem: await keyPem(k.privateKey), serial: s };
}

export interface IssueOptions {
  cn: string;
  role: 'server' | 'client';
  kind?: KeyKind;
  /** SANs; servers default to localhost and 127.0.0.1. */
  names?: Array<{ type: 'dns' | 'ip' | 'email' | 'url'; value: string }>;
  notBefore?: Date;
  notAfter?: Date;
}

export async function issue(ca: Issued, o: IssueOptions): Promise<Issued> {
  const kind = o.kind ?? 'ec';
  const k = await keys(kind);
  const s = serial();
  const now = Date.now();
  const names = o.names ?? (o.role === 'server' ? [{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }] : []);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: s, subject: `CN=${o.cn}`, issuer: ca.cert.subject, publicKey: k.publicKey,
    signingKey: ca.keys.privateKey, signingAlgorithm: ALG[ca.kind].sign,
    notBefore: o.notBefore ?? new Date(now - DAY), notAfter: o.notAfter ?? new Date(now + 30 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | (kind === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0), true),
      new x509.ExtendedKeyUsageExtension([o.role === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { cert, keys: k, kind, pem: cert.toString('pem') + '\n', keyPem: await keyPem(k.privateKey), serial: s };
}

/** A CRL from `ca` revoking `serials`, valid from yesterday for a week. */
export async function makeCrl(ca: Issued, serials: string[]): Promise<string> {
  const now = Date.now();
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subject, signingKey: ca.keys.privateKey, signingAlgorithm: ALG[ca.kind].sign,
    thisUpdate: new Date(now - DAY), nextUpdate: new Date(now + 7 * DAY),
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: new Date(now - 3600_000) })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey)],
  });
  // OpenSSL reads only the "X509 CRL" PEM label.
  return crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----') + '\n';
}

export const tempDir = (prefix = 'moat-tls-'): Promise<string> => mkdtemp(join(tmpdir(), prefix));

/** Writes `files` (name → content) into dir; returns name → path. */
export async function writeFiles<K extends string>(dir: string, files: Record<K, string>): Promise<Record<K, string>> {
  const out = {} as Record<K, string>;
  for (const [name, content] of Object.entries(files) as Array<[K, string]>) {
    out[name] = join(dir, name);
    await writeFile(out[name], content, { mode: 0o600 });
  }
  return out;
}

/** Replaces a file the way deployment tools do: write aside, rename over. */
export async function replaceFile(path: string, content: string): Promise<void> {
  const tmp = `${path}.new`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * Runs a program; resolves with its exit code and stdout+stderr. Stdin stays open `holdMs`, counted
 * from the first output matching `holdFrom` when given (TLS 1.3 tickets arrive after the handshake,
 * and a loaded machine may take a while to get there).
 */
export function runTool(cmd: string, args: string[], holdMs = 0, timeoutMs = 10_000, holdFrom?: RegExp): Promise<{ code: number | null; out: string }> {
  return new Promise((ok) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let hold: NodeJS.Timeout | undefined;
    const startHold = (): void => {
      hold ??= setTimeout(() => child.stdin.end(), holdMs);
    };
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (holdFrom?.test(out)) startHold();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    if (!holdFrom) startHold();
    const timer = setTimeout(() => child.kill(), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(hold);
      ok({ code, out });
    });
  });
}

/** `openssl s_client` against 127.0.0.1:port; stdin closes 300 ms after the handshake summary. */
export async function sClient(port: number, args: string[], holdMs = 300): Promise<string> {
  return (await runTool('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], holdMs, 10_000, /Verify return code|Cipher is/)).out;
}

export interface LogLine { level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string | undefined }

/** A Logger (src/broker/logger.ts shape) that keeps what it is told, for asserting on log lines. */
export function captureLog(): { lines: LogLine[]; debug(o: object, m?: string): void; info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string): void => { lines.push({ level, obj: obj as Record<string, unknown>, msg }); };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Polls until `check` is true (for effects of file watching and server-side closes). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface TlsBroker {
  broker: Broker;
  listener: RunningListener;
  port: number;
  log: ReturnType<typeof captureLog>;
  close(): Promise<void>;
}

/** A broker with one mqtts:// (or wss://) listener on 127.0.0.1:0 made by prepareTls. */
export async function startTlsBroker(opts: TlsListenerOptions, deps: BrokerDeps = {}, scheme: 'mqtts' | 'wss' = 'mqtts',
  options: BrokerOptions = {}): Promise<TlsBroker> {
  const log = captureLog();
  const broker = new Broker({ sysInterval: 0, ...options }, { log, ...deps });
  const url = `${scheme}://127.0.0.1:0`;
  const listener = await startListener(broker, { url, tls: await prepareTls(opts, log, url) });
  return {
    broker, listener, port: listener.address.port, log,
    async close() {
      broker.shutdown();
      await listener.close();
    },
  };
}
