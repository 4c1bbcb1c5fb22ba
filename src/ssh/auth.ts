/**
 * Who may log in, and as what. Public keys from the authorized keys file (role per key); passwords only
 * when a password file is configured (scrypt hashes, src/security/password-file.ts), with one role for
 * all password users. Failures are rate-limited per address (LoginBackoff) and logged with the address,
 * user name, method and key fingerprint: never a password, never a signature.
 */
import { timingSafeEqual } from 'node:crypto';
import ssh2, { type AuthContext, type AuthenticationType } from 'ssh2';
import type { Logger } from '../broker/logger.js';
import { LoginBackoff } from '../security/login-backoff.js';
import { PasswordFile } from '../security/password-file.js';
import { acceptableUserKey } from './algorithms.js';
import { loadAuthorizedKeys, type AuthorizedKey, type Role } from './authorized-keys.js';
import { fingerprintOf } from './host-key.js';

export interface SshIdentity {
  user: string;
  role: Role;
  method: 'publickey' | 'password';
  /** The key's SHA256 fingerprint and comment, for the audit log. */
  fingerprint?: string;
  comment?: string;
  remote: string;
}

export interface SshAuthOptions {
  authorizedKeysFile: string;
  passwordFile?: string;
  /** Role of every password user (default viewer). */
  passwordRole?: Role;
  log: Logger;
  backoff?: LoginBackoff;
}

export type AuthOutcome = { ok: true; identity: SshIdentity } | { ok: false; counted: boolean } | { ok: 'pending' };

export class SshAuth {
  private constructor(
    private readonly options: SshAuthOptions,
    private keys: AuthorizedKey[],
    private passwords: PasswordFile | undefined,
    private readonly backoff: LoginBackoff,
  ) {}

  static async load(options: SshAuthOptions): Promise<SshAuth> {
    const keys = await loadAuthorizedKeys(options.authorizedKeysFile);
    const passwords = options.passwordFile === undefined ? undefined : await PasswordFile.load(options.passwordFile);
    return new SshAuth(options, keys, passwords, options.backoff ?? new LoginBackoff(undefined, { freeFailures: 5 }));
  }

  /** Reads the key and password files again; a broken file throws and the old tables stay. */
  async reload(): Promise<void> {
    const keys = await loadAuthorizedKeys(this.options.authorizedKeysFile);
    await this.passwords?.reload();
    this.keys = keys;
  }

  get keyCount(): number {
    return this.keys.length;
  }

  methods(): AuthenticationType[] {
    return this.passwords ? ['publickey', 'password'] : ['publickey'];
  }

  /** Answers one authentication request on `ctx` and says what happened. */
  async handle(ctx: AuthContext, remote: string): Promise<AuthOutcome> {
    const log = this.options.log;
    const wait = this.backoff.check(remote);
    if (wait > 0 && ctx.method !== 'none') {
      log.warn({ remote, user: ctx.username, method: ctx.method, retryInMs: wait }, 'ssh login throttled');
      ctx.reject(this.methods());
      return { ok: false, counted: false };
    }
    if (ctx.method === 'publickey') return this.publicKey(ctx, remote);
    if (ctx.method === 'password' && this.passwords) return this.password(ctx, remote);
    // 'none' is how clients ask which methods exist: not a failure.
    ctx.reject(this.methods());
    return { ok: false, counted: false };
  }

  private publicKey(ctx: Extract<AuthContext, { method: 'publickey' }>, remote: string): AuthOutcome {
    const offered = ctx.key.data;
    const fingerprint = fingerprintOf(offered);
    const entry = this.keys.find((k) => k.blob.length === offered.length && timingSafeEqual(k.blob, offered));
    const fail = (why: string): AuthOutcome => {
      this.backoff.failed(remote);
      this.options.log.warn({ remote, user: ctx.username, method: 'publickey', key: ctx.key.algo, fingerprint, why }, 'ssh login refused');
      ctx.reject(this.methods());
      return { ok: false, counted: true };
    };
    if (!acceptableUserKey(ctx.key.algo, ctx.hashAlgo)) return fail('signature algorithm not accepted');
    if (!entry) return fail('unknown key');
    if (!ctx.signature || !ctx.blob) {
      // The client asks whether this key would do (no signature yet): PK_OK, not a login.
      ctx.accept();
      return { ok: 'pending' };
    }
    const parsed = ssh2.utils.parseKey(offered);
    if (parsed instanceof Error || Array.isArray(parsed)) return fail('unreadable key');
    if (parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return fail('bad signature');
    this.backoff.succeeded(remote);
    ctx.accept();
    return { ok: true, identity: { user: ctx.username, role: entry.role, method: 'publickey', fingerprint, comment: entry.comment, remote } };
  }

  private async password(ctx: Extract<AuthContext, { method: 'password' }>, remote: string): Promise<AuthOutcome> {
    const ok = await this.passwords!.verify(ctx.username, ctx.password);
    if (!ok) {
      this.backoff.failed(remote);
      this.options.log.warn({ remote, user: ctx.username, method: 'password' }, 'ssh login refused');
      ctx.reject(this.methods());
      return { ok: false, counted: true };
    }
    this.backoff.succeeded(remote);
    ctx.accept();
    return { ok: true, identity: { user: ctx.username, role: this.options.passwordRole ?? 'viewer', method: 'password', remote } };
  }
}
