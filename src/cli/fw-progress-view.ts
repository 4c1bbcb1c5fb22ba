/**
 * How `moat fw push` and `moat fw status` show devices. On a terminal the push progress is a compact table
 * redrawn in place (cursor up, clear to the end); otherwise (a pipe, a log, CI) one line per device change.
 * The final summary is a plain table either way.
 */
import type { CampaignSnapshot, CampaignSummary, DeviceProgress, FirmwareStatus } from '../firmware/index.js';
import { formatTable, type Cell } from '../ssh/table.js';

const short = (release: string | undefined): string | undefined => release?.slice(0, 8);

/**
 * Device ids and status fields come from whoever may publish on fw/<product>/status/#: C0 and C1 control
 * characters (ESC, CSI, BEL, …) are shown as '?', so a status cannot drive the operator's terminal.
 */
export function printable<T extends Cell>(cell: T): T {
  // eslint-disable-next-line no-control-regex
  return (typeof cell === 'string' ? cell.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?') : cell) as T;
}
const printableRows = (rows: Cell[][]): Cell[][] => rows.map((r) => r.map(printable));

function detail(s: FirmwareStatus | undefined): string | undefined {
  if (!s) return undefined;
  if (s.state === 'failed') return s.code ?? s.reason;
  return s.version ?? s.running;
}

function percent(s: FirmwareStatus | undefined): string | undefined {
  if (s?.state === 'downloading' && s.percent !== undefined) return `${Math.floor(s.percent)}%`;
  if (s?.state === 'verified' || s?.state === 'installed') return '100%';
  return undefined;
}

/** A device's state as shown: a status of another release is marked, a listed device not heard from is "waiting". */
function stateOf(d: DeviceProgress): string {
  if (!d.status) return 'waiting';
  return d.current ? d.status.state : `${d.status.state} (other release)`;
}

export function progressRows(devices: DeviceProgress[]): Cell[][] {
  return printableRows(devices.map((d) => [d.deviceId, stateOf(d), percent(d.current ? d.status : undefined), detail(d.status)]));
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;

export function progressLine(s: CampaignSnapshot): string {
  const parts = [`${s.installed} installed`, `${s.failed} failed`, `${s.remaining} to go`];
  if (s.malformed) parts.push(`${s.malformed} malformed status${s.malformed > 1 ? 'es' : ''}`);
  return printable(`release ${short(s.releaseId)} (${s.version}): ${parts.join(', ')} · ${seconds(s.elapsedMs)}`);
}

export interface ProgressView {
  update(s: CampaignSnapshot): void;
  /** Leaves the last table on screen (TTY) and stops drawing. */
  finish(): void;
}

/**
 * `tty`: redraw in place, at most `maxRows` device rows (the unfinished first, then a "… N more" line);
 * else one line per device whose shown state changed.
 */
export function progressView(write: (s: string) => void, tty: boolean, maxRows = 20): ProgressView {
  let drawn = 0;
  const last = new Map<string, string>();
  return {
    update(s) {
      if (tty) {
        const open = s.devices.filter((d) => !d.done);
        const ordered = [...open, ...s.devices.filter((d) => d.done)];
        const shown = ordered.slice(0, maxRows);
        let text = formatTable(['DEVICE', 'STATE', 'PERCENT', 'VERSION/CODE'], progressRows(shown));
        if (ordered.length > shown.length) text += `… ${ordered.length - shown.length} more\n`;
        text += `${progressLine(s)}\n`;
        // Up to the first line drawn last time, clear from there down, draw again.
        write(`${drawn ? `\x1b[${drawn}F\x1b[J` : ''}${text}`);
        drawn = text.split('\n').length - 1;
        return;
      }
      for (const d of s.devices) {
        const row = progressRows([d])[0]!.filter((c) => c !== undefined).join(' ');
        if (last.get(d.deviceId) === row) continue;
        last.set(d.deviceId, row);
        write(`${row}\n`);
      }
    },
    finish() {
      drawn = 0;
    },
  };
}

export function summaryTable(s: CampaignSummary): string {
  const result = new Map<string, [string, Cell]>();
  for (const id of s.installed) {
    const d = s.devices.find((x) => x.deviceId === id);
    result.set(id, ['installed', d?.status?.version ?? d?.status?.running]);
  }
  for (const f of s.failed) result.set(f.deviceId, ['failed', [f.code, f.reason].filter(Boolean).join(' ')]);
  for (const id of s.timedOut) result.set(id, ['timed out', stateOf(s.devices.find((x) => x.deviceId === id) ?? { deviceId: id, current: false, done: false })]);
  for (const id of s.pending) result.set(id, ['pending', stateOf(s.devices.find((x) => x.deviceId === id) ?? { deviceId: id, current: false, done: false })]);
  const rows = [...result].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, [r, d]]) => [id, r, d]);
  const counts = [
    `${s.installed.length} installed`, `${s.failed.length} failed`, `${s.timedOut.length} timed out`,
    ...(s.pending.length ? [`${s.pending.length} pending`] : []), ...(s.missing ? [`${s.missing} never heard from`] : []),
    ...(s.malformed ? [`${s.malformed} malformed statuses ignored`] : []),
  ];
  return `${rows.length ? formatTable(['DEVICE', 'RESULT', 'DETAIL'], printableRows(rows)) : ''}${counts.join(', ')}\n`;
}

/** `moat fw status`: every retained status, sorted by device. */
export function statusTable(statuses: Array<[string, FirmwareStatus]>, currentRelease?: string): string {
  const rows = statuses.map(([id, s]) => [
    id, s.state, percent(s), s.version, s.running,
    s.release === undefined ? undefined : `${short(s.release)}${currentRelease !== undefined && s.release !== currentRelease ? ' (old)' : ''}`,
    s.code, s.at,
  ]);
  return formatTable(['DEVICE', 'STATE', 'PERCENT', 'VERSION', 'RUNNING', 'RELEASE', 'CODE', 'AT'], printableRows(rows));
}
