/**
 * What the console offers on the wire: modern key exchange, AEAD ciphers, encrypt-then-MAC SHA-2 MACs
 * and no SHA-1 anything. ssh2 keeps only the names it supports, in this order of preference.
 *
 * diffie-hellman-group-exchange-sha256 works only with the postinstall patch (scripts/patch-ssh2.mjs;
 * ssh2 issues #608, #1158): without it ssh2's server fails the handshake when a client picks it, so it
 * is left out of the offer unless the patch marker is found.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { CipherAlgorithm, CompressionAlgorithm, KexAlgorithm, MacAlgorithm, ServerHostKeyAlgorithm } from 'ssh2';

export const GEX_KEX: KexAlgorithm = 'diffie-hellman-group-exchange-sha256';
const PATCH_MARKER = 'moat-patch: server group exchange';

let gexPatched: boolean | undefined;

/** True when ssh2's kex.js carries the group exchange patch. */
export function groupExchangeAvailable(): boolean {
  if (gexPatched === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const root = dirname(require.resolve('ssh2/package.json'));
      gexPatched = readFileSync(join(root, 'lib', 'protocol', 'kex.js'), 'utf8').includes(PATCH_MARKER);
    } catch {
      gexPatched = false;
    }
  }
  return gexPatched;
}

export interface SshAlgorithms {
  kex: KexAlgorithm[];
  cipher: CipherAlgorithm[];
  hmac: MacAlgorithm[];
  serverHostKey: ServerHostKeyAlgorithm[];
  compress: CompressionAlgorithm[];
}

export function consoleAlgorithms(): SshAlgorithms {
  return {
    kex: [
      'curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256',
      ...(groupExchangeAvailable() ? [GEX_KEX] : []),
    ],
    cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com'],
    // Used only if a client ever negotiates a non-AEAD cipher; none is offered, but no SHA-1 either way.
    hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'],
    // The host keys the console loads: Ed25519 (generated) and ECDSA P-256 (if provided). RSA host keys
    // are not loaded: ssh2 offers ssh-rsa (SHA-1) for any RSA host key whatever the list says.
    serverHostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256'],
    compress: ['none'],
  };
}

/** User-key signature algorithms accepted for public-key authentication (no ssh-rsa/SHA-1, no DSA). */
export function acceptableUserKey(keyAlgo: string, hashAlgo: string | undefined): boolean {
  if (keyAlgo === 'ssh-rsa') return hashAlgo === 'sha256' || hashAlgo === 'sha512';
  return keyAlgo === 'ssh-ed25519' || keyAlgo.startsWith('ecdsa-sha2-nistp') || keyAlgo.startsWith('sk-');
}
