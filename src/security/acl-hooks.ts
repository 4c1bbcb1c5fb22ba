/**
 * The ACL in the shape of the broker's authorization hooks (src/broker/hooks.ts). src/security may not
 * import src/broker, so the shapes are declared here structurally: the broker's `ClientInfo` has every
 * field of `AclClient`, so wiring is one line per hook:
 *
 *   const acl = aclHooks(await AclFile.load(path));
 *   hooks.authorizePublish.push(acl.authorizePublish);
 *   hooks.authorizeSubscribe.push(acl.authorizeSubscribe);
 *
 * Given an `AclFile` (anything with `current`), every check reads `current`, so a reload takes effect on
 * the next packet without rewiring.
 */
import { X509Certificate } from 'node:crypto';
import type { Acl, AclIdentity } from './acl.js';

/** The part of the broker's ClientInfo the ACL reads. */
export interface AclClient {
  clientId: string;
  username: string | undefined;
  /** peerCertificate: DER of a client certificate the TLS layer verified. */
  tls?: { peerCertificate?: Buffer | undefined } | undefined;
}

export interface AclHookOptions {
  /** The certificate identity; default: the CN of `tls.peerCertificate`. */
  certCn?: (client: AclClient) => string | undefined;
  /** Admins from elsewhere (a password-file group, a JWT claim); the file's `admin` marker adds to it. */
  isAdmin?: (client: AclClient) => boolean;
}

export interface AclHooks {
  /** AuthorizePublishHook: false refuses (0x87). Also right for wills. */
  authorizePublish(client: AclClient, message: { topic: string }): boolean;
  /** AuthorizeSubscribeHook: false refuses that filter (SUBACK 0x87 / 0x80). */
  authorizeSubscribe(client: AclClient, filter: { topicFilter: string }): boolean;
  /** For delivery-time checks (retained messages, subscriptions made before a reload); no broker hook yet. */
  authorizeReceive(client: AclClient, topic: string): boolean;
  identity(client: AclClient): AclIdentity;
}

// One DER buffer per TLS connection: parse it once, not on every packet.
const cnCache = new WeakMap<Buffer, string | undefined>();

/** The subject CN of a DER certificate, or undefined when it has none or does not parse. */
export function certificateCn(der: Buffer): string | undefined {
  if (cnCache.has(der)) return cnCache.get(der);
  let cn: string | undefined;
  try {
    for (const part of new X509Certificate(der).subject.split('\n')) {
      if (part.startsWith('CN=')) {
        cn = part.slice(3);
        break;
      }
    }
  } catch {
    cn = undefined;
  }
  cnCache.set(der, cn);
  return cn;
}

export function aclHooks(source: Acl | { readonly current: Acl }, options: AclHookOptions = {}): AclHooks {
  const acl = (): Acl => ('current' in source ? source.current : source);
  const certCn = options.certCn ?? ((c: AclClient) => (c.tls?.peerCertificate ? certificateCn(c.tls.peerCertificate) : undefined));
  const identity = (c: AclClient): AclIdentity => ({
    username: c.username,
    clientId: c.clientId,
    certCn: certCn(c),
    admin: options.isAdmin?.(c) ?? false,
  });
  return {
    authorizePublish: (c, m) => acl().canPublish(identity(c), m.topic),
    authorizeSubscribe: (c, f) => acl().canSubscribe(identity(c), f.topicFilter),
    authorizeReceive: (c, topic) => acl().canReceive(identity(c), topic),
    identity,
  };
}
