/**
 * The wolfMQTT-compatible mode of `moat fw push` / `moat fw agent` (`--format wolfmqtt`): wolfMQTT's
 * firmware example format (src/firmware/wolfmqtt-format.ts), one QoS 2 PUBLISH holding the whole image.
 * It interoperates with wolfMQTT's fwpush/fwclient; it has no version (no rollback protection), no
 * chunks (the image in memory on both sides) and, unless the receiver pins the key, only proves
 * integrity: the public key that verifies travels in the message.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { connect, type Message } from '../client/index.js';
import {
  FwErr, WOLFMQTT_TOPIC, decodeWolfMqtt, encodeWolfMqtt, fwError, loadPublicKey, loadSigner, verifyWolfMqtt, x963Of,
} from '../firmware/index.js';
import { isMoatError } from '../codec/index.js';
import type { Io } from './broker-command.js';
import { FW_CONNECTION_HELP, FW_CONNECTION_OPTIONS, fwClientSetup, runFw, usage, type FwConnectionValues } from './fw-args.js';

export const WOLFMQTT_AGENT_HELP = `moat fw agent --format wolfmqtt — receive wolfMQTT-format firmware

Usage: moat fw agent --format wolfmqtt --url URL --out FILE [--trust EC.pub] [-t TOPIC] [--loop]

Subscribes (QoS 2) to TOPIC (default ${WOLFMQTT_TOPIC}), checks every length of the payload,
verifies the ECDSA P-256 signature and saves the firmware to FILE (atomically: temp file + rename).

  --out FILE      where the verified firmware goes
  --trust FILE    the signer's public key (PEM, P-256): the embedded key must be it. Without it the
                  signature is checked with the key carried in the message: integrity only
  -t TOPIC        topic (default ${WOLFMQTT_TOPIC})
  --loop          keep receiving (each image replaces FILE) instead of exiting after the first
${FW_CONNECTION_HELP}`;

export const INTEGRITY_ONLY_WARNING = 'moat: WARNING: wolfMQTT format without --trust: the signature is checked with the public key carried '
  + 'in the message itself, which proves integrity only — anyone can sign an image with a key of their own\n';

export type WolfPushValues = FwConnectionValues & { 'sign-key'?: string; topic?: string; retain?: boolean };

export async function wolfmqttPushCommand(v: WolfPushValues, positionals: string[], io: Io): Promise<number> {
  if (v['sign-key'] === undefined) throw usage('moat fw push --format wolfmqtt needs --sign-key (an ECDSA P-256 private key: moat fw keygen --alg ecdsa-p256)');
  if (positionals.length !== 1) throw usage('moat fw push needs exactly one IMAGE file');
  const topic = v.topic ?? WOLFMQTT_TOPIC;
  const { url, options } = fwClientSetup(v, io);
  return runFw(io, 'push', async () => {
    const signer = await loadSigner(v['sign-key']!);
    // The format is one PUBLISH of the whole image: it is read whole, by design of the format.
    const firmware = await readFile(positionals[0]!).catch((e: unknown) => { throw fwError(FwErr.image, `cannot read image ${positionals[0]}`, e); });
    const payload = encodeWolfMqtt(firmware, signer.privateKey);
    const client = await connect(url, options);
    try {
      await client.publish(topic, payload, { qos: 2, retain: v.retain ?? false });
    } finally {
      await client.end().catch(() => {});
    }
    io.out(`published ${firmware.length} bytes of firmware (${payload.length}-byte wolfMQTT message, signer key ${signer.keyId}) on ${topic}${v.retain ? ', retained' : ''}\n`);
    return 0;
  });
}

/** Writes the file next to its final name, fsyncs it and renames it over: the old or the new image, never half. */
async function saveAtomically(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    const f = await open(tmp, 'w', 0o644);
    try {
      await f.writeFile(data);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function wolfmqttAgentCommand(args: string[], io: Io): Promise<number> {
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      ...FW_CONNECTION_OPTIONS, format: { type: 'string' }, out: { type: 'string' }, trust: { type: 'string' },
      topic: { type: 'string', short: 't' }, loop: { type: 'boolean' },
    },
  });
  if (v.help) return (io.out(WOLFMQTT_AGENT_HELP), 0);
  if (v.out === undefined) throw usage('moat fw agent --format wolfmqtt needs --out FILE');
  const topic = v.topic ?? WOLFMQTT_TOPIC;
  const out = v.out;
  const { url, options } = fwClientSetup(v, io);
  if (v.loop) options.reconnect = {};
  return runFw(io, 'agent', async () => {
    const pinned = v.trust !== undefined ? x963Of((await loadPublicKey(v.trust)).publicKey) : undefined;
    if (!pinned) io.err(INTEGRITY_ONLY_WARNING);
    const client = await connect(url, options);
    const sub = await client.subscribe(topic, { qos: 2 });
    let status = 1;
    const stop = (code: number): void => {
      status = code;
      sub.close();
    };
    io.onSignal('SIGINT', () => stop(v.loop ? 0 : 1));
    io.onSignal('SIGTERM', () => stop(v.loop ? 0 : 1));
    io.err(`waiting for firmware on ${topic}\n`);
    try {
      for await (const m of sub) {
        if (m.payload.length === 0) continue; // a retained message being cleared
        const ok = await receive(m, pinned, out, io);
        status = ok ? 0 : 1;
        if (!v.loop) break;
      }
    } finally {
      await client.end().catch(() => {});
    }
    return status;
  });
}

/** One message: decode, verify, save. A refusal is reported (one line) and nothing is written. */
async function receive(m: Message, pinned: Buffer | undefined, out: string, io: Io): Promise<boolean> {
  try {
    const { firmware } = verifyWolfMqtt(decodeWolfMqtt(m.payload), pinned);
    await saveAtomically(out, firmware);
    io.out(`saved ${firmware.length} bytes of firmware to ${out} (signature verified${pinned ? ' with the pinned key' : ' with the key in the message: integrity only'})\n`);
    return true;
  } catch (err) {
    if (!isMoatError(err)) throw err;
    io.err(`moat fw agent: firmware on ${m.topic} refused: ${err.message} (${err.code})\n`);
    return false;
  }
}
