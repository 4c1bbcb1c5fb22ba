/**
 * The command table and the dispatcher shared by `exec` and the interactive shell: split the line,
 * take `--json` out, check the role, run, and audit what a viewer was refused.
 */
import { formatTable } from '../table.js';
import type { ConsolePort } from '../console-port.js';
import { client, clients, kick } from './clients.js';
import { pub } from './pub.js';
import { reload } from './reload.js';
import { retained, retainedIsAdmin } from './retained.js';
import { status } from './status.js';
import { subs } from './subs.js';
import { tail } from './tail.js';
import { EXIT_DENIED, EXIT_UNKNOWN, EXIT_USAGE, json, type Command, type CommandContext } from './types.js';

const help: Command = {
  name: 'help', usage: 'help [COMMAND]', admin: false, summary: 'this list, or one command\'s usage',
  run(ctx) {
    const one = ctx.args[0];
    const list = one === undefined ? COMMANDS : COMMANDS.filter((c) => c.name === one);
    if (list.length === 0) {
      ctx.out(`error: no command "${one}"\n`);
      return EXIT_USAGE;
    }
    if (ctx.json) return json(ctx, list.map((c) => ({ name: c.name, usage: c.usage, summary: c.summary, admin: c.admin })));
    ctx.out(formatTable(['USAGE', 'ROLE', 'WHAT'], list.map((c) => [c.usage, c.admin ? 'admin' : 'any', c.summary])));
    if (one === undefined) ctx.out('\nAdd --json to any command for machine-readable output. Shell: exit, Ctrl-D; Ctrl-C stops tail.\n');
    return 0;
  },
  complete: (_port, index) => (index === 0 ? COMMANDS.map((c) => c.name) : []),
};

export const COMMANDS: Command[] = [status, clients, client, kick, subs, retained, pub, tail, reload, help];

export type RunContext = Omit<CommandContext, 'args' | 'json'>;

/** Runs one command line; returns its exit status. */
export async function runCommandLine(line: string, base: RunContext): Promise<number> {
  let words: string[];
  try {
    words = splitWords(line);
  } catch {
    base.out('error: unbalanced quotes\n');
    return EXIT_USAGE;
  }
  if (words.length === 0) return 0;
  const [name, ...rest] = words as [string, ...string[]];
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    base.out(`error: unknown command "${name}" (try help)\n`);
    return EXIT_UNKNOWN;
  }
  const jsonOut = rest.includes('--json');
  const args = rest.filter((a) => a !== '--json');
  if (cmd.admin && base.identity.role !== 'admin') {
    base.audit({ action: name, detail: cmd.auditDetail?.(args) ?? { args }, outcome: 'denied' });
    base.out(`error: permission denied: "${name}" needs an admin key\n`);
    return EXIT_DENIED;
  }
  try {
    return await cmd.run({ ...base, args, json: jsonOut });
  } catch (err) {
    const code = (err as { code?: string }).code;
    base.out(`error: ${name} failed${code ? ` (${code})` : ''}\n`);
    return 1;
  }
}

/** Whether a line needs an admin key (for the shell's hints; the dispatcher checks again). */
export function needsAdmin(words: string[]): boolean {
  const cmd = COMMANDS.find((c) => c.name === words[0]);
  return cmd?.admin === true || (cmd === retained && retainedIsAdmin(words.slice(1)));
}

/** Words of a line: whitespace-separated, '…' and "…" quote, backslash escapes in "…" and bare words. */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error('unbalanced quotes');
  if (inWord) out.push(cur);
  return out;
}

/** Tab completion: the candidates for the last (partial) word of `line`. */
export function completions(line: string, port: ConsolePort): { prefix: string; candidates: string[] } {
  let words: string[];
  try {
    words = splitWords(line);
  } catch {
    return { prefix: '', candidates: [] };
  }
  const endsInSpace = line === '' || /\s$/.test(line);
  const prefix = endsInSpace ? '' : (words.pop() ?? '');
  let pool: string[];
  if (words.length === 0) pool = COMMANDS.map((c) => c.name);
  else {
    const cmd = COMMANDS.find((c) => c.name === words[0]);
    pool = cmd?.complete?.(port, words.length - 1, words.slice(1)) ?? [];
    if (prefix.startsWith('-')) pool = ['--json'];
  }
  return { prefix, candidates: [...new Set(pool)].filter((c) => c.startsWith(prefix)).sort() };
}
