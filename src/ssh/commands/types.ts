/** What a console command is and what it gets to run: the port, who asked, where to write. */
import type { ConsolePort } from '../console-port.js';
import type { SshIdentity } from '../auth.js';
import type { AuditEntry } from '../audit.js';

export interface CommandContext {
  port: ConsolePort;
  identity: SshIdentity;
  /** Arguments after the command name, `--json` taken out. */
  args: string[];
  json: boolean;
  /** Text with '\n' line ends; the session turns them into what the terminal needs. */
  out(text: string): void;
  audit(entry: AuditEntry): void;
  /** Aborted on Ctrl-C or when the channel closes: long-running commands (tail) stop. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Changes the broker: admin keys only, and audited. */
  admin: boolean;
  /** Exit status: 0 done, 1 failed (not found, refused by the broker), 2 bad usage. */
  run(ctx: CommandContext): number | Promise<number>;
  /** What a refused attempt records in the audit log (default: the arguments). */
  auditDetail?(args: string[]): Record<string, unknown>;
  /** Candidates for the word at `index` (0 = first argument), for tab completion. */
  complete?(port: ConsolePort, index: number, args: string[]): string[];
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** The caller's role may not run the command. */
export const EXIT_DENIED = 126;
export const EXIT_UNKNOWN = 127;

/** Writes `value` as one JSON line and returns `status`. */
export function json(ctx: CommandContext, value: unknown, status = EXIT_OK): number {
  ctx.out(`${JSON.stringify(value)}\n`);
  return status;
}

export function usageError(ctx: CommandContext, cmd: Command, why: string): number {
  ctx.out(`error: ${why}\nusage: ${cmd.usage}\n`);
  return EXIT_USAGE;
}
