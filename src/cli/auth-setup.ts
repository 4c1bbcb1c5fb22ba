/**
 * Authentication and authorization for `moat broker`, from the `auth` and `acl` keys: the password file,
 * JWT, backoff and the ACL become broker hooks; SIGHUP reloads the files (a broken file keeps the old
 * table and says so in the log); the anonymous policy is resolved against the listeners' bound addresses.
 *
 * Decisions:
 * - Files are read before the broker starts: a broken password file, key or ACL stops `moat broker`
 *   with its MoatError rather than starting a broker that refuses (or admits) everyone.
 * - The JWT verifier sits behind a reference that a reload swaps, so secret, public key and JWKS files
 *   are all read again on SIGHUP, not only the JWKS.
 * - Log lines carry authenticator events (never a password or a token) and file errors by code.
 */
import { readFile } from 'node:fs/promises';
import { MoatError } from '../codec/index.js';
import type { BrokerHooks, ClientInfo } from '../broker/hooks.js';
import { LOOPBACK_HOST, parseListenUrl } from '../broker/listeners.js';
import type { Logger } from '../broker/logger.js';
import { AclFile } from '../security/acl-file.js';
import { aclHooks, certificateCn, type AclClient } from '../security/acl-hooks.js';
import { createAuthenticator, redactedReason, type AuthEvent } from '../security/authenticator.js';
import { JwtVerifier, loadJwks } from '../security/jwt.js';
import { jwtEnhancedAuth } from '../security/jwt-enhanced-auth.js';
import { LoginBackoff } from '../security/login-backoff.js';
import { PasswordFile } from '../security/password-file.js';
import type { BrokerConfig, JwtConfig } from './broker-config.js';

export interface AuthSetup {
  /** For `new Broker(options, { hooks })`. */
  hooks: Partial<BrokerHooks>;
  /** Re-reads the password file, JWT keys and ACL; each file that fails keeps its old table. Never rejects. */
  reload(): Promise<void>;
}

export async function setupAuth(cfg: BrokerConfig, log: Logger): Promise<AuthSetup> {
  const { auth } = cfg;
  const passwords = auth.passwordFile === undefined ? undefined : await PasswordFile.load(auth.passwordFile);
  for (const w of passwords?.warnings ?? []) log.warn({ file: auth.passwordFile }, w);
  let verifier = auth.jwt ? await makeVerifier(auth.jwt) : undefined;
  const aclFile = cfg.acl ? await AclFile.load(cfg.acl.file) : undefined;
  const hooks: Partial<BrokerHooks> = { authenticate: [], authorizePublish: [], authorizeSubscribe: [] };
  if (passwords || auth.jwt) {
    const authenticate = createAuthenticator({
      passwords,
      jwt: auth.jwt && { verifier: { verify: (t) => verifier!.verify(t) }, usernameClaim: auth.jwt.usernameClaim, clientIdClaim: auth.jwt.clientIdClaim },
      backoff: auth.backoff === false ? undefined : new LoginBackoff(undefined, auth.backoff),
      onEvent: (e) => logEvent(log, e),
    });
    hooks.authenticate!.push(authenticate);
  }
  if (auth.jwt) {
    // MQTT 5 clients may also send the token by enhanced authentication, and refresh it with AUTH.
    const enhanced = jwtEnhancedAuth({
      verifier: { verify: (t) => verifier!.verify(t) }, usernameClaim: auth.jwt.usernameClaim, clientIdClaim: auth.jwt.clientIdClaim,
      onEvent: (e) => (e.outcome === 'allow' ? log.info : log.warn).call(log, e, e.reauthenticate ? 're-authentication' : 'authentication'),
    });
    hooks.enhancedAuth = new Map([[enhanced.method, enhanced]]);
  }
  if (aclFile && cfg.acl) {
    const admins = new Set(cfg.acl.admins);
    const acl = aclHooks(aclFile, {
      // The listener's certIdentity (CN or the configured SAN) names the client in `cert` blocks.
      certCn: (c: AclClient) => (c as ClientInfo).tls?.certIdentity ?? (c.tls?.peerCertificate ? certificateCn(c.tls.peerCertificate) : undefined),
      isAdmin: (c) => c.username !== undefined && admins.has(c.username),
    });
    hooks.authorizePublish!.push(acl.authorizePublish);
    hooks.authorizeSubscribe!.push(acl.authorizeSubscribe);
  }
  const reload = async (): Promise<void> => {
    await Promise.all([
      passwords && attempt(log, 'password file', auth.passwordFile!, () => passwords.reload()),
      auth.jwt && attempt(log, 'JWT keys', jwtFiles(auth.jwt), async () => { verifier = await makeVerifier(auth.jwt!); }),
      aclFile && attempt(log, 'ACL', aclFile.path, () => aclFile.reload()),
    ]);
    for (const w of passwords?.warnings ?? []) log.warn({ file: auth.passwordFile }, w);
  };
  return { hooks, reload };
}

