/**
 * Every admin action (and every refused attempt at one) as one JSON line: when, who (user, key
 * fingerprint or password login, role, address), the command and its outcome. Payloads of `pub` are
 * not written, only their size. The file is append-only and owner-only (0600).
 */
import { appendFile } from 'node:fs/promises';
import type { Logger } from '../broker/logger.js';
import type { SshIdentity } from './auth.js';

export interface AuditEntry {
  action: string;
  detail: Record<string, unknown>;
  outcome: 'ok' | 'failed' | 'denied';
}

export class AuditLog {
  /** Keeps appends in order even when they overlap. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly path: string | undefined, private readonly log: Logger) {}

  record(identity: SshIdentity, entry: AuditEntry): void {
    const line = {
      time: new Date().toISOString(), user: identity.user, role: identity.role, method: identity.method,
      ...(identity.fingerprint ? { key: identity.fingerprint } : {}), remote: identity.remote,
      action: entry.action, ...entry.detail, outcome: entry.outcome,
    };
    this.log.info({ audit: line }, `ssh audit: ${entry.action} ${entry.outcome}`);
    const path = this.path;
    if (path === undefined) return;
    this.tail = this.tail
      .then(() => appendFile(path, `${JSON.stringify(line)}\n`, { mode: 0o600 }))
      .catch((err: unknown) => this.log.error({ err, path }, 'ssh audit log write failed'));
  }

  /** Resolves once every line recorded so far is written. */
  flush(): Promise<void> {
    return this.tail;
  }
}
