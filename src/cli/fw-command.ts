/**
 * `moat fw`: signed firmware delivery (docs/firmware.md). This file: the dispatcher, its help, and the
 * offline subcommands — keygen, sign, trust create. push/status are in fw-push-command.ts, agent in
 * fw-agent-command.ts, the wolfMQTT-compatible mode in fw-wolfmqtt-command.ts.
 */
import { writeFile, rename } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  DEFAULT_CHUNK_SIZE, DEFAULT_MANIFEST_TTL_MS, buildManifest, createTrustList, encodeEnvelope, encodeTrustList, generateSigner,
  loadPublicKey, loadSigner, releaseIdOf, signManifest, signTrustList, writeSignerFiles, type SignerAlg, type Target,
} from '../firmware/index.js';
import type { Io } from './broker-command.js';
import { fwAgentCommand } from './fw-agent-command.js';
import { durationFlag, listFlag, runFw, usage } from './fw-args.js';
import { fwPushCommand, fwStatusCommand, fwTrustPushCommand } from './fw-push-command.js';

export const FW_HELP = `moat fw — signed firmware updates over MQTT

Usage:
  moat fw keygen [--alg ed25519|ecdsa-p256] [--out DIR] [--name NAME] [--force]
  moat fw sign --key KEY --product P --version V [--device ID]... [--group G]... [--min-version V]
               [--expires 30d] [--chunk-size N] IMAGE [-o manifest.json]
  moat fw trust create --key PUB... [--revoke KEYID]... [--sequence N] [--sign-key KEY] [-o FILE]
  moat fw trust push --url URL --product P SIGNED-TRUST.json
  moat fw push --url URL --manifest M IMAGE [--devices a,b | --expect N] [--timeout 10m] [--no-wait]
  moat fw push --format wolfmqtt --url URL --sign-key EC.key IMAGE [-t TOPIC] [-r]
  moat fw status --url URL --product P [--json]
  moat fw agent --url URL --product P --device ID --trust trust.json|signer.pub --state DIR
                [--group G]... [--exec CMD] [--running V] [--max-size BYTES]
  moat fw agent --format wolfmqtt --url URL --out FILE [--trust EC.pub] [-t TOPIC] [--loop]

Subcommands that connect to a broker take moat pub's connection flags (URL or -h/-p, -u/-P, --cafile,
--cert, --key, --psk, --psk-identity, --insecure): there --key is the TLS client key and a signing key
is --sign-key. Run moat fw <subcommand> --help for its flags; docs/cli.md and docs/firmware.md explain them.
`;

const KEYGEN_HELP = `moat fw keygen — a firmware signing key pair

Usage: moat fw keygen [--alg ed25519|ecdsa-p256] [--out DIR] [--name NAME] [--force]

  --alg ALG      ed25519 (default) or ecdsa-p256 (P-256 with SHA-256; the wolfMQTT format needs it)
  --out DIR      folder for NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM); default .
  --name NAME    file name without extension (default signer)
  --force        replace existing files
`;

const SIGN_HELP = `moat fw sign — a signed release manifest for an image

Usage: moat fw sign --key KEY --product P --version V [options] IMAGE [-o manifest.json]

  --key FILE          the signer's private key (moat fw keygen)
  --product P         product name: [a-z0-9][a-z0-9._-]{0,63}
  --version V         dotted version (1.4.2); devices refuse anything not newer than what they run
  --device ID         target this device id (repeatable, or a,b); with --group: either matches
  --group G           target this device group (repeatable, or a,b); neither: every device of the product
  --min-version V     devices must run at least V to take this release
  --expires DURATION  validity from now (default 30d): 90s, 10m, 12h, 30d
  --chunk-size N      bytes per chunk (default ${DEFAULT_CHUNK_SIZE}); each chunk is one PUBLISH, so it must fit the
                      broker's Maximum Packet Size with its topic and 8-byte header (push checks)
  -o FILE             write the manifest envelope there (default: stdout)
`;

const TRUST_HELP = `moat fw trust — device trust lists

Usage:
  moat fw trust create --key PUB... [--revoke KEYID]... [--sequence N] [--sign-key KEY] [-o FILE]
  moat fw trust push --url URL --product P [connection flags] SIGNED-TRUST.json

create   a trust list of the given signer public keys (PEM, repeatable). Without --sign-key it is the
         unsigned initial pin for moat fw agent --trust; with --sign-key (a key of the list the devices
         hold now, not revoked) it is a signed update, for moat fw trust push
  --key FILE        a trusted signer's public key (repeatable)
  --revoke KEYID    a key id (16 hex) devices must refuse from now on (repeatable)
  --sequence N      the list's sequence, greater than the devices' current one (default 1)
  --sign-key FILE   sign the list with this private key
  -o FILE           write it there (default: stdout)
push     publishes a signed trust list retained on fw/<product>/trust
`;

/** Writes `data` to `path` atomically (temp + rename), or to stdout without a path. */
async function output(io: Io, path: string | undefined, data: Buffer, mode = 0o644): Promise<void> {
  if (path === undefined) {
    io.out(`${data.toString('utf8')}\n`);
    return;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

export async function fwCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(FW_HELP);
    return 0;
  }
  switch (sub) {
    case 'keygen': return keygen(rest, io);
    case 'sign': return sign(rest, io);
    case 'trust': return trust(rest, io);
    case 'push': return fwPushCommand(rest, io);
    case 'status': return fwStatusCommand(rest, io);
    case 'agent': return fwAgentCommand(rest, io);
    default: throw usage(`unknown fw command "${sub}" (keygen, sign, trust, push, status or agent)`);
  }
}

