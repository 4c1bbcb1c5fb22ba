/**
 * `moat fw push` (a release: chunks, manifest, then the campaign's progress), `moat fw status` (the
 * retained device statuses as a table) and `moat fw trust push`. `--format wolfmqtt` goes to
 * fw-wolfmqtt-command.ts.
 */
import { readFile } from 'node:fs/promises';
import { stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { connect, type MqttClient } from '../client/index.js';
import {
  assertProduct, encodeEnvelope, parseEnvelope, parseStatus, publishRelease, publishTrust, readRetainedManifest, statusFilter,
  validateManifest, watchCampaign, type FirmwareStatus, type Manifest,
} from '../firmware/index.js';
import type { Io } from './broker-command.js';
import { FW_CONNECTION_HELP, FW_CONNECTION_OPTIONS, durationFlag, fwClientSetup, listFlag, runFw, usage } from './fw-args.js';
import { progressView, statusTable, summaryTable } from './fw-progress-view.js';
import { wolfmqttPushCommand } from './fw-wolfmqtt-command.js';

export const PUSH_HELP = `moat fw push — publish a signed release and follow its campaign

Usage: moat fw push --url URL --manifest M IMAGE [--devices a,b | --expect N] [--timeout 10m] [--no-wait]
       moat fw push --format wolfmqtt --url URL --sign-key EC.key IMAGE [-t TOPIC] [-r]

Publishes every chunk of IMAGE retained (QoS 1) on fw/<product>/chunk/<release>/<i>, then the manifest
retained on fw/<product>/manifest, then deletes the chunks of the release that manifest replaced. Then
shows the devices' progress (fw/<product>/status/+) until every target finished or the timeout, and a
summary; exit status 1 if a target failed or did not finish.

  --manifest FILE     the manifest envelope from moat fw sign (its product is the campaign's)
  --devices a,b       the devices that must install it (repeatable); default: the manifest's
                      target devices, if it lists any
  --expect N          instead: done once N devices installed or failed it
  --timeout DURATION  how long to wait for the devices (default 10m): 90s, 10m, 2h
  --no-wait           publish and exit, without following the devices
  --window N          chunk publishes awaiting PUBACK at once (default 16)
  --format moat|wolfmqtt   wolfmqtt: wolfMQTT's firmware example format, one QoS 2 PUBLISH signed
                      with --sign-key (ECDSA P-256 private key), on -t TOPIC (default
                      wolfMQTT/example/firmware), retained with -r
${FW_CONNECTION_HELP}`;

const STATUS_HELP = `moat fw status — the devices' retained firmware statuses

Usage: moat fw status --url URL --product P [--json]

  --product P   the product
  --json        one JSON object per line {device, ...status} instead of the table
${FW_CONNECTION_HELP}`;

const TRUST_PUSH_HELP = `moat fw trust push — publish a signed trust list retained on fw/<product>/trust

Usage: moat fw trust push --url URL --product P SIGNED-TRUST.json
${FW_CONNECTION_HELP}`;

async function readFileOr(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    throw usage(`${flag}: cannot read ${path}`);
  }
}

/** The manifest file: its envelope re-encoded (whitespace an editor added is gone) and the manifest inside, by shape. */
function readManifestFile(bytes: Buffer): { manifest: Manifest; envelope: Buffer } {
  const env = parseEnvelope(bytes);
  return { manifest: validateManifest(Buffer.from(env.payload, 'base64')), envelope: encodeEnvelope(env) };
}

