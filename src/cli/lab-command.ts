/**
 * `moat lab`: measure what each security mode costs on this machine (and link), print the Markdown
 * table (or JSON), write report.html/.json/.md with --out; `moat lab recommend`: a mode for a kind of
 * device, from a saved report or a --quick run. The lab reports progress through a callback; this file
 * decides how it looks (one line rewritten in place on a terminal, one line per phase otherwise).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stderr } from 'node:process';
import { parseArgs } from 'node:util';
import { MoatError, isMoatError } from '../codec/index.js';
import { LAB_KEYS, LAB_MODES, runLab, type LabKey, type LabMode, type LabOptions, type LabReport } from '../lab/index.js';
import { renderHtml } from '../lab/html-report.js';
import { renderMarkdown } from '../lab/markdown.js';
import { recommend, renderRecommendation, type DeviceProfile } from '../lab/recommend.js';
import type { Io } from './broker-command.js';
import { INSECURE_WARNING, clientSetup, intFlag, type CommonValues } from './client-args.js';

export const LAB_HELP = `moat lab — measure what each security mode costs, on this machine and link

Usage: moat lab [options]
       moat lab recommend --ram-kb N --cpu-mhz N --rtt-ms N --reconnects-per-day N
                          --msgs-per-day N --payload-bytes N [--qos 0|1] [--report FILE] [--json]

Measures, per mode and server key: round trips and bytes of the connection setup, time to CONNACK
and to the first PUBACK at simulated round-trip times, client and broker CPU per setup, broker memory
per idle connection, per-message overhead, throughput, and the negotiated cipher and group.

Options:
  --modes a,b        modes (default all): ${LAB_MODES.join(', ')}
  --keys a,b         server key types (default all): ${LAB_KEYS.join(', ')}
  --repeat N         repetitions per measurement (default 5; --quick 2)
  --quick            fewer repetitions and connections: the default set in under 30 s
  --rtt 0,50,200     simulated round-trip times in ms, each ≤ 10000 (a delay proxy adds half each way)
  --json             print the report as JSON instead of the Markdown table
  --out DIR          also write DIR/report.html (tables and charts), report.json and report.md
  -L, --url URL      measure against this broker (mqtt:// or mqtts://) instead of starting one;
                     broker CPU and memory are then not measured
  -u USER, -P PASSWORD      credentials for the --url broker's CONNECT (not written to reports)
  --cafile FILE      CA that verifies the --url broker
  --cert FILE, --key FILE   client certificate and key for mtls13 against --url
  --psk HEX --psk-identity ID   PSK for the PSK modes against --url
  --insecure         do not verify the --url broker's certificate
  --data-dir DIR     dev profile for a local --url broker, as in moat pub (default ./.moat)
  --help             this help

recommend: daily bytes, CPU seconds and connect time for each mode on the described device, and a
recommended mode with the reasons. --report reads a report.json (else it runs --quick first).
`;

const usage = (msg: string): MoatError => new MoatError('MOAT_ERR_CONFIG', msg);

function listFlag<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw usage(`${name} needs at least one of ${allowed.join(', ')}`);
  for (const it of items) if (!allowed.includes(it as T)) throw usage(`${name}: unknown "${it}" (one of ${allowed.join(', ')})`);
  return [...new Set(items)] as T[];
}

function rttFlag(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  // 10 s covers a congested GEO satellite or 2G link; the lab's broker and probes wait in proportion
  // (runner.ts setupTimeoutMs). A --url broker's own connect timeout may still cut long setups short.
  const rtts = value.split(',').map((s) => intFlag('--rtt', s.trim(), 0, 10_000)!);
  return [...new Set(rtts)].sort((a, b) => a - b);
}

/**
 * Progress on stderr. On a terminal one line, rewritten in place (clipped to the width, so it never
 * wraps); otherwise a line whenever the phase changes (the text without its trailing "3/10" counter).
 */
export function progressWriter(write: (s: string) => void, tty: boolean, columns = 100): { update(text: string): void; done(): void } {
  // A terminal that reports no width (0) gets the default, not a negative clip.
  const width = columns >= 20 ? columns : 100;
  let last = '';
  let drawn = false;
  return {
    update(text) {
      if (tty) {
        const line = [...text].length > width - 1 ? `${[...text].slice(0, width - 2).join('')}…` : text;
        write(`\r\x1b[K${line}`);
        drawn = true;
        return;
      }
      const phase = text.replace(/\s*\d+\/\d+\s*$/, '');
      if (phase === last) return;
      last = phase;
      write(`${text}\n`);
    },
    done() {
      if (drawn) write('\r\x1b[K');
      drawn = false;
    },
  };
}

