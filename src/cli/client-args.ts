/**
 * Flags shared by `moat pub` and `moat sub`, mosquitto_pub/sub style, and how they become a broker URL
 * and ClientOptions. The dev profile: for a local host (localhost, 127.0.0.1, ::1, this machine's name)
 * ./.moat/client.json — written by the broker's first start and `moat certs init` — names the dev CA
 * and a device certificate and key; then TLS on 8883 is the default, the CA verifies the server and the
 * device certificate is offered, so `moat sub -t '#'` works against `npm start` with no flags. Without a
 * profile, ./.moat/pki/ca.crt alone does the same for the server side. Explicit flags always win.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { MoatError, type QoS } from '../codec/index.js';
import type { ClientOptions } from '../client/index.js';

export const COMMON_OPTIONS = {
  host: { type: 'string', short: 'h' }, port: { type: 'string', short: 'p' }, url: { type: 'string', short: 'L' },
  id: { type: 'string', short: 'i' }, username: { type: 'string', short: 'u' }, pw: { type: 'string', short: 'P' },
  keepalive: { type: 'string', short: 'k' }, 'protocol-version': { type: 'string', short: 'V' },
  qos: { type: 'string', short: 'q' }, cafile: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
  insecure: { type: 'boolean' }, psk: { type: 'string' }, 'psk-identity': { type: 'string' }, 'disable-clean-session': { type: 'boolean', short: 'c' },
  'session-expiry': { type: 'string', short: 'x' },
  'will-topic': { type: 'string' }, 'will-payload': { type: 'string' }, 'will-qos': { type: 'string' },
  'will-retain': { type: 'boolean' }, 'will-delay': { type: 'string' },
  'data-dir': { type: 'string' }, help: { type: 'boolean' },
} as const;

export type CommonValues = { [K in keyof typeof COMMON_OPTIONS]?: (typeof COMMON_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

const usage = (msg: string): MoatError => new MoatError('MOAT_ERR_CONFIG', msg);

export function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  // Number('') is 0: an empty value (`--rtt 50,`, `-k ''`) must not pass for zero.
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw usage(`${name} must be an integer from ${min} to ${max}, not "${value}"`);
  return n;
}

export function qosFlag(name: string, value: string | undefined): QoS {
  return (intFlag(name, value, 0, 2) ?? 0) as QoS;
}

const LOCAL = new Set(['localhost', '127.0.0.1', '::1']);
/** The names the dev server certificate covers: the only hosts the dev profile is used (and its device certificate shown) for. */
const isLocal = (host: string): boolean => LOCAL.has(host) || host === hostname();

export const CLIENT_PROFILE = 'client.json';

/** A client profile with absolute paths; in the file they are relative to its folder (the folder can move). */
export interface ClientProfile { path: string; ca: string; cert?: string; key?: string }

export function readClientProfile(dataDir: string): ClientProfile | undefined {
  const path = join(dataDir, CLIENT_PROFILE);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw usage(`client profile ${path} is not readable JSON (${(err as Error).message})`);
  }
  const o = (json ?? {}) as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    const value = o[k];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw usage(`client profile ${path}: "${k}" must be a file path`);
    return resolve(dirname(path), value);
  };
  const [ca, cert, key] = [str('ca'), str('cert'), str('key')];
  if (ca === undefined) throw usage(`client profile ${path}: "ca" is missing`);
  if ((cert === undefined) !== (key === undefined)) throw usage(`client profile ${path}: "cert" and "key" go together`);
  return { path, ca, ...(cert !== undefined ? { cert, key: key! } : {}) };
}

