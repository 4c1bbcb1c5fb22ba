/**
 * `moat broker` configuration: defaults < YAML file < environment (MOAT_*) < flags. Every key is
 * checked; an unknown key or a value of the wrong type is refused with the key's name.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { MoatError } from '../codec/index.js';
import { DEFAULT_LIMITS, type BrokerLimits, type BrokerOptions } from '../broker/config.js';
import { parseListenUrl } from '../broker/listeners.js';
import { CERT_IDENTITY_FIELDS, type CertIdentityField } from '../security/tls-identity.js';
import { JWT_ALGORITHMS, type JwtAlgorithm } from '../security/jwt.js';
import type { LoginBackoffOptions } from '../security/login-backoff.js';
import { isTlsProfileName, TLS_PROFILES, type TlsProfileName } from '../security/tls-profiles.js';
import { parseSshConfig, withSshListen, type SshConfig } from './ssh-config.js';

export interface ListenerConfig {
  url: string;
  /** TLS files for mqtts:// and wss://; absent → the dev PKI under dataDir. */
  cert?: string;
  key?: string;
  ca?: string;
  /** Require client certificates verified against `ca` (the device CA); with `ca` alone they are optional. */
  requireClientCert?: boolean;
  /** TLS profile: modern (default, TLS 1.3 only), compatible (adds TLS 1.2 ECDHE+AEAD), psk. */
  tlsProfile?: TlsProfileName;
  /** Refuse to start unless OpenSSL is in FIPS mode; then FIPS-approved suites and groups only. */
  fips?: boolean;
  /** PEM CRL from the device CA. */
  crl?: string;
  /** Mosquitto-style identity:hexkey file (TLS-PSK). */
  pskFile?: string;
  /** Per-name certificates: host name (or *.domain) → cert and key files. */
  sni?: Record<string, { cert: string; key: string }>;
  /** 48-byte session ticket key file (created when absent), shareable between brokers. */
  ticketKeyFile?: string;
  ticketRotationSeconds?: number;
  /** Seconds a TLS session (ticket) stays resumable: the ticket lifetime clients are told (default 7200). */
  sessionTimeout?: number;
  /** Which part of a client certificate names the client: cn (default), san-dns, san-email, san-uri. */
  certIdentity?: CertIdentityField;
}

/** Where sessions, queues, retained messages and wills are kept (docs/persistence.md). */
export type StoreConfig =
  | { type: 'memory' }
  /** `path` defaults to <dataDir>/data/moat.db; `synchronous: full` fsyncs every commit. */
  | { type: 'sqlite'; path?: string; synchronous: 'full' | 'normal' }
  | { type: 'redis'; url: string; prefix: string; lockTtlSeconds?: number };

/** JWT authentication (docs/security.md "JWT"): at least one of the key files; `audience` is required (null: any). */
export interface JwtConfig {
  algorithms?: JwtAlgorithm[];
  /** HS256 secret, at least 32 bytes (one trailing newline is ignored). */
  secretFile?: string;
  /** RS256/ES256 PEM public key or certificate. */
  publicKeyFile?: string;
  /** JWKS file, read again on SIGHUP. */
  jwksFile?: string;
  audience: string | string[] | null;
  issuer?: string | string[];
  clockSkewSeconds?: number;
  usernameClaim?: string;
  clientIdClaim?: string;
}

/** Who may connect (src/cli/auth-setup.ts builds the hooks); certUsername & co. go to broker.identityFromTls. */
export interface AuthConfig {
  passwordFile?: string;
  jwt?: JwtConfig;
  /** Per-address backoff after failed logins; false switches it off. */
  backoff: LoginBackoffOptions | false;
}

/** The ACL file and the usernames that are admins besides the file's `admin` markers. */
export interface AclConfig {
  file: string;
  admins: string[];
}

export interface BrokerConfig {
  listeners: ListenerConfig[];
  dataDir: string;
  store: StoreConfig;
  auth: AuthConfig;
  acl?: AclConfig;
  /** The SSH console (docs/ssh.md); off when absent. */
  ssh?: SshConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  broker: Required<Omit<BrokerOptions, 'limits'>> & { limits: BrokerLimits };
}