const RUN_OPTIONS = {
  modes: { type: 'string' }, keys: { type: 'string' }, repeat: { type: 'string' }, quick: { type: 'boolean' },
  rtt: { type: 'string' }, url: { type: 'string', short: 'L' }, username: { type: 'string', short: 'u' }, pw: { type: 'string', short: 'P' },
  cafile: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, psk: { type: 'string' },
  'psk-identity': { type: 'string' }, insecure: { type: 'boolean' }, 'data-dir': { type: 'string' },
} as const;

type RunValues = { [K in keyof typeof RUN_OPTIONS]?: (typeof RUN_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The flags that describe how to reach a --url broker, as `moat pub` spells them. */
const CONNECTION_FLAGS = ['username', 'pw', 'cafile', 'cert', 'key', 'psk', 'psk-identity', 'insecure', 'data-dir'] as const;
const flagName = (f: (typeof CONNECTION_FLAGS)[number]): string => (f === 'username' ? '-u' : f === 'pw' ? '-P' : `--${f}`);

/**
 * The flags → runLab options; every usage error is MOAT_ERR_CONFIG before anything runs. A --url
 * broker is reached the way `moat pub -L URL` reaches it (the same flags, the same checks, the dev
 * profile's CA and device certificate for a local host): client-args.ts's clientSetup decides.
 */
export function labOptions(v: RunValues, cwd = '.'): LabOptions {
  const o: LabOptions = {};
  const modes = listFlag<LabMode>('--modes', v.modes, LAB_MODES);
  if (modes) o.modes = modes;
  const keys = listFlag<LabKey>('--keys', v.keys, LAB_KEYS);
  if (keys) o.keys = keys;
  const repeat = intFlag('--repeat', v.repeat, 1, 1000);
  if (repeat !== undefined) o.repeat = repeat;
  if (v.quick) o.quick = true;
  const rtts = rttFlag(v.rtt);
  if (rtts) o.rtts = rtts;
  const given = CONNECTION_FLAGS.filter((f) => v[f] !== undefined && v[f] !== false);
  if (v.url === undefined) {
    if (given.length) throw usage(`${given.map(flagName).join(', ')} only apply to a --url broker (the built-in one needs none)`);
    return o;
  }
  let url: URL;
  try {
    url = new URL(v.url);
  } catch {
    throw usage(`invalid broker URL "${v.url}"`);
  }
  // The lab counts TCP and TLS bytes on the socket: WebSocket framing would be a different measurement.
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw usage(`--url must be mqtt:// or mqtts://, not ${v.url}`);
  // Reports name the URL: credentials in it would be written into every one.
  if (url.username || url.password) throw usage('--url must not carry user:password (reports name the URL): give them with -u and -P');
  const common: CommonValues = { url: v.url };
  for (const f of CONNECTION_FLAGS) if (v[f] !== undefined) (common as Record<string, unknown>)[f] = v[f];
  const { options: c } = clientSetup(common, cwd);
  o.url = v.url;
  const tls: NonNullable<LabOptions['tls']> = {};
  if (c.ca !== undefined) tls.ca = c.ca;
  if (c.cert !== undefined) tls.cert = c.cert;
  if (c.key !== undefined) tls.key = c.key;
  if (c.psk !== undefined && c.pskIdentity !== undefined) {
    tls.pskHex = Buffer.isBuffer(c.psk) ? c.psk.toString('hex') : c.psk;
    tls.pskIdentity = c.pskIdentity;
  }
  if (c.rejectUnauthorized === false) tls.insecure = true;
  if (Object.keys(tls).length) o.tls = tls;
  if (c.username !== undefined || c.password !== undefined) {
    o.login = {
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: Buffer.from(c.password) } : {}),
    };
  }
  return o;
}

