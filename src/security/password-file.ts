/**
 * The password file: one user per line, scrypt hashes, Mosquitto-like.
 *
 *     # comment lines and blank lines are ignored
 *     alice:$scrypt$16384$8$1$<salt base64>$<hash base64>
 *
 * Fields after `$scrypt$`: N (cost, a power of two), r (block size), p (parallelism), the salt and the
 * derived key, both standard base64 (padding optional). The username is everything before the first
 * `:`; it may not contain `:` or control characters, start with `#`, or start/end with white space.
 *
 * Checks are constant-time (timingSafeEqual) and an unknown user costs one scrypt against a dummy
 * entry, so the time of an answer does not tell whether a user exists.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { MoatError } from '../codec/index.js';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** 16 MiB and ~50 ms per check on a laptop core: slow for guessing, fine for CONNECT rates behind a backoff. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** A hostile or mistyped file must not make every check allocate gigabytes: 128·N·r ≤ 256 MiB. */
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;

export interface PasswordEntry {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

const CODE = 'MOAT_ERR_PASSWORD_FILE';
const bad = (message: string, cause?: unknown): MoatError => new MoatError(CODE, message, { cause });

/** Why a username cannot go into a password file, or undefined when it can. */
export function usernameProblem(user: string): string | undefined {
  if (user === '') return 'the username is empty';
  if (user.includes(':')) return 'the username contains ":"';
  if (/\p{Cc}/u.test(user)) return 'the username contains a control character';
  if (user.startsWith('#')) return 'the username starts with "#" (a comment)';
  if (user.trim() !== user) return 'the username starts or ends with white space';
  if (Buffer.byteLength(user) > 65535) return 'the username is longer than 65,535 bytes';
  return undefined;
}

function derive(password: Buffer | string, salt: Buffer, params: ScryptParams, keylen: number): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r * 2 + 1024 * 1024 };
  return new Promise((ok, fail) => scrypt(password, salt, keylen, options, (err, key) => (err ? fail(err) : ok(key))));
}

function checkParams(params: ScryptParams): string | undefined {
  const { N, r, p } = params;
  if (!Number.isSafeInteger(N) || N < 2 || (N & (N - 1)) !== 0) return 'N must be a power of two ≥ 2';
  if (!Number.isSafeInteger(r) || r < 1 || r > 64) return 'r must be 1..64';
  if (!Number.isSafeInteger(p) || p < 1 || p > 16) return 'p must be 1..16';
  if (128 * N * r > MAX_SCRYPT_MEMORY) return 'N·r needs more than 256 MiB';
  return undefined;
}

/** The `$scrypt$…` field for a password, with a fresh random salt. */
export async function hashPassword(password: Buffer | string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const problem = checkParams(params);
  if (problem) throw bad(`invalid scrypt parameters: ${problem}`);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, KEY_BYTES);
  return formatHash({ params, salt, hash });
}

export function formatHash(e: PasswordEntry): string {
  return `$scrypt$${e.params.N}$${e.params.r}$${e.params.p}$${e.salt.toString('base64')}$${e.hash.toString('base64')}`;
}

