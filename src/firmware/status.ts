/**
 * A device's firmware status, published retained on `fw/<product>/status/<deviceId>` (topics.ts) so that
 * the pusher's progress view, `moat fw status` and the broker's operators see a campaign as it goes.
 *
 *   encodeStatus(s) → Buffer (JSON)        parseStatus(bytes) → FirmwareStatus (MOAT_ERR_FW_FORMAT)
 *   isTerminal(s): installed or failed
 *
 * The agent writes it, everything else only reads it: parseStatus refuses anything malformed rather than
 * showing a half-understood state.
 */
import { FwErr, fwError } from './errors.js';
import { jsonObject } from './json-object.js';

export const STATUS_STATES = ['idle', 'downloading', 'verified', 'installed', 'failed'] as const;
export type StatusState = (typeof STATUS_STATES)[number];

export interface FirmwareStatus {
  state: StatusState;
  /** The release being handled (manifest release id); absent when idle with nothing to do. */
  release?: string;
  /** The release's version (downloading, verified, installed, failed). */
  version?: string;
  /** The version the device runs now. */
  running?: string;
  /** Downloading: 0–100. */
  percent?: number;
  /** Failed: the firmware error code of the refusal (FwErr). */
  code?: string;
  /** Failed: a human-readable reason (never a secret). */
  reason?: string;
  /** ISO time of this status. */
  at: string;
}

export const isTerminal = (s: FirmwareStatus): boolean => s.state === 'installed' || s.state === 'failed';

export function encodeStatus(s: FirmwareStatus): Buffer {
  return Buffer.from(JSON.stringify(s));
}

const OPTIONAL_STRINGS = ['release', 'version', 'running', 'code', 'reason'] as const;

export function parseStatus(bytes: Buffer | string): FirmwareStatus {
  const o = jsonObject(bytes, 'firmware status');
  if (!STATUS_STATES.includes(o.state as StatusState) || typeof o.at !== 'string') {
    throw fwError(FwErr.format, 'firmware status needs a known "state" and an "at" time');
  }
  const out: FirmwareStatus = { state: o.state as StatusState, at: o.at };
  for (const k of OPTIONAL_STRINGS) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'string') throw fwError(FwErr.format, `firmware status "${k}" must be a string`);
    out[k] = o[k];
  }
  if (o.percent !== undefined) {
    if (typeof o.percent !== 'number' || !(o.percent >= 0 && o.percent <= 100)) throw fwError(FwErr.format, 'firmware status "percent" must be 0–100');
    out.percent = o.percent;
  }
  return out;
}