export const DEFAULT_CONFIG: BrokerConfig = {
  // Secure by default: TLS only, nothing in clear text unless asked for.
  listeners: [{ url: 'mqtts://0.0.0.0:8883' }],
  dataDir: './.moat',
  // Durable by default: an acknowledged QoS 1/2 message is on disk.
  store: { type: 'sqlite', synchronous: 'full' },
  auth: { backoff: {} },
  logLevel: 'warn',
  broker: {
    allowAnonymous: 'loopback', maximumQoS: 2, retainAvailable: true, sysInterval: 10, limits: { ...DEFAULT_LIMITS },
    identityFromTls: { certUsername: false, pskUsername: false, forceClientIdFromCert: false },
  },
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const bad = (key: string, why: string): MoatError => new MoatError('MOAT_ERR_CONFIG', `config key "${key}": ${why}`);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(key: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw bad(key, `must be an integer from ${min} to ${max}`);
  return n;
}

function bool(key: string, v: unknown): boolean {
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw bad(key, 'must be true or false');
}

function str(key: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(key, 'must be a non-empty string');
  return v;
}

const LIMIT_RANGES: Record<keyof BrokerLimits, [number, number]> = {
  maxPacketSize: [64, 268_435_460], maxTopicLength: [1, 65_535], maxTopicLevels: [1, 65_535],
  receiveMaximum: [1, 65_535], maxInflight: [1, 65_535], maxQueuedMessages: [0, 10_000_000],
  maxQueuedBytes: [0, 2 ** 40], topicAliasMaximum: [0, 65_535], maxConnections: [1, 10_000_000], maxSessions: [1, 100_000_000],
  connectTimeoutMs: [100, 3_600_000], maxKeepAlive: [1, 65_535], maxSessionExpiry: [0, 0xffff_ffff],
  maxClientIdLength: [1, 65_535], maxSubscriptionsPerSession: [1, 10_000_000], maxWriteBuffer: [1024, 2 ** 32], drainTimeoutMs: [100, 86_400_000], maxThrottleMs: [10, 3_600_000],
  maxMemoryBytes: [1024 * 1024, 2 ** 44],
};

function applyLimit(cfg: BrokerConfig, name: string, value: unknown): void {
  const range = LIMIT_RANGES[name as keyof BrokerLimits];
  if (!range) throw bad(`limits.${name}`, `unknown limit; known: ${Object.keys(LIMIT_RANGES).join(', ')}`);
  cfg.broker.limits[name as keyof BrokerLimits] = int(`limits.${name}`, value, range[0], range[1]);
}

const LISTENER_KEYS = 'url, cert, key, ca, requireClientCert, tlsProfile, fips, crl, pskFile, sni, ticketKeyFile, ticketRotationSeconds, sessionTimeout, certIdentity';

function listener(key: string, v: unknown): ListenerConfig {
  const entry = typeof v === 'string' ? { url: v } : v;
  if (!isRecord(entry)) throw bad(key, 'must be a URL or a mapping with url, cert, key, ca');
  const out: ListenerConfig = { url: str(`${key}.url`, entry['url']) };
  parseListenUrl(out.url);
  for (const [k, val] of Object.entries(entry)) {
    const name = `${key}.${k}`;
    if (k === 'url') continue;
    if (k === 'cert' || k === 'key' || k === 'ca' || k === 'crl' || k === 'pskFile' || k === 'ticketKeyFile') out[k] = str(name, val);
    else if (k === 'requireClientCert') out.requireClientCert = bool(name, val);
    else if (k === 'fips') out.fips = bool(name, val);
    else if (k === 'ticketRotationSeconds') out.ticketRotationSeconds = int(name, val, 0, 30 * 86_400);
    else if (k === 'sessionTimeout') out.sessionTimeout = int(name, val, 1, 604_800);
    else if (k === 'tlsProfile') {
      if (!isTlsProfileName(val)) throw bad(name, `must be one of ${TLS_PROFILES.join(', ')}`);
      out.tlsProfile = val;
    } else if (k === 'certIdentity') {
      if (!CERT_IDENTITY_FIELDS.includes(val as CertIdentityField)) throw bad(name, `must be one of ${CERT_IDENTITY_FIELDS.join(', ')}`);
      out.certIdentity = val as CertIdentityField;
    } else if (k === 'sni') {
      if (!isRecord(val)) throw bad(name, 'must be a mapping of host name to {cert, key}');
      out.sni = {};
      for (const [host, e] of Object.entries(val)) {
        if (!isRecord(e) || Object.keys(e).some((x) => x !== 'cert' && x !== 'key')) throw bad(`${name}.${host}`, 'must be a mapping with cert and key');
        out.sni[host] = { cert: str(`${name}.${host}.cert`, e['cert']), key: str(`${name}.${host}.key`, e['key']) };
      }
    } else throw bad(name, `unknown key; known: ${LISTENER_KEYS}`);
  }
  if (out.tlsProfile === 'psk' && !out.pskFile) throw bad(`${key}.pskFile`, 'tlsProfile psk needs a pskFile');
  return out;
}

/** `memory`, `sqlite`, a redis:// URL, or a mapping with type and its keys. */
function store(key: string, v: unknown): StoreConfig {
  if (v === 'memory') return { type: 'memory' };
  if (v === 'sqlite') return { type: 'sqlite', synchronous: 'full' };
  if (typeof v === 'string' && /^rediss?:\/\//.test(v)) return { type: 'redis', url: v, prefix: 'moat:' };
  if (!isRecord(v)) throw bad(key, 'must be memory, sqlite, a redis:// URL or a mapping with type');
  const known: Record<string, string[]> = { memory: ['type'], sqlite: ['type', 'path', 'synchronous'], redis: ['type', 'url', 'prefix', 'lockTtlSeconds'] };
  const type = v['type'];
  if (typeof type !== 'string' || !known[type]) throw bad(`${key}.type`, 'must be memory, sqlite or redis');
  for (const k of Object.keys(v)) if (!known[type]!.includes(k)) throw bad(`${key}.${k}`, `unknown key for a ${type} store; known: ${known[type]!.join(', ')}`);
  if (type === 'memory') return { type };
  if (type === 'redis') {
    const url = str(`${key}.url`, v['url']);
    if (!/^rediss?:\/\//.test(url)) throw bad(`${key}.url`, 'must be a redis:// or rediss:// URL');
    const out: StoreConfig = { type, url, prefix: v['prefix'] === undefined ? 'moat:' : str(`${key}.prefix`, v['prefix']) };
    if (v['lockTtlSeconds'] !== undefined) out.lockTtlSeconds = int(`${key}.lockTtlSeconds`, v['lockTtlSeconds'], 1, 3600);
    return out;
  }
  const synchronous = v['synchronous'] ?? 'full';
  if (synchronous !== 'full' && synchronous !== 'normal') throw bad(`${key}.synchronous`, 'must be full or normal');
  return v['path'] === undefined ? { type: 'sqlite', synchronous } : { type: 'sqlite', synchronous, path: str(`${key}.path`, v['path']) };
}

function strings(key: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw bad(key, 'must be a list of strings');
  return v.map((x, i) => str(`${key}[${i}]`, x));
}

/** A string or a non-empty list of strings. */
function oneOrMany(key: string, v: unknown): string | string[] {
  if (Array.isArray(v) && v.length === 0) throw bad(key, 'must be a string or a non-empty list of strings');
  return Array.isArray(v) ? strings(key, v) : str(key, v);
}

function onlyKeys(key: string, v: Record<string, unknown>, known: string[]): void {
  for (const k of Object.keys(v)) if (!known.includes(k)) throw bad(`${key}.${k}`, `unknown key; known: ${known.join(', ')}`);
}

const JWT_KEYS = ['algorithms', 'secretFile', 'publicKeyFile', 'jwksFile', 'audience', 'issuer', 'clockSkewSeconds', 'usernameClaim', 'clientIdClaim'];

function jwt(key: string, v: unknown): JwtConfig {
  if (!isRecord(v)) throw bad(key, 'must be a mapping');
  onlyKeys(key, v, JWT_KEYS);
  // Required so a token minted for another service is not accepted by accident (null: any audience).
  if (!('audience' in v)) throw bad(`${key}.audience`, 'required: the accepted audience(s), or null to accept any');
  const out: JwtConfig = { audience: v['audience'] === null ? null : oneOrMany(`${key}.audience`, v['audience']) };
  for (const k of ['secretFile', 'publicKeyFile', 'jwksFile', 'usernameClaim', 'clientIdClaim'] as const) {
    if (v[k] !== undefined) out[k] = str(`${key}.${k}`, v[k]);
  }
  if (!out.secretFile && !out.publicKeyFile && !out.jwksFile) throw bad(key, 'needs secretFile, publicKeyFile or jwksFile');
  if (v['issuer'] !== undefined) out.issuer = oneOrMany(`${key}.issuer`, v['issuer']);
  if (v['clockSkewSeconds'] !== undefined) out.clockSkewSeconds = int(`${key}.clockSkewSeconds`, v['clockSkewSeconds'], 0, 3600);
  if (v['algorithms'] !== undefined) {
    const algs = strings(`${key}.algorithms`, v['algorithms']);
    const wrong = algs.find((a) => !JWT_ALGORITHMS.includes(a as JwtAlgorithm));
    if (wrong !== undefined || algs.length === 0) throw bad(`${key}.algorithms`, `must be a non-empty list of ${JWT_ALGORITHMS.join(', ')}`);
    out.algorithms = algs as JwtAlgorithm[];
  }
  return out;
}

const BACKOFF_RANGES: Record<keyof LoginBackoffOptions, [number, number]> = {
  freeFailures: [1, 1000], baseMs: [1, 3_600_000], maxMs: [1, 86_400_000], forgetAfterMs: [1000, 7 * 86_400_000], maxAddresses: [1, 10_000_000],
};

function backoff(key: string, v: unknown): LoginBackoffOptions | false {
  if (v === false || v === 'false') return false;
  if (!isRecord(v)) throw bad(key, 'must be false or a mapping');
  onlyKeys(key, v, Object.keys(BACKOFF_RANGES));
  const out: LoginBackoffOptions = {};
  for (const [k, [min, max]] of Object.entries(BACKOFF_RANGES)) {
    if (v[k] !== undefined) out[k as keyof LoginBackoffOptions] = int(`${key}.${k}`, v[k], min, max);
  }
  return out;
}

const AUTH_KEYS = ['passwordFile', 'jwt', 'backoff', 'certUsername', 'pskUsername', 'forceClientIdFromCert'];

function applyAuth(cfg: BrokerConfig, key: string, v: unknown): void {
  if (!isRecord(v)) throw bad(key, 'must be a mapping');
  onlyKeys(key, v, AUTH_KEYS);
  const auth: AuthConfig = { backoff: v['backoff'] === undefined ? {} : backoff(`${key}.backoff`, v['backoff']) };
  if (v['passwordFile'] !== undefined) auth.passwordFile = str(`${key}.passwordFile`, v['passwordFile']);
  if (v['jwt'] !== undefined) auth.jwt = jwt(`${key}.jwt`, v['jwt']);
  cfg.auth = auth;
  const identity = cfg.broker.identityFromTls;
  for (const k of ['certUsername', 'pskUsername', 'forceClientIdFromCert'] as const) {
    if (v[k] !== undefined) identity[k] = bool(`${key}.${k}`, v[k]);
  }
}

function acl(key: string, v: unknown): AclConfig {
  if (typeof v === 'string') return { file: str(key, v), admins: [] };
  if (!isRecord(v)) throw bad(key, 'must be a file name or a mapping with file and admins');
  onlyKeys(key, v, ['file', 'admins']);
  return { file: str(`${key}.file`, v['file']), admins: v['admins'] === undefined ? [] : strings(`${key}.admins`, v['admins']) };
}

function anonymous(key: string, v: unknown): boolean | 'loopback' {
  return v === 'loopback' ? 'loopback' : bool(key, v);
}

/** Applies one top-level key (file, env or flag) onto the config. */
function applyKey(cfg: BrokerConfig, key: string, v: unknown): void {
  switch (key) {
    case 'listeners':
      if (!Array.isArray(v) || v.length === 0) throw bad(key, 'must be a non-empty list');
      cfg.listeners = v.map((l, i) => listener(`listeners[${i}]`, l));
      return;
    case 'dataDir': cfg.dataDir = str(key, v); return;
    case 'store': cfg.store = store(key, v); return;
    case 'auth': applyAuth(cfg, key, v); return;
    case 'acl': cfg.acl = acl(key, v); return;
    case 'ssh': cfg.ssh = parseSshConfig(key, v); return;
    case 'logLevel':
      if (typeof v !== 'string' || !LOG_LEVELS.includes(v)) throw bad(key, `must be one of ${LOG_LEVELS.join(', ')}`);
      cfg.logLevel = v as BrokerConfig['logLevel'];
      return;
    case 'allowAnonymous': cfg.broker.allowAnonymous = anonymous(key, v); return;
    case 'maximumQoS': cfg.broker.maximumQoS = int(key, v, 0, 2) as 0 | 1 | 2; return;
    case 'retainAvailable': cfg.broker.retainAvailable = bool(key, v); return;
    case 'sysInterval': cfg.broker.sysInterval = int(key, v, 0, 86_400); return;
    case 'limits':
      if (!isRecord(v)) throw bad(key, 'must be a mapping');
      for (const [name, value] of Object.entries(v)) applyLimit(cfg, name, value);
      return;
    default:
      throw bad(key, 'unknown key; known: listeners, dataDir, store, auth, acl, ssh, logLevel, allowAnonymous, maximumQoS, retainAvailable, sysInterval, limits');
  }
}

export function loadConfigFile(path: string, cfg: BrokerConfig): void {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new MoatError('MOAT_ERR_CONFIG', `cannot read config file ${path}: ${(cause as Error).message}`, { cause });
  }
  if (doc === null || doc === undefined) return;
  if (!isRecord(doc)) throw new MoatError('MOAT_ERR_CONFIG', `config file ${path} must be a YAML mapping`);
  for (const [k, v] of Object.entries(doc)) applyKey(cfg, k, v);
}

/**
 * MOAT_LISTEN (comma-separated URLs), MOAT_DATA_DIR, MOAT_STORE, MOAT_LOG_LEVEL, MOAT_ALLOW_ANONYMOUS,
 * MOAT_LIMIT_<NAME>, MOAT_PASSWORD_FILE, MOAT_ACL_FILE, MOAT_SSH (HOST:PORT of the SSH console).
 */
export function applyEnv(cfg: BrokerConfig, env: Record<string, string | undefined>): void {
  const map: Record<string, string> = {
    MOAT_DATA_DIR: 'dataDir', MOAT_STORE: 'store', MOAT_LOG_LEVEL: 'logLevel', MOAT_ALLOW_ANONYMOUS: 'allowAnonymous',
    MOAT_MAXIMUM_QOS: 'maximumQoS', MOAT_SYS_INTERVAL: 'sysInterval',
  };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith('MOAT_') || name === 'MOAT_CONFIG') continue;
    if (name === 'MOAT_LISTEN') applyKey(cfg, 'listeners', value.split(',').map((s) => s.trim()).filter(Boolean));
    else if (name.startsWith('MOAT_LIMIT_')) applyLimit(cfg, camel(name.slice('MOAT_LIMIT_'.length)), value);
    else if (name === 'MOAT_PASSWORD_FILE') setPasswordFile(cfg, name, value);
    else if (name === 'MOAT_ACL_FILE') setAclFile(cfg, name, value);
    else if (name === 'MOAT_SSH') cfg.ssh = withSshListen(cfg.ssh, name, value);
    else if (map[name]) applyKey(cfg, map[name]!, value);
    else throw new MoatError('MOAT_ERR_CONFIG', `environment variable ${name} is not a Moat setting`);
  }
}

