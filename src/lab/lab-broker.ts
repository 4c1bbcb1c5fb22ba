/**
 * The lab's own broker: key material in a temp dir (one CA from src/security's dev PKI, a server
 * certificate per key type, a device certificate, a PSK file) and the broker-child process, queried over
 * IPC for its CPU time, RSS and TLS handshake counters.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MoatError } from '../codec/index.js';
import { ensureDevPki } from '../security/dev-pki.js';
import type { KeyType } from '../security/x509-keys.js';
import type { ChildConfig, ChildPorts, ChildReply } from './broker-child.js';
import type { LabKey } from './report.js';

const KEY_TYPE: Record<LabKey, KeyType> = { 'ecdsa-p256': 'ecdsa', 'ed25519': 'ed25519', 'rsa-2048': 'rsa' };

export interface LabMaterial {
  dir: string;
  ca: string;
  caFile: string;
  servers: Partial<Record<LabKey, { certFile: string; keyFile: string }>>;
  device: { cert: string; key: string };
  psk: { identity: string; key: Buffer };
  pskFile: string;
  /** One session ticket key for every broker child, so a ticket from one resumes on another. */
  ticketKeyFile: string;
  remove(): Promise<void>;
}

/** One ECDSA CA signs every server key type, so the rows differ only by the server's key. */
export async function makeMaterial(keys: readonly LabKey[]): Promise<LabMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-lab-'));
  const base = await ensureDevPki(join(dir, 'ecdsa-p256'), { keyType: 'ecdsa', deviceId: 'lab-device' });
  if (!base.device) throw new MoatError('MOAT_ERR_LAB_SETUP', 'the dev PKI made no device certificate');
  const servers: LabMaterial['servers'] = {};
  for (const key of keys) {
    let certFile = base.serverCertPath;
    let keyFile = base.serverKeyPath;
    if (key !== 'ecdsa-p256') {
      const sub = join(dir, key);
      await mkdir(sub, { recursive: true, mode: 0o700 });
      await copyFile(base.caCertPath, join(sub, 'ca.crt'));
      await copyFile(base.caKeyPath, join(sub, 'ca.key'));
      // The CA is there, the server certificate is not: ensureDevPki issues one of this key type from it.
      const p = await ensureDevPki(sub, { keyType: KEY_TYPE[key], deviceId: 'lab-device' });
      certFile = p.serverCertPath;
      keyFile = p.serverKeyPath;
    }
    servers[key] = { certFile, keyFile };
  }
  const psk = { identity: 'lab-device', key: randomBytes(32) };
  const pskFile = join(dir, 'psk.txt');
  await writeFile(pskFile, `${psk.identity}:${psk.key.toString('hex')}\n`, { mode: 0o600 });
  const ticketKeyFile = join(dir, 'tickets.key');
  await writeFile(ticketKeyFile, `${randomBytes(48).toString('hex')}\n`, { mode: 0o600 });
  return {
    ticketKeyFile, dir, ca: base.ca, caFile: base.caCertPath, servers, device: { cert: base.device.cert, key: base.device.key }, psk, pskFile,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface ChildBroker {
  ports: ChildPorts;
  /** The child's process CPU time (user + system), µs. */
  cpuUs(): Promise<number>;
  /** The child's RSS after a full GC, bytes. */
  rss(): Promise<number>;
  stats(): Promise<Extract<ChildReply, { type: 'stats' }>['stats']>;
  connections(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `memory`: a child for RSS differences only. V8 would otherwise shrink an idle heap on its own timer
 * (memory reducer) and free swept pages from helper threads after gc() returned, in the middle of a
 * difference (seen as a negative memory per connection). The child whose CPU is measured runs with
 * V8's defaults, as a broker would.
 */
export interface ChildBrokerOptions {
  memory?: boolean;
  /** The broker's connect timeout (default the broker's 10 s): long simulated RTTs need more. */
  connectTimeoutMs?: number;
}

export async function startChildBroker(m: LabMaterial, o: ChildBrokerOptions = {}): Promise<ChildBroker> {
  const cfg: ChildConfig = {
    servers: m.servers as Record<string, { certFile: string; keyFile: string }>, caFile: m.caFile, pskFile: m.pskFile, ticketKeyFile: m.ticketKeyFile,
    ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
  };
  const entry = fileURLToPath(new URL('./broker-child.js', import.meta.url));
  const child: ChildProcess = fork(entry, [], { execArgv: ['--expose-gc', ...(o.memory ? ['--no-memory-reducer', '--single-threaded-gc'] : [])], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const pending: Array<{ type: string; resolve: (r: ChildReply) => void; reject: (e: Error) => void }> = [];
  let exited: Error | undefined;
  const ready = new Promise<ChildPorts>((resolve, reject) => {
    child.on('message', (r: ChildReply) => {
      if (r.type === 'ready') resolve(r.ports);
      else if (r.type === 'error') reject(new MoatError('MOAT_ERR_LAB_SETUP', `the lab broker did not start: ${r.message}`));
      else {
        const i = pending.findIndex((p) => p.type === r.type);
        if (i >= 0) pending.splice(i, 1)[0]!.resolve(r);
      }
    });
    child.on('exit', (code) => {
      exited = new MoatError('MOAT_ERR_LAB_SETUP', `the lab broker exited (code ${String(code)})`);
      reject(exited);
      for (const p of pending.splice(0)) p.reject(exited);
    });
  });
  child.send(cfg);
  const ports = await ready;
  const ask = <T extends ChildReply['type']>(type: T): Promise<Extract<ChildReply, { type: T }>> => {
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => {
      pending.push({ type, resolve: resolve as (r: ChildReply) => void, reject });
      child.send(type);
    });
  };
  return {
    ports,
    cpuUs: async () => {
      const r = await ask('cpu');
      return r.userUs + r.systemUs;
    },
    rss: async () => (await ask('mem')).rss,
    stats: async () => (await ask('stats')).stats,
    connections: async () => (await ask('connections')).count,
    close: async () => {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