const INT = /^[1-9][0-9]{0,9}$/;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses one `$scrypt$N$r$p$salt$hash` field; the message says what is wrong, never the field itself. */
export function parseHash(field: string): PasswordEntry {
  const parts = field.split('$');
  if (parts.length !== 7 || parts[0] !== '' || parts[1] !== 'scrypt') throw bad('the hash is not of the form $scrypt$N$r$p$salt$hash');
  const [, , n, r, p, salt, hash] = parts as [string, string, string, string, string, string, string];
  if (!INT.test(n) || !INT.test(r) || !INT.test(p)) throw bad('N, r and p must be positive decimal integers');
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const problem = checkParams(params);
  if (problem) throw bad(`invalid scrypt parameters: ${problem}`);
  if (!B64.test(salt) || !B64.test(hash)) throw bad('the salt and hash must be base64');
  const entry = { params, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  if (entry.salt.length < 8 || entry.salt.length > 64) throw bad('the salt must be 8..64 bytes');
  if (entry.hash.length < 16 || entry.hash.length > 64) throw bad('the hash must be 16..64 bytes');
  return entry;
}

/** True when `password` matches the entry; the comparison is constant-time. */
export async function verifyHash(entry: PasswordEntry, password: Buffer | string): Promise<boolean> {
  const key = await derive(password, entry.salt, entry.params, entry.hash.length);
  return timingSafeEqual(key, entry.hash);
}

/** A line is data when it is neither blank nor a comment. */
const isData = (line: string): boolean => line.trim() !== '' && !line.trimStart().startsWith('#');

/** Parses the whole file; the first bad line throws MOAT_ERR_PASSWORD_FILE naming `source` and its line number. */
export function parsePasswordFile(text: string, source = 'password file'): Map<string, PasswordEntry> {
  const table = new Map<string, PasswordEntry>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (!isData(line)) continue;
    const at = `${source}:${i + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw bad(`${at}: expected user:$scrypt$N$r$p$salt$hash`);
    const user = line.slice(0, colon);
    const problem = usernameProblem(user);
    if (problem) throw bad(`${at}: ${problem}`);
    if (table.has(user)) throw bad(`${at}: user "${user}" appears twice`);
    try {
      table.set(user, parseHash(line.slice(colon + 1).trim()));
    } catch (err) {
      throw bad(`${at}: ${(err as Error).message}`);
    }
  }
  return table;
}

/**
 * The file's text with `user` set to `hash` (replacing its line in place, or appended) or removed when
 * `hash` is undefined; every other line, comments included, is kept as it was.
 */
export function setPasswordLine(text: string, user: string, hash: string | undefined): string {
  const problem = usernameProblem(user);
  if (problem) throw bad(problem);
  parsePasswordFile(text); // never rewrite a file we cannot read back
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const index = lines.findIndex((l) => isData(l) && l.slice(0, l.indexOf(':')) === user);
  if (hash === undefined) {
    if (index >= 0) lines.splice(index, 1);
  } else if (index >= 0) {
    lines[index] = `${user}:${hash}`;
  } else {
    lines.push(`${user}:${hash}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** A loaded password file: check credentials, reload on change (a broken new file keeps the old table). */
export class PasswordFile {
  private table: Map<string, PasswordEntry>;
  private dummy: PasswordEntry;
  /** Things worth a log line, e.g. the file is readable by other users. */
  warnings: string[] = [];

  private constructor(readonly path: string | undefined, table: Map<string, PasswordEntry>) {
    this.table = table;
    this.dummy = dummyFor(table);
  }

  static async load(path: string): Promise<PasswordFile> {
    const { table, warnings } = await readTable(path);
    const file = new PasswordFile(path, table);
    file.warnings = warnings;
    return file;
  }

  static fromText(text: string, source?: string): PasswordFile {
    return new PasswordFile(undefined, parsePasswordFile(text, source));
  }

  /** Reads the file again. On any error it throws MOAT_ERR_PASSWORD_FILE and keeps serving the old table. */
  async reload(): Promise<void> {
    if (this.path === undefined) throw bad('this password table was not loaded from a file');
    const { table, warnings } = await readTable(this.path);
    this.table = table;
    this.dummy = dummyFor(table);
    this.warnings = warnings;
  }

  get size(): number {
    return this.table.size;
  }

  has(user: string): boolean {
    return this.table.has(user);
  }

  usernames(): string[] {
    return [...this.table.keys()];
  }

  /** True only for a known user with the right password; an unknown user costs the same scrypt. */
  async verify(user: string, password: Buffer | string): Promise<boolean> {
    const entry = this.table.get(user);
    if (entry) return verifyHash(entry, password);
    await verifyHash(this.dummy, password);
    return false;
  }
}

/** A random entry with the parameters real entries use, so an unknown user costs what a known one does. */
function dummyFor(table: Map<string, PasswordEntry>): PasswordEntry {
  const first = table.values().next().value as PasswordEntry | undefined;
  return { params: first?.params ?? DEFAULT_SCRYPT, salt: randomBytes(SALT_BYTES), hash: randomBytes(first?.hash.length ?? KEY_BYTES) };
}

async function readTable(path: string): Promise<{ table: Map<string, PasswordEntry>; warnings: string[] }> {
  let text: string;
  let mode: number;
  try {
    [text, mode] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mode)]);
  } catch (err) {
    throw bad(`cannot read password file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  const table = parsePasswordFile(text, path);
  const warnings = process.platform !== 'win32' && (mode & 0o077) !== 0
    ? [`password file ${path} is readable or writable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`]
    : [];
  return { table, warnings };
}
