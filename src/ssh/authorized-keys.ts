/**
 * The console's key file: OpenSSH `authorized_keys` format, one key a line, with the role in an option:
 *
 *   moat-role=admin ssh-ed25519 AAAAC3Nza… alice@laptop
 *   moat-role=viewer,from="10.0.0.0/8" ecdsa-sha2-nistp256 AAAAE2Vj… grafana
 *   ssh-ed25519 AAAAC3Nza… bob            (no moat-role: viewer, the least privilege)
 *
 * Other OpenSSH options are accepted and ignored (the console has no port forwarding, agent or X11 to
 * restrict). DSA keys are refused: they sign with SHA-1 only.
 */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import { MoatError } from '../codec/errors.js';
import { fingerprintOf } from './host-key.js';

export type Role = 'admin' | 'viewer';

export interface AuthorizedKey {
  role: Role;
  /** The key type written in the file (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, …). */
  type: string;
  /** The public key blob, compared with what the client offers. */
  blob: Buffer;
  fingerprint: string;
  comment: string;
  line: number;
}

const KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-dss)$/;

export async function loadAuthorizedKeys(path: string): Promise<AuthorizedKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MoatError('MOAT_ERR_SSH_AUTHORIZED_KEYS', `cannot read ${path}`, { cause: err });
  }
  return parseAuthorizedKeys(text, path);
}

export function parseAuthorizedKeys(text: string, source = 'authorized keys'): AuthorizedKey[] {
  const keys: AuthorizedKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source}:${i + 1}`;
    const fields = splitFields(line);
    let options = '';
    if (!KEY_TYPE.test(fields[0] ?? '')) options = fields.shift() ?? '';
    const [type, base64, ...rest] = fields;
    if (type === undefined || !KEY_TYPE.test(type) || base64 === undefined) throw bad(where, 'expected [options] key-type base64 [comment]');
    if (type === 'ssh-dss') throw bad(where, 'DSA keys are not accepted (SHA-1 only)');
    const parsed = ssh2.utils.parseKey(`${type} ${base64}`);
    if (parsed instanceof Error || Array.isArray(parsed)) throw bad(where, 'the key cannot be parsed');
    keys.push({
      role: roleOf(options, where), type, blob: parsed.getPublicSSH(),
      fingerprint: fingerprintOf(parsed.getPublicSSH()), comment: rest.join(' '), line: i + 1,
    });
  });
  return keys;
}

function roleOf(options: string, where: string): Role {
  let role: Role = 'viewer';
  for (const opt of splitOptions(options)) {
    const m = /^moat-role=(?:"([^"]*)"|(.*))$/i.exec(opt);
    if (!m) continue;
    const value = (m[1] ?? m[2] ?? '').toLowerCase();
    if (value !== 'admin' && value !== 'viewer') throw bad(where, `moat-role must be admin or viewer, not "${value}"`);
    role = value;
  }
  return role;
}

/** Whitespace-separated fields, where a double-quoted part (in options) may hold spaces. */
function splitFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === ' ' || ch === '\t')) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

/** Comma-separated options, commas inside double quotes kept. */
function splitOptions(options: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of options) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function bad(where: string, why: string): MoatError {
  return new MoatError('MOAT_ERR_SSH_AUTHORIZED_KEYS', `${where}: ${why}`);
}
