/**
 * The `ssh` key of the broker configuration (and `--ssh HOST:PORT`, `MOAT_SSH`): the SSH console
 * (docs/ssh.md). Off unless given. Paths default under `<dataDir>/ssh/`.
 *
 *   ssh:
 *     listen: 0.0.0.0:2222
 *     authorizedKeys: ./.moat/ssh/authorized_keys   # moat-role=admin|viewer per key
 *     hostKeyDir: ./.moat/ssh                       # host_ed25519_key made on first use
 *     passwordFile: ./ssh-passwd                    # optional (moat passwd format, scrypt)
 *     passwordRole: viewer                          # role of password users (default viewer)
 *     auditFile: ./.moat/ssh/audit.log              # admin actions, JSON lines
 */
import { join } from 'node:path';
import { MoatError } from '../codec/index.js';

export interface SshConfig {
  listen: { host: string; port: number };
  authorizedKeys?: string;
  hostKeyDir?: string;
  passwordFile?: string;
  passwordRole?: 'admin' | 'viewer';
  auditFile?: string;
}

export const SSH_KEYS = ['listen', 'authorizedKeys', 'hostKeyDir', 'passwordFile', 'passwordRole', 'auditFile'];

const bad = (key: string, why: string): MoatError => new MoatError('MOAT_ERR_CONFIG', `config key "${key}": ${why}`);

/** `HOST:PORT`, `[v6]:PORT` or a bare `PORT` (all interfaces). */
export function parseSshListen(key: string, v: unknown): { host: string; port: number } {
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : undefined;
  const m = text === undefined ? null : /^(?:\[([0-9a-fA-F:.]+)\]:|([^:\s[\]]+):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw bad(key, `must be HOST:PORT (e.g. 0.0.0.0:2222), not ${JSON.stringify(v)}`);
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port };
}

/** The `ssh` key: a HOST:PORT string, or a mapping with listen and the keys above. */
export function parseSshConfig(key: string, v: unknown): SshConfig {
  if (typeof v === 'string' || typeof v === 'number') return { listen: parseSshListen(key, v) };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'must be HOST:PORT or a mapping with listen');
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!SSH_KEYS.includes(k)) throw bad(`${key}.${k}`, `unknown key; known: ${SSH_KEYS.join(', ')}`);
  const out: SshConfig = { listen: parseSshListen(`${key}.listen`, m['listen']) };
  for (const k of ['authorizedKeys', 'hostKeyDir', 'passwordFile', 'auditFile'] as const) {
    const val = m[k];
    if (val === undefined) continue;
    if (typeof val !== 'string' || val === '') throw bad(`${key}.${k}`, 'must be a non-empty string');
    out[k] = val;
  }
  if (m['passwordRole'] !== undefined) {
    if (m['passwordRole'] !== 'admin' && m['passwordRole'] !== 'viewer') throw bad(`${key}.passwordRole`, 'must be admin or viewer');
    out.passwordRole = m['passwordRole'];
  }
  return out;
}

/** `--ssh HOST:PORT` / `MOAT_SSH`: sets where to listen and keeps the file's other ssh keys. */
export function withSshListen(current: SshConfig | undefined, key: string, v: string): SshConfig {
  return { ...current, listen: parseSshListen(key, v) };
}

/** The files the console uses, defaults filled in from the data directory. */
export function sshPaths(cfg: SshConfig, dataDir: string): { hostKeyDir: string; authorizedKeys: string; auditFile: string } {
  const dir = join(dataDir, 'ssh');
  return {
    hostKeyDir: cfg.hostKeyDir ?? dir,
    authorizedKeys: cfg.authorizedKeys ?? join(dir, 'authorized_keys'),
    auditFile: cfg.auditFile ?? join(dir, 'audit.log'),
  };
}