function parseAlg(alg: string | undefined): SignerAlg {
  if (alg === undefined || alg === 'ed25519') return 'ed25519';
  if (alg === 'ecdsa-p256' || alg === 'ecdsa-p256-sha256' || alg === 'p256') return 'ecdsa-p256-sha256';
  throw usage(`--alg must be ed25519 or ecdsa-p256, not "${alg}"`);
}

async function keygen(args: string[], io: Io): Promise<number> {
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: { alg: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) return (io.out(KEYGEN_HELP), 0);
  const alg = parseAlg(v.alg);
  if (v.name !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(v.name)) throw usage(`--name must be 1–64 letters, digits, . _ -, not "${v.name}"`);
  return runFw(io, 'keygen', async () => {
    const key = generateSigner(alg);
    const files = await writeSignerFiles(key, v.out ?? '.', { ...(v.name !== undefined && { name: v.name }), force: v.force ?? false });
    io.out(`${alg} signing key ${key.keyId}\n  private ${files.privatePath} (0600: keep it off the devices and the broker)\n  public  ${files.publicPath} (give it to devices: moat fw agent --trust, or moat fw trust create --key)\n`);
    return 0;
  });
}

async function sign(args: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args, allowPositionals: true, strict: true,
    options: {
      key: { type: 'string' }, product: { type: 'string' }, version: { type: 'string' }, device: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true }, 'min-version': { type: 'string' }, expires: { type: 'string' },
      'chunk-size': { type: 'string' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) return (io.out(SIGN_HELP), 0);
  if (v.key === undefined || v.product === undefined || v.version === undefined) throw usage('moat fw sign needs --key, --product and --version');
  if (positionals.length !== 1) throw usage('moat fw sign needs exactly one IMAGE file');
  const image = positionals[0]!;
  const ttl = durationFlag('--expires', v.expires, DEFAULT_MANIFEST_TTL_MS);
  let chunkSize: number | undefined;
  if (v['chunk-size'] !== undefined) {
    chunkSize = Number(v['chunk-size']);
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 64 || chunkSize > 256 * 1024 * 1024) throw usage(`--chunk-size must be an integer from 64 to 268435456, not "${v['chunk-size']}"`);
  }
  const devices = listFlag(v.device);
  const groups = listFlag(v.group);
  const target: Target | undefined = devices?.length || groups?.length ? { ...(devices?.length && { devices }), ...(groups?.length && { groups }) } : undefined;
  return runFw(io, 'sign', async () => {
    const signer = await loadSigner(v.key!);
    const now = new Date();
    const manifest = await buildManifest(image, {
      product: v.product!, version: v.version!, now, expiresAt: new Date(now.getTime() + ttl),
      ...(chunkSize !== undefined && { chunkSize }), ...(target && { target }), ...(v['min-version'] !== undefined && { minVersion: v['min-version'] }),
    });
    const envelope = signManifest(manifest, signer);
    await output(io, v.output, encodeEnvelope(envelope));
    const releaseId = releaseIdOf(Buffer.from(envelope.payload, 'base64'));
    io.err(`signed ${manifest.product} ${manifest.version}: release ${releaseId}, ${manifest.size} bytes in ${manifest.chunks.length} chunks of ${manifest.chunkSize}, signer ${signer.keyId}, expires ${manifest.expiresAt}\n`);
    return 0;
  });
}

async function trust(args: string[], io: Io): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '-h' || action === '--help' || action === 'help') return (io.out(TRUST_HELP), 0);
  if (action === 'push') return fwTrustPushCommand(rest, io);
  if (action !== 'create') throw usage(`unknown fw trust command "${action}" (create or push)`);
  const { values: v } = parseArgs({
    args: rest, allowPositionals: false, strict: true,
    options: {
      key: { type: 'string', multiple: true }, revoke: { type: 'string', multiple: true }, sequence: { type: 'string' },
      'sign-key': { type: 'string' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) return (io.out(TRUST_HELP), 0);
  if (!v.key?.length) throw usage('moat fw trust create needs at least one --key PUB');
  const sequence = v.sequence === undefined ? 1 : Number(v.sequence);
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw usage(`--sequence must be a positive integer, not "${v.sequence}"`);
  const revoked = listFlag(v.revoke) ?? [];
  for (const id of revoked) if (!/^[0-9a-f]{16}$/.test(id)) throw usage(`--revoke takes a key id (16 lowercase hex characters), not "${id}"`);
  return runFw(io, 'trust', async () => {
    const keys = await Promise.all(v.key!.map((k) => loadPublicKey(k)));
    const list = createTrustList(keys, { sequence, revoked });
    const signer = v['sign-key'] !== undefined ? await loadSigner(v['sign-key']) : undefined;
    await output(io, v.output, signer ? encodeEnvelope(signTrustList(list, signer)) : encodeTrustList(list));
    io.err(`trust list sequence ${sequence}: keys ${keys.map((k) => k.keyId).join(', ')}${revoked.length ? `; revoked ${revoked.join(', ')}` : ''}; ${signer ? `signed by ${signer.keyId}` : 'unsigned (an initial pin)'}\n`);
    return 0;
  });
}
