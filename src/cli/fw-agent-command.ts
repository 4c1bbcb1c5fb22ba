/**
 * `moat fw agent`: the device-side agent (src/firmware/agent.ts) as a command — a persistent session
 * `fw-<product>-<device>` that reconnects across broker restarts, a pinned trust list, a state folder,
 * an install command; runs until SIGINT/SIGTERM and logs every status change. `--format wolfmqtt` goes
 * to fw-wolfmqtt-command.ts.
 */
import { parseArgs } from 'node:util';
import { connect } from '../client/index.js';
import { assertDeviceId, assertProduct, isVersion, loadTrustFile, startAgent, type FirmwareStatus } from '../firmware/index.js';
import type { Io } from './broker-command.js';
import { FW_CONNECTION_HELP, FW_CONNECTION_OPTIONS, fwClientSetup, listFlag, runFw, usage } from './fw-args.js';
import { wolfmqttAgentCommand } from './fw-wolfmqtt-command.js';

export const AGENT_HELP = `moat fw agent — the device agent

Usage: moat fw agent --url URL --product P --device ID --trust FILE --state DIR [options]
       moat fw agent --format wolfmqtt --url URL --out FILE [--trust EC.pub] [-t TOPIC] [--loop]

Follows fw/<product>/manifest and fw/<product>/trust, downloads and verifies a release chunk by chunk
into DIR/staging (resuming after a restart), renames it to DIR/ready/<product>-<version>.bin and runs
the install command; publishes its status on fw/<product>/status/<device>. Runs until Ctrl-C / SIGTERM.

  --product P      the product this device is
  --device ID      this device's id (also its MQTT client id: fw-<product>-<device>, persistent session)
  --trust FILE     the pinned trust list (moat fw trust create), or one signer public key (PEM);
                   used until a signed update replaces it (kept in DIR/state.json)
  --state DIR      state folder: state.json, staging/, ready/
  --group G        a group this device belongs to (repeatable, or a,b): manifests may target groups
  --exec CMD       install command, run as sh -c 'CMD "$1"' with the image path; exit 0 = installed.
                   Without it the image stays in DIR/ready/ and counts as installed
  --running V      the version the device runs, when DIR holds none yet (default 0)
  --max-size N     largest image accepted, bytes (default 64 MiB)
  --session-expiry SECONDS   how long the broker keeps the session while the device is away (default 604800)
${FW_CONNECTION_HELP}`;

function statusLine(s: FirmwareStatus): string {
  const parts: string[] = [s.state];
  if (s.version !== undefined) parts.push(s.version);
  if (s.percent !== undefined && s.state === 'downloading') parts.push(`${Math.floor(s.percent)}%`);
  if (s.release !== undefined) parts.push(`release ${s.release.slice(0, 8)}`);
  if (s.running !== undefined) parts.push(`running ${s.running}`);
  if (s.code !== undefined) parts.push(s.code);
  if (s.reason !== undefined) parts.push(`(${s.reason})`);
  return parts.join(' ');
}

export async function fwAgentCommand(args: string[], io: Io): Promise<number> {
  if (args.some((a, i) => a === '--format=wolfmqtt' || (a === '--format' && args[i + 1] === 'wolfmqtt'))) return wolfmqttAgentCommand(args, io);
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      ...FW_CONNECTION_OPTIONS, format: { type: 'string' }, product: { type: 'string' }, device: { type: 'string' }, trust: { type: 'string' },
      state: { type: 'string' }, group: { type: 'string', multiple: true }, exec: { type: 'string' }, running: { type: 'string' },
      'max-size': { type: 'string' }, 'session-expiry': { type: 'string' },
    },
  });
  if (v.help) return (io.out(AGENT_HELP), 0);
  if (v.format !== undefined && v.format !== 'moat') throw usage(`--format must be moat or wolfmqtt, not "${v.format}"`);
  if (v.product === undefined || v.device === undefined || v.trust === undefined || v.state === undefined) {
    throw usage('moat fw agent needs --product, --device, --trust and --state');
  }
  const product = v.product;
  const deviceId = v.device;
  try {
    assertProduct(product);
    assertDeviceId(deviceId);
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (v.running !== undefined && !isVersion(v.running)) throw usage(`--running must be a dotted version such as 1.4.2, not "${v.running}"`);
  const maxImageBytes = v['max-size'] === undefined ? undefined : Number(v['max-size']);
  if (maxImageBytes !== undefined && (!Number.isSafeInteger(maxImageBytes) || maxImageBytes < 1)) throw usage(`--max-size must be a positive integer, not "${v['max-size']}"`);
  const expiry = v['session-expiry'] === undefined ? 604_800 : Number(v['session-expiry']);
  if (!Number.isInteger(expiry) || expiry < 1 || expiry > 0xffff_ffff) throw usage(`--session-expiry must be an integer from 1 to 4294967295, not "${v['session-expiry']}"`);
  const { url, options } = fwClientSetup(v, io);
  // A persistent session: chunks and manifests published while the device is away wait for it.
  Object.assign(options, { clientId: v.id ?? `fw-${product}-${deviceId}`, clean: false, sessionExpiry: expiry, reconnect: {} });
  const groups = listFlag(v.group);
  return runFw(io, 'agent', async () => {
    const trust = await loadTrustFile(v.trust!);
    const client = await connect(url, options);
    const stopped = new Promise<void>((resolve) => {
      io.onSignal('SIGINT', resolve);
      io.onSignal('SIGTERM', resolve);
    });
    const log = (line: string): void => io.err(`${line}\n`);
    client.on('offline', (reason) => log(`offline: ${reason?.message ?? 'connection lost'}; reconnecting`));
    client.on('connect', () => log('connected'));
    try {
      const agent = await startAgent({
        client, product, deviceId, stateDir: v.state!, trust,
        install: v.exec !== undefined ? { command: v.exec } : async () => {},
        ...(groups?.length && { groups }), ...(v.running !== undefined && { runningVersion: v.running }),
        ...(maxImageBytes !== undefined && { maxImageBytes }), log,
      });
      agent.on('status', (s) => io.out(`${s.at} ${statusLine(s)}\n`));
      io.out(`agent ${deviceId} of ${product} running ${agent.running}; ${statusLine(agent.status)}\n`);
      await stopped;
      await agent.close();
    } finally {
      await client.end().catch(() => {});
    }
    return 0;
  });
}