/** A run, or exit status 1 when a measurement failed (its code on one line); usage errors still throw (exit 2). */
async function measure(options: LabOptions, io: Io, tty: boolean): Promise<LabReport | 1 | 130> {
  const progress = progressWriter((s) => io.err(s), tty, stderr.columns || 100);
  // Ctrl-C stops the run between steps, so that its cleanup (broker child, temp keys) runs.
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) io.onSignal(signal, () => stop.abort());
  try {
    return await runLab({ ...options, onProgress: (text) => progress.update(text), signal: stop.signal });
  } catch (err) {
    if (stop.signal.aborted) {
      progress.done();
      io.err('moat lab: interrupted\n');
      return 130;
    }
    if (!isMoatError(err) || err.code === 'MOAT_ERR_CONFIG') throw err;
    progress.done();
    io.err(`moat lab: ${err.message} (${err.code})\n`);
    return 1;
  } finally {
    progress.done();
  }
}

export async function labCommand(args: string[], io: Io, tty = stderr.isTTY === true): Promise<number> {
  if (args[0] === 'recommend') return recommendCommand(args.slice(1), io, tty);
  const { values: v, positionals } = parseArgs({
    args, allowPositionals: true, strict: true,
    options: { ...RUN_OPTIONS, json: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (v.help) {
    io.out(LAB_HELP);
    return 0;
  }
  if (positionals.length) throw usage(`unknown lab command "${positionals[0]}" (moat lab [options] or moat lab recommend)`);
  const options = labOptions(v);
  if (v.insecure) io.err(INSECURE_WARNING);
  const report = await measure(options, io, tty);
  if (typeof report === 'number') return report;
  const markdown = renderMarkdown(report);
  if (v.out !== undefined) {
    mkdirSync(v.out, { recursive: true });
    writeFileSync(join(v.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(v.out, 'report.md'), markdown);
    writeFileSync(join(v.out, 'report.html'), renderHtml(report));
    io.err(`moat lab: wrote ${join(v.out, 'report.html')}, report.json and report.md\n`);
  }
  io.out(v.json ? `${JSON.stringify(report, null, 2)}\n` : markdown);
  return 0;
}

/** A report.json as written by `moat lab --out` / `--json`; anything else is a usage error. */
export function readReport(path: string): LabReport {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw usage(`--report: cannot read ${path} as JSON (${(err as Error).message})`);
  }
  const r = json as Partial<LabReport> | null;
  if (!r || r.version !== 1 || !Array.isArray(r.results) || !r.environment || !Array.isArray(r.rtts)) {
    throw usage(`--report: ${path} is not a moat lab report (version 1)`);
  }
  return r as LabReport;
}

async function recommendCommand(args: string[], io: Io, tty: boolean): Promise<number> {
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      'ram-kb': { type: 'string' }, 'cpu-mhz': { type: 'string' }, 'rtt-ms': { type: 'string' },
      'reconnects-per-day': { type: 'string' }, 'msgs-per-day': { type: 'string' }, 'payload-bytes': { type: 'string' },
      qos: { type: 'string' }, report: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  if (v.help) {
    io.out(LAB_HELP);
    return 0;
  }
  const need = (flag: keyof typeof v & string, min: number, max: number): number => {
    const n = intFlag(`--${flag}`, v[flag] as string | undefined, min, max);
    if (n === undefined) throw usage(`moat lab recommend needs --${flag} (see moat lab --help)`);
    return n;
  };
  const device: DeviceProfile = {
    ramKb: need('ram-kb', 1, 2 ** 31), cpuMHz: need('cpu-mhz', 1, 1_000_000), rttMs: need('rtt-ms', 0, 600_000),
    reconnectsPerDay: need('reconnects-per-day', 0, 100_000_000), msgsPerDay: need('msgs-per-day', 0, 1_000_000_000),
    payloadBytes: need('payload-bytes', 0, 268_435_455),
    qos: (intFlag('--qos', v.qos, 0, 1) ?? 1) as 0 | 1,
  };
  const report = v.report !== undefined ? readReport(v.report) : await measure({ quick: true }, io, tty);
  if (typeof report === 'number') return report;
  let rec: ReturnType<typeof recommend>;
  try {
    rec = recommend(report, device);
  } catch (err) {
    // readReport checks the outline; a result missing its fields shows up here.
    if (v.report !== undefined && err instanceof TypeError) throw usage(`--report: ${v.report} is not a complete moat lab report (${err.message})`);
    throw err;
  }
  io.out(v.json ? `${JSON.stringify(rec, null, 2)}\n` : renderRecommendation(rec));
  return 0;
}
