/**
 * Flags shared by the `moat fw` subcommands that talk to a broker, and small parsers. The connection
 * flags are exactly `moat pub`'s (client-args.ts), `--key` included: wherever a broker connection is
 * made, `--key` is the TLS client key, so a firmware signing key there is `--sign-key` (push --format
 * wolfmqtt). Only `moat fw sign --key`, which connects to nothing, names a signing key `--key`.
 */
import { MoatError, isMoatError } from '../codec/index.js';
import type { ClientOptions } from '../client/index.js';
import type { Io } from './broker-command.js';
import { COMMON_OPTIONS, INSECURE_WARNING, clientSetup, type CommonValues } from './client-args.js';

const { host, port, url, id, username, pw, keepalive, cafile, cert, key, insecure, psk, help } = COMMON_OPTIONS;
export const FW_CONNECTION_OPTIONS = {
  host, port, url, id, username, pw, keepalive, 'protocol-version': COMMON_OPTIONS['protocol-version'], cafile, cert,
  key, insecure, psk, 'psk-identity': COMMON_OPTIONS['psk-identity'], 'data-dir': COMMON_OPTIONS['data-dir'], help,
} as const;

export type FwConnectionValues = { [K in keyof typeof FW_CONNECTION_OPTIONS]?: CommonValues[K] };

export const FW_CONNECTION_HELP = `Connection (as moat pub):
  -L, --url URL             broker URL: mqtt://, mqtts://, ws://, wss:// (or -h HOST -p PORT)
  -h HOST, -p PORT          broker host and port (8883 means TLS), instead of a URL
  -i ID                     client id      -u USER, -P PASSWORD   credentials
  -k SECONDS                keep alive     -V 311|5               MQTT version (default 5)
  --cafile FILE             CA to verify the broker with (TLS)
  --cert FILE --key FILE    client certificate and its key (TLS)
  --insecure                do not verify the broker's certificate (tests only)
  --psk HEX --psk-identity ID   TLS-PSK instead of certificates
  --data-dir DIR            dev profile directory (default ./.moat), as moat pub
  --help                    this help
`;

export const usage = (msg: string): MoatError => new MoatError('MOAT_ERR_CONFIG', msg);

/** The broker URL and client options of the connection flags (the insecure warning goes to stderr). */
export function fwClientSetup(v: FwConnectionValues, io: Io): { url: string; options: ClientOptions } {
  // Only the connection flags: a subcommand's own flags must not reach clientSetup.
  const picked: Record<string, unknown> = {};
  for (const name of Object.keys(FW_CONNECTION_OPTIONS)) if ((v as Record<string, unknown>)[name] !== undefined) picked[name] = (v as Record<string, unknown>)[name];
  const setup = clientSetup(picked as CommonValues);
  if (v.insecure) io.err(INSECURE_WARNING);
  return setup;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90" (seconds), "500ms", "30s", "10m", "2h", "30d" → milliseconds. */
export function durationFlag(name: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value);
  if (!m || Number(m[1]) === 0) throw usage(`${name} must be a positive duration such as 90s, 10m, 2h or 30d, not "${value}"`);
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}

/** "a,b" and repeated flags → one list without empty names. */
export function listFlag(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  return values.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Runs the part of a subcommand that works with files and the network: a usage error (MOAT_ERR_CONFIG)
 * still becomes exit 2 in main.ts; any other MoatError is one line on stderr and exit 1.
 */
export async function runFw(io: Io, name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (!isMoatError(err) || err.code === 'MOAT_ERR_CONFIG') throw err;
    io.err(`moat fw ${name}: ${err.message} (${err.code})\n`);
    return 1;
  }
}