export async function fwPushCommand(args: string[], io: Io, tty = stdout.isTTY === true): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args, allowPositionals: true, strict: true,
    options: {
      ...FW_CONNECTION_OPTIONS, manifest: { type: 'string' }, devices: { type: 'string', multiple: true }, expect: { type: 'string' },
      timeout: { type: 'string' }, 'no-wait': { type: 'boolean' }, window: { type: 'string' }, format: { type: 'string' },
      'sign-key': { type: 'string' }, topic: { type: 'string', short: 't' }, retain: { type: 'boolean', short: 'r' },
    },
  });
  if (v.help) return (io.out(PUSH_HELP), 0);
  const format = v.format ?? 'moat';
  if (format === 'wolfmqtt') {
    if (v.manifest !== undefined || v.devices || v.expect !== undefined || v['no-wait'] || v.window !== undefined || v.timeout !== undefined) {
      throw usage('--manifest, --devices, --expect, --timeout, --window and --no-wait are for the moat format, not wolfmqtt');
    }
    return wolfmqttPushCommand(v, positionals, io);
  }
  if (format !== 'moat') throw usage(`--format must be moat or wolfmqtt, not "${format}"`);
  // The moat format's signature is in the manifest (moat fw sign): nothing is signed here.
  if (v['sign-key'] !== undefined) throw usage('--sign-key is for --format wolfmqtt; the moat format is signed by moat fw sign (--manifest)');
  if (v.topic !== undefined || v.retain) throw usage('-t and -r are for --format wolfmqtt (the moat format has fixed topics, all retained)');
  if (v.manifest === undefined) throw usage('moat fw push needs --manifest (from moat fw sign)');
  if (positionals.length !== 1) throw usage('moat fw push needs exactly one IMAGE file');
  const listed = listFlag(v.devices);
  if (listed && v.expect !== undefined) throw usage('--devices and --expect are exclusive');
  const expect = v.expect === undefined ? undefined : Number(v.expect);
  if (expect !== undefined && (!Number.isSafeInteger(expect) || expect < 1)) throw usage(`--expect must be a positive integer, not "${v.expect}"`);
  const window = v.window === undefined ? undefined : Number(v.window);
  if (window !== undefined && (!Number.isSafeInteger(window) || window < 1 || window > 65_535)) throw usage(`--window must be an integer from 1 to 65535, not "${v.window}"`);
  const timeoutMs = durationFlag('--timeout', v.timeout, 10 * 60_000);
  const { url, options } = fwClientSetup(v, io);
  // A campaign outlives a broker restart: publishes in flight are resent, the status subscription made again.
  options.reconnect = {};
  const envelopeFile = await readFileOr('--manifest', v.manifest);
  return runFw(io, 'push', async () => {
    // The envelope as moat fw sign wrote it; the manifest inside tells the product and the targets.
    const { manifest, envelope } = readManifestFile(envelopeFile);
    const client = await connect(url, options);
    try {
      const pushed = await publishRelease({
        client, product: manifest.product, manifestEnvelope: envelope, imagePath: positionals[0]!,
        ...(window !== undefined && { window }), log: (line) => io.err(`${line}\n`),
      });
      io.out(`release ${pushed.releaseId}: ${manifest.product} ${pushed.version}, ${pushed.bytes} bytes in ${pushed.chunks} chunks, manifest retained on fw/${manifest.product}/manifest${pushed.previousReleaseId ? `; release ${pushed.previousReleaseId} replaced, its ${pushed.cleared} chunks deleted` : ''}\n`);
      if (v['no-wait']) return 0;
      const devices = listed ?? (expect === undefined ? manifest.target?.devices : undefined);
      if (!devices && expect === undefined) io.err(`no --devices or --expect: following every device on this release until the timeout (${Math.round(timeoutMs / 1000)}s); Ctrl-C stops\n`);
      const stop = new AbortController();
      io.onSignal('SIGINT', () => stop.abort());
      io.onSignal('SIGTERM', () => stop.abort());
      const view = progressView((s) => io.out(s), tty);
      const summary = await watchCampaign({
        client, product: manifest.product, releaseId: pushed.releaseId, version: pushed.version, timeoutMs, signal: stop.signal,
        ...(devices && { devices }), ...(expect !== undefined && { expect }), onUpdate: (s) => view.update(s),
      });
      view.finish();
      io.out(`\n${summaryTable(summary)}`);
      const unfinished = summary.timedOut.length + summary.missing + (summary.complete ? 0 : summary.pending.length);
      return summary.failed.length > 0 || unfinished > 0 ? 1 : 0;
    } finally {
      await client.end().catch(() => {});
    }
  });
}

/** Every retained message under `filter` now: SUBACK, the retained messages, then our UNSUBACK. */
async function retainedUnder(client: MqttClient, filter: string): Promise<Array<{ topic: string; payload: Buffer }>> {
  const sub = await client.subscribe(filter, { qos: 1, bufferSize: 1_000_000 });
  await client.unsubscribe(filter);
  const out: Array<{ topic: string; payload: Buffer }> = [];
  for await (const m of sub) if (m.retain && m.payload.length > 0) out.push({ topic: m.topic, payload: Buffer.from(m.payload) });
  return out;
}

export async function fwStatusCommand(args: string[], io: Io): Promise<number> {
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: { ...FW_CONNECTION_OPTIONS, product: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (v.help) return (io.out(STATUS_HELP), 0);
  if (v.product === undefined) throw usage('moat fw status needs --product');
  const product = v.product;
  const { url, options } = fwClientSetup(v, io);
  return runFw(io, 'status', async () => {
    assertProduct(product);
    const client = await connect(url, options);
    try {
      const current = await readRetainedManifest(client, product);
      const prefix = `fw/${product}/status/`;
      const statuses: Array<[string, FirmwareStatus]> = [];
      let malformed = 0;
      for (const m of await retainedUnder(client, statusFilter(product))) {
        try {
          statuses.push([m.topic.slice(prefix.length), parseStatus(m.payload)]);
        } catch {
          malformed++;
        }
      }
      statuses.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (v.json) {
        for (const [device, s] of statuses) io.out(`${JSON.stringify({ device, ...s })}\n`);
        return 0;
      }
      io.out(current?.releaseId
        ? `manifest: release ${current.releaseId}, version ${current.version}, ${current.chunks} chunks\n`
        : current ? 'manifest: retained but not readable\n' : 'manifest: none retained\n');
      io.out(statuses.length ? statusTable(statuses, current?.releaseId) : 'no device status retained\n');
      if (malformed) io.out(`${malformed} malformed status${malformed > 1 ? 'es' : ''} ignored\n`);
      return 0;
    } finally {
      await client.end().catch(() => {});
    }
  });
}

export async function fwTrustPushCommand(args: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args, allowPositionals: true, strict: true, options: { ...FW_CONNECTION_OPTIONS, product: { type: 'string' } },
  });
  if (v.help) return (io.out(TRUST_PUSH_HELP), 0);
  if (v.product === undefined) throw usage('moat fw trust push needs --product');
  if (positionals.length !== 1) throw usage('moat fw trust push needs exactly one signed trust list file');
  const { url, options } = fwClientSetup(v, io);
  const file = await readFileOr('trust list', positionals[0]!);
  const product = v.product;
  return runFw(io, 'trust push', async () => {
    const client = await connect(url, options);
    try {
      const { sequence } = await publishTrust({ client, product, trustEnvelope: file });
      io.out(`trust list sequence ${sequence} retained on fw/${product}/trust\n`);
      return 0;
    } finally {
      await client.end().catch(() => {});
    }
  });
}