/** Writes <dataDir>/client.json naming these files; an existing profile is kept unless `overwrite`. */
export async function writeClientProfile(dataDir: string, files: { ca: string; cert: string; key: string }, overwrite: boolean): Promise<{ path: string; created: boolean }> {
  const path = join(dataDir, CLIENT_PROFILE);
  const rel = (p: string): string => relative(dataDir, p) || p;
  const body = `${JSON.stringify({ ca: rel(files.ca), cert: rel(files.cert), key: rel(files.key) }, null, 2)}\n`;
  try {
    await writeFile(path, body, { mode: 0o644, flag: overwrite ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { path, created: false };
    throw err;
  }
  return { path, created: true };
}

/** The broker URL and client options the flags describe. */
/** Printed on stderr whenever verification is turned off: the user must not miss it. */
export const INSECURE_WARNING = "moat: WARNING: --insecure: the broker's certificate is NOT verified; anyone on the path can impersonate it\n";

export function clientSetup(v: CommonValues, cwd = '.'): { url: string; options: ClientOptions } {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch {
      throw usage(`${flag}: cannot read ${path}`);
    }
  };
  const dataDir = join(cwd, v['data-dir'] ?? '.moat');
  const devCa = join(dataDir, 'pki', 'ca.crt');
  let url: string;
  let host: string;
  let profile: ClientProfile | undefined;
  const explicitUrl = v.url ?? (v.host?.includes('://') ? v.host : undefined);
  if (explicitUrl) {
    if (v.port !== undefined) throw usage('-p cannot be combined with a URL (put the port in the URL)');
    url = explicitUrl;
    try {
      host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    } catch {
      throw usage(`invalid broker URL "${url}"`);
    }
    profile = isLocal(host) ? readClientProfile(dataDir) : undefined;
    // TLS material with a plain mqtt:// or ws:// URL would be silently unused: say so instead.
    const tlsFlags = (['cafile', 'cert', 'key', 'psk', 'psk-identity', 'insecure'] as const).filter((f) => v[f] !== undefined && v[f] !== false);
    if (tlsFlags.length > 0 && /^(mqtt|ws):/i.test(url)) {
      throw usage(`${tlsFlags.map((f) => `--${f}`).join(', ')} need a TLS URL (mqtts:// or wss://), not ${url}`);
    }
  } else {
    host = v.host ?? 'localhost';
    const port = intFlag('-p', v.port, 1, 65_535);
    profile = isLocal(host) ? readClientProfile(dataDir) : undefined;
    const devProfile = isLocal(host) && port === undefined && (profile !== undefined || existsSync(devCa));
    const tls = v.cafile !== undefined || v.cert !== undefined || v.insecure === true || v.psk !== undefined
      || port === 8883 || devProfile;
    url = `${tls ? 'mqtts' : 'mqtt'}://${host.includes(':') ? `[${host}]` : host}:${port ?? (tls ? 8883 : 1883)}`;
  }
  const options: ClientOptions = { reconnect: false };
  const version = v['protocol-version'];
  if (version !== undefined) {
    if (['311', 'mqttv311', '3.1.1', '4'].includes(version)) options.protocolVersion = 4;
    else if (['5', 'mqttv5', '5.0'].includes(version)) options.protocolVersion = 5;
    else throw usage(`-V must be 311 or 5, not "${version}"`);
  }
  if (v.id !== undefined) options.clientId = v.id;
  if (v.username !== undefined) options.username = v.username;
  if (v.pw !== undefined) options.password = v.pw;
  const ka = intFlag('-k', v.keepalive, 0, 65_535);
  if (ka !== undefined) options.keepAlive = ka;
  if (v['disable-clean-session']) options.clean = false;
  const expiry = intFlag('-x', v['session-expiry'], 0, 0xffff_ffff);
  if (expiry !== undefined) options.sessionExpiry = expiry;
  if (v.cafile !== undefined) options.ca = read('--cafile', v.cafile);
  else if (profile) options.ca = read(`client profile ${profile.path}: ca`, profile.ca);
  else if (isLocal(host) && existsSync(devCa)) options.ca = read('dev CA', devCa);
  if (v.cert !== undefined || v.key !== undefined) {
    if (v.cert === undefined || v.key === undefined) throw usage('--cert and --key go together');
    options.cert = read('--cert', v.cert);
    options.key = read('--key', v.key);
  } else if (profile?.cert && profile.key && v.psk === undefined && /^(mqtts|wss):/i.test(url)) {
    // The profile's device certificate, offered only over TLS and only to the local broker.
    options.cert = read(`client profile ${profile.path}: cert`, profile.cert);
    options.key = read(`client profile ${profile.path}: key`, profile.key);
  }
  if (v.insecure) options.rejectUnauthorized = false;
  if (v.psk !== undefined || v['psk-identity'] !== undefined) {
    if (v.psk === undefined || v['psk-identity'] === undefined) throw usage('--psk and --psk-identity go together');
    if (!/^([0-9a-fA-F]{2})+$/.test(v.psk)) throw usage('--psk must be the key in hexadecimal');
    options.psk = v.psk;
    options.pskIdentity = v['psk-identity'];
  }
  if (v['will-topic'] !== undefined) {
    const delay = intFlag('--will-delay', v['will-delay'], 0, 0xffff_ffff);
    options.will = {
      topic: v['will-topic'], payload: v['will-payload'] ?? '', qos: qosFlag('--will-qos', v['will-qos']),
      retain: v['will-retain'] ?? false, ...(delay !== undefined ? { delay } : {}),
    };
  } else if (v['will-payload'] !== undefined || v['will-qos'] !== undefined || v['will-retain'] || v['will-delay'] !== undefined) {
    throw usage('--will-payload, --will-qos, --will-retain and --will-delay need --will-topic');
  }
  return { url, options };
}

export const COMMON_HELP = `Connection:
  -h HOST                   broker host (default localhost); or a URL: mqtt://, mqtts://, ws://, wss://
  -p PORT                   port (default 1883, or 8883 with TLS; 8883 means TLS)
  -L URL                    broker URL, instead of -h/-p
  -i ID                     client id (default: random)
  -u USER, -P PASSWORD      credentials
  -k SECONDS                keep alive (default 60)
  -V 311|5                  MQTT version (default 5)
  -c                        persistent session (no clean start); -x SECONDS session expiry (v5)
  --cafile FILE             CA to verify the broker with (TLS)
  --cert FILE, --key FILE   client certificate and key (TLS)
  --insecure                do not verify the broker's certificate (tests only)
  --psk HEX --psk-identity ID   TLS-PSK instead of certificates (TLS 1.2)
  --will-topic T  --will-payload P  --will-qos Q  --will-retain  --will-delay SECONDS
  --data-dir DIR            dev profile directory (default ./.moat): for localhost, 127.0.0.1, ::1
                            and this host's name its client.json (CA, device cert and key; else
                            pki/ca.crt) is used where no flag says otherwise, and TLS on 8883 is
                            the default there
  --help                    this help
`;