function setPasswordFile(cfg: BrokerConfig, key: string, v: unknown): void {
  cfg.auth.passwordFile = str(key, v);
}

/** Replaces the file and keeps the admins the config file named. */
function setAclFile(cfg: BrokerConfig, key: string, v: unknown): void {
  cfg.acl = { file: str(key, v), admins: cfg.acl?.admins ?? [] };
}

const camel = (s: string): string => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export interface BrokerFlags {
  config?: string;
  listen: string[];
  dataDir?: string;
  store?: string;
  logLevel?: string;
  allowAnonymous?: string;
  passwordFile?: string;
  aclFile?: string;
  /** `--ssh HOST:PORT`: the SSH console's address; the config file's other ssh keys stay. */
  ssh?: string;
  limits: Array<[string, string]>;
}

export function resolveBrokerConfig(flags: BrokerFlags, env: Record<string, string | undefined>): BrokerConfig {
  const cfg: BrokerConfig = structuredClone(DEFAULT_CONFIG);
  const file = flags.config ?? env['MOAT_CONFIG'];
  if (file) loadConfigFile(file, cfg);
  applyEnv(cfg, env);
  if (flags.listen.length > 0) applyKey(cfg, 'listeners', flags.listen);
  if (flags.dataDir !== undefined) applyKey(cfg, 'dataDir', flags.dataDir);
  if (flags.store !== undefined) applyKey(cfg, 'store', flags.store);
  if (flags.logLevel !== undefined) applyKey(cfg, 'logLevel', flags.logLevel);
  if (flags.allowAnonymous !== undefined) applyKey(cfg, 'allowAnonymous', flags.allowAnonymous);
  if (flags.passwordFile !== undefined) setPasswordFile(cfg, '--password-file', flags.passwordFile);
  if (flags.aclFile !== undefined) setAclFile(cfg, '--acl-file', flags.aclFile);
  if (flags.ssh !== undefined) cfg.ssh = withSshListen(cfg.ssh, '--ssh', flags.ssh);
  for (const [k, v] of flags.limits) applyLimit(cfg, k, v);
  return cfg;
}
