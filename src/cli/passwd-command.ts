/**
 * `moat passwd FILE USER` adds or updates a user in a password file; `-D` deletes one. The password comes
 * from a no-echo prompt on a terminal, or from the first line of stdin otherwise — never from argv,
 * where other users can read it (ps, /proc) and shells keep it in their history.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { stdin } from 'node:process';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { MoatError } from '../codec/index.js';
import { looksLikeJwt } from '../security/jwt.js';
import { hashPassword, parsePasswordFile, setPasswordLine, usernameProblem } from '../security/password-file.js';
import type { Io } from './broker-command.js';

export const PASSWD_HELP = `moat passwd — add, update or delete a user in a password file

Usage: moat passwd FILE USER        add or update USER (asks for the password)
       moat passwd -D FILE USER     delete USER

The password is read from a prompt that does not echo, or from the first line of stdin when stdin is
not a terminal (e.g. printf '%s\\n' "$PW" | moat passwd FILE USER). It is never taken from the command
line. The file is created if needed and always written with mode 0600; other lines are kept.

Options:
  -D, --delete   delete USER
  -h, --help     this help
`;

type Input = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

export async function passwdCommand(args: string[], io: Io, input: Input = stdin): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { delete: { type: 'boolean', short: 'D' }, help: { type: 'boolean', short: 'h' } } });
  } catch {
    // parseArgs quotes the offending argument, which may be a password typed in the wrong place.
    io.err(`moat passwd: unknown option (the password is never given on the command line)\n\n${PASSWD_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(PASSWD_HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    io.err(`moat passwd: expected FILE and USER, nothing else (the password is never given on the command line)\n\n${PASSWD_HELP}`);
    return 2;
  }
  const [file, user] = positionals as [string, string];
  const problem = usernameProblem(user);
  if (problem) {
    io.err(`moat passwd: ${problem}\n`);
    return 2;
  }
  const text = await readIfPresent(file);
  // A broken file is reported (MOAT_ERR_PASSWORD_FILE with its line number), never rewritten.
  const exists = parsePasswordFile(text, file).has(user);

  if (values.delete) {
    if (!exists) {
      io.err(`moat passwd: no user "${user}" in ${file}\n`);
      return 1;
    }
    await writeAtomically(file, setPasswordLine(text, user, undefined));
    io.out(`deleted user "${user}" from ${file}\n`);
    return 0;
  }

  const password = input.isTTY && input.setRawMode ? await promptTwice(input, io) : await firstLine(input);
  if (password === undefined) return 130; // Ctrl-C at the prompt
  if (password === '') {
    io.err('moat passwd: the password is empty\n');
    return 2;
  }
  if (password === null) {
    io.err('moat passwd: the passwords do not match\n');
    return 2;
  }
  if (looksLikeJwt(password)) {
    io.err('moat passwd: this password has the shape of a JWT; the broker would check it as a token. Choose another\n');
    return 2;
  }
  await writeAtomically(file, setPasswordLine(text, user, await hashPassword(password)));
  io.out(`${exists ? 'updated' : 'added'} user "${user}" in ${file}\n`);
  return 0;
}

const fileError = (what: string, path: string, err: unknown): MoatError =>
  new MoatError('MOAT_ERR_PASSWORD_FILE', `cannot ${what} password file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });

async function readIfPresent(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw fileError('read', path, err);
  }
}

/** Writes next to the target with mode 0600, then renames: readers never see half a file, nor a readable one. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw fileError('write', path, err);
  }
}

/** The first line of a non-terminal stdin, without its line ending. */
async function firstLine(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    if ((chunk as Buffer).includes('\n')) break;
  }
  const all = Buffer.concat(chunks).toString('utf8');
  const nl = all.indexOf('\n');
  return (nl < 0 ? all : all.slice(0, nl)).replace(/\r$/, '');
}

/** Asks twice; the password, null when the two differ, undefined on Ctrl-C. */
async function promptTwice(input: Input, io: Io): Promise<string | null | undefined> {
  // Echo off before the first prompt shows and until the last answer is in: nothing typed early or
  // between the two prompts is echoed.
  input.setRawMode!(true);
  const lines = rawLines(input);
  try {
    io.err('Password: ');
    const first = await lines.next();
    io.err('\n');
    if (first === undefined || first === '') return first;
    io.err('Password again: ');
    const again = await lines.next();
    io.err('\n');
    if (again === undefined) return undefined;
    return again === first ? first : null;
  } finally {
    lines.close();
    input.setRawMode!(false);
  }
}

/** Lines typed on a raw-mode terminal (Enter ends one, Backspace edits, Ctrl-C gives undefined). */
function rawLines(input: Input): { next(): Promise<string | undefined>; close(): void } {
  const ready: Array<string | undefined> = [];
  let waiter: ((line: string | undefined) => void) | undefined;
  let current = '';
  const push = (line: string | undefined): void => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(line);
    } else {
      ready.push(line);
    }
  };
  const onData = (chunk: Buffer | string): void => {
    for (const ch of chunk.toString()) {
      if (ch === '\r' || ch === '\n' || ch === '\u0004') {
        push(current);
        current = '';
      } else if (ch === '\u0003') {
        push(undefined);
      } else if (ch === '\u007f' || ch === '\b') {
        current = [...current].slice(0, -1).join('');
      } else if (ch >= ' ') {
        current += ch;
      }
    }
  };
  input.on('data', onData);
  input.resume();
  return {
    next: () => (ready.length > 0 ? Promise.resolve(ready.shift()) : new Promise((r) => { waiter = r; })),
    close: () => {
      input.off('data', onData);
      input.pause();
    },
  };
}
