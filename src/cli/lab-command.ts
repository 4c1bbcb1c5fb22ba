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
import { intFlag } from './client-args.js';

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
  --rtt 0,50,200     simulated round-trip times in ms (a delay proxy adds half each way)
  --json             print the report as JSON instead of the Markdown table
  --out DIR          also write DIR/report.html (tables and charts), report.json and report.md
  -L, --url URL      measure against this broker (mqtt:// or mqtts://) instead of starting one;
                     broker CPU and memory are then not measured
  --cafile FILE      CA that verifies the --url broker
  --cert FILE, --key FILE   client certificate and key for mtls13 against --url
  --psk HEX --psk-identity ID   PSK for the PSK modes against --url
  --insecure         do not verify the --url broker's certificate
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
  // At most 2 s: TLS 1.2 full reaches CONNECT ≈ 3.5 round trips after accept, and the broker's connect
  // timeout (10 s) and the probe's own (15 s) must not cut a setup short.
  const rtts = value.split(',').map((s) => intFlag('--rtt', s.trim(), 0, 2000)!);
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

const readFlagFile = (flag: string, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch {
    throw usage(`${flag}: cannot read ${path}`);
  }
};

const RUN_OPTIONS = {
  modes: { type: 'string' }, keys: { type: 'string' }, repeat: { type: 'string' }, quick: { type: 'boolean' },
  rtt: { type: 'string' }, url: { type: 'string', short: 'L' }, cafile: { type: 'string' }, cert: { type: 'string' },
  key: { type: 'string' }, psk: { type: 'string' }, 'psk-identity': { type: 'string' }, insecure: { type: 'boolean' },
} as const;

type RunValues = { [K in keyof typeof RUN_OPTIONS]?: (typeof RUN_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The flags → runLab options; every usage error is MOAT_ERR_CONFIG before anything runs. */
export function labOptions(v: RunValues): LabOptions {
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
  const tlsFlags = (['cafile', 'cert', 'key', 'psk', 'psk-identity', 'insecure'] as const).filter((f) => v[f] !== undefined && v[f] !== false);
  if (v.url === undefined) {
    if (tlsFlags.length) throw usage(`${tlsFlags.map((f) => `--${f}`).join(', ')} only apply to a --url broker (the built-in one needs none)`);
    return o;
  }
  let url: URL;
  try {
    url = new URL(v.url);
  } catch {
    throw usage(`invalid broker URL "${v.url}"`);
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw usage(`--url must be mqtt:// or mqtts://, not ${v.url}`);
  if (url.protocol === 'mqtt:' && tlsFlags.length) throw usage(`${tlsFlags.map((f) => `--${f}`).join(', ')} need an mqtts:// URL, not ${v.url}`);
  o.url = v.url;
  const tls: NonNullable<LabOptions['tls']> = {};
  if (v.cafile !== undefined) tls.ca = readFlagFile('--cafile', v.cafile);
  if ((v.cert === undefined) !== (v.key === undefined)) throw usage('--cert and --key go together');
  if (v.cert !== undefined && v.key !== undefined) {
    tls.cert = readFlagFile('--cert', v.cert);
    tls.key = readFlagFile('--key', v.key);
  }
  if ((v.psk === undefined) !== (v['psk-identity'] === undefined)) throw usage('--psk and --psk-identity go together');
  if (v.psk !== undefined) {
    if (!/^([0-9a-fA-F]{2})+$/.test(v.psk)) throw usage('--psk must be the key in hexadecimal');
    tls.pskHex = v.psk;
    tls.pskIdentity = v['psk-identity']!;
  }
  if (v.insecure) tls.insecure = true;
  if (Object.keys(tls).length) o.tls = tls;
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