async function attempt(log: Logger, what: string, file: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
    log.info({ file }, `${what} reloaded`);
  } catch (err) {
    // These modules keep hashes, secrets and tokens out of their messages (their tests check it).
    log.error({ file, code: redactedReason(err), err: (err as Error).message }, `${what} reload failed: the previous one stays in force`);
  }
}

const jwtFiles = (j: JwtConfig): string => [j.secretFile, j.publicKeyFile, j.jwksFile].filter(Boolean).join(', ');

async function makeVerifier(j: JwtConfig): Promise<JwtVerifier> {
  const read = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new MoatError('MOAT_ERR_CONFIG', `cannot read the JWT ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? ''}`, { cause: err });
    }
  };
  // One trailing newline is how editors end a file, not part of the secret.
  const secret = j.secretFile === undefined ? undefined : stripNewline(await read(j.secretFile, 'secret'));
  const publicKey = j.publicKeyFile === undefined ? undefined : await read(j.publicKeyFile, 'public key');
  const jwks = j.jwksFile === undefined ? undefined : await loadJwks(j.jwksFile);
  return new JwtVerifier({
    audience: j.audience, algorithms: j.algorithms, issuer: j.issuer, clockSkewSeconds: j.clockSkewSeconds, secret, publicKey, jwks,
  });
}

function stripNewline(b: Buffer): Buffer {
  let end = b.length;
  if (b[end - 1] === 0x0a) end--;
  if (b[end - 1] === 0x0d) end--;
  return b.subarray(0, end);
}

function logEvent(log: Logger, e: AuthEvent): void {
  const fields = { outcome: e.outcome, method: e.method, clientId: e.clientId, username: e.username, remote: e.remoteAddress, reason: e.reason, waitMs: e.waitMs };
  if (e.outcome === 'allow') log.info(fields, 'authentication succeeded');
  else if (e.outcome === 'deny') log.warn(fields, 'authentication failed');
  else log.info(fields, 'authentication refused while the address backs off');
}


/** True when a listener URL is bound to a loopback address (reachable from this machine only). */
export function isLoopbackListener(url: string): boolean {
  return LOOPBACK_HOST.test(parseListenUrl(url).host);
}

/**
 * `allowAnonymous: loopback` means: anonymous clients only through listeners bound to loopback (the
 * broker checks the listener that accepted each connection, not the client's address: a client on
 * 127.0.0.1 reaching a listener bound to 0.0.0.0 is refused). With no loopback listener at all that is
 * "never", said plainly.
 */
export function anonymousPolicy(cfg: BrokerConfig): { allowAnonymous: boolean | 'loopback' } {
  const setting = cfg.broker.allowAnonymous;
  if (setting !== 'loopback') return { allowAnonymous: setting };
  return { allowAnonymous: cfg.listeners.some((l) => isLoopbackListener(l.url)) ? 'loopback' : false };
}

/** One loud line per plain-text listener reachable from other machines. */
export function plainListenerWarnings(cfg: BrokerConfig): string[] {
  return cfg.listeners
    .filter((l) => /^(mqtt|ws):\/\//.test(l.url) && !isLoopbackListener(l.url))
    .map((l) => `moat: WARNING: ${l.url} is plain text on a non-loopback address: anyone on the path can read passwords, tokens and messages and forge them; use mqtts:// or wss://, or bind it to 127.0.0.1\n`);
}
