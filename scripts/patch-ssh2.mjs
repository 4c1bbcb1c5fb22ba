#!/usr/bin/env node
/**
 * Server-side diffie-hellman-group-exchange-sha256 (RFC 4419, RFC 8270) for ssh2 1.17.0, which
 * advertises it but fails when a client picks it ("Group exchange not implemented for server", ssh2
 * issues #608, #1158). Run by `postinstall`; idempotent; refuses any other ssh2 version (the version is
 * pinned in package.json) and fails loudly when an anchor is missing, so the patch never half-applies.
 *
 * Three edits to lib/protocol/kex.js, one to lib/protocol/Protocol.js:
 *  1. On KEX_DH_GEX_REQUEST the server checks min ≤ n ≤ max, picks an RFC 3526 MODP group of at least
 *     2048 bits (2048…8192) inside [min, max] — the smallest ≥ n, else the largest — and sends
 *     KEX_DH_GEX_GROUP. The client's min/n/max are kept for the exchange hash.
 *  2. On KEX_DH_GEX_INIT it hands over to the ordinary KEXDH_INIT path (same layout: one mpint e).
 *  3. The server's reply carries the GEX reply type (33) for group exchange, not KEXDH_REPLY (31).
 *  4. The server-sig-algs extension (RFC 8308) lacked a comma ("…nistp521rsa-sha2-512…"), so OpenSSH
 *     never saw rsa-sha2-512, and it listed ssh-rsa and ssh-dss (SHA-1): now a correct list without them.
 * src/ssh/algorithms.ts looks for MARKER and leaves group exchange out of the offer without it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const VERSION = '1.17.0';
const MARKER = 'moat-patch: server group exchange';

const require = createRequire(import.meta.url);
let root;
try {
  root = dirname(require.resolve('ssh2/package.json'));
} catch {
  console.log('patch-ssh2: ssh2 not installed, nothing to do');
  process.exit(0);
}
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
if (version !== VERSION) {
  console.error(`patch-ssh2: ssh2 ${version} found, the patch is for ${VERSION} only; group exchange stays off`);
  process.exit(0);
}
const edits = [
  {
    file: 'kex.js',
    from: `            // TODO: allow user implementation to provide safe prime and
            // generator on demand to support group exchange on server side
            return doFatalError(
              this._protocol,
              'Group exchange not implemented for server',
              'handshake',
              DISCONNECT_REASON.KEY_EXCHANGE_FAILED
            );`,
    to: `            // ${MARKER} (1/4): answer KEX_DH_GEX_REQUEST with an RFC 3526 group
            bufferParser.init(payload, 1);
            const gexMin = bufferParser.readUInt32BE();
            const gexPref = bufferParser.readUInt32BE();
            const gexMax = bufferParser.readUInt32BE();
            bufferParser.clear();
            const gexGroups = [[2048, 'modp14'], [3072, 'modp15'], [4096, 'modp16'], [6144, 'modp17'], [8192, 'modp18']];
            const gexFit = (gexMin === undefined || gexPref === undefined || gexMax === undefined
                            || gexMin > gexPref || gexPref > gexMax)
              ? []
              : gexGroups.filter(([bits]) => bits >= gexMin && bits <= gexMax);
            if (gexFit.length === 0) {
              return doFatalError(
                this._protocol,
                'No acceptable group for KEX_DH_GEX_REQUEST',
                'handshake',
                DISCONNECT_REASON.KEY_EXCHANGE_FAILED
              );
            }
            const gexPick = gexFit.find(([bits]) => bits >= gexPref) || gexFit[gexFit.length - 1];
            this._minBits = gexMin;
            this._prefBits = gexPref;
            this._maxBits = gexMax;
            this._dh = createDiffieHellmanGroup(gexPick[1]);
            this._public = this._dh.generateKeys();
            const gexParams = this.getDHParams();
            this._protocol._debug && this._protocol._debug(
              \`Outbound: Sending KEXDH_GEX_GROUP (\${gexPick[0]} bits)\`
            );
            let gp = this._protocol._packetRW.write.allocStartKEX;
            const gexPacket = this._protocol._packetRW.write.alloc(
              1 + 4 + gexParams.prime.length + 4 + gexParams.generator.length,
              true
            );
            gexPacket[gp] = MESSAGE.KEXDH_GEX_GROUP;
            writeUInt32BE(gexPacket, gexParams.prime.length, ++gp);
            gexPacket.set(gexParams.prime, gp += 4);
            writeUInt32BE(gexPacket, gexParams.generator.length, gp += gexParams.prime.length);
            gexPacket.set(gexParams.generator, gp += 4);
            this._protocol._cipher.encrypt(
              this._protocol._packetRW.write.finalize(gexPacket, true)
            );
            ++this._step;
            return;`,
  },
  {
    file: 'kex.js',
    from: `              'Received DH GEX Init'
            );
            return doFatalError(
              this._protocol,
              'Group exchange not implemented for server',
              'handshake',
              DISCONNECT_REASON.KEY_EXCHANGE_FAILED
            );`,
    to: `              'Received DH GEX Init'
            );
            // ${MARKER} (2/4): KEX_DH_GEX_INIT carries e like KEXDH_INIT
            this._step = 1;
            payload[0] = MESSAGE.KEXDH_INIT;
            this.parse = KeyExchange.prototype.parse;
            return this.parse(payload);`,
  },
  {
    file: 'kex.js',
    from: `        packet[p] = MESSAGE.KEXDH_REPLY;
`,
    to: `        // ${MARKER} (3/4): the group exchange reply has its own type
        packet[p] = (this.type === 'groupex'
                     ? MESSAGE.KEXDH_GEX_REPLY
                     : MESSAGE.KEXDH_REPLY);
`,
  },
  {
    file: 'Protocol.js',
    from: `  let serverSigAlgs =
    'ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521'
      + 'rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-dss';`,
    to: `  // ${MARKER} (4/4): a comma was missing; no SHA-1 signature algorithms
  let serverSigAlgs =
    'ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,'
      + 'rsa-sha2-512,rsa-sha2-256';`,
  },
];

// Check every anchor of every file first, write afterwards: all edits or none.
const out = new Map();
let applied = 0;
for (const { file, from, to } of edits) {
  const path = join(root, 'lib', 'protocol', file);
  const src = out.get(path) ?? readFileSync(path, 'utf8');
  if (src.includes(to)) {
    out.set(path, src);
    continue;
  }
  const at = src.indexOf(from);
  if (at < 0 || src.indexOf(from, at + 1) >= 0) {
    console.error(`patch-ssh2: anchor not found exactly once in ${path}; not patched`);
    process.exit(1);
  }
  out.set(path, src.slice(0, at) + to + src.slice(at + from.length));
  applied++;
}
for (const [path, src] of out) writeFileSync(path, src);
console.log(applied === 0 ? 'patch-ssh2: already applied' : `patch-ssh2: ${applied} edit(s) applied (server group exchange, server-sig-algs)`);
