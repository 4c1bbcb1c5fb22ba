/**
 * `moat lab`'s measuring side: starts the broker in a child process (or uses --url), then measures each
 * mode × server key row (src/lab/modes.ts) and returns a LabReport. Progress goes to `onProgress`; the
 * CLI decides how to show it.
 */
import type { LabKey, LabMode, LabReport } from './report.js';

export interface LabTlsOptions {
  /** CA bundle (PEM) that verifies a --url broker's certificate. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM) for mtls13 against a --url broker. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** PSK identity and key (hex) for the PSK modes against a --url broker. */
  pskIdentity?: string;
  pskHex?: string;
  /** Server name to verify (default: the URL's host). */
  servername?: string;
  /** Skip server certificate verification (like moat pub --insecure). */
  insecure?: boolean;
}

export interface LabOptions {
  modes?: LabMode[];
  keys?: LabKey[];
  /** Repetitions per measurement (default 5; quick 2). */
  repeat?: number;
  /** Fewer repetitions and connections: the whole default set in < 30 s. */
  quick?: boolean;
  /** Simulated round-trip times in ms (default 0, 50, 200). */
  rtts?: number[];
  /** Measure against this broker (mqtt:// or mqtts://) instead of a child broker. */
  url?: string;
  tls?: LabTlsOptions;
  onProgress?: (text: string) => void;
}

export async function runLab(options: LabOptions = {}): Promise<LabReport> {
  void options;
  throw new Error('runLab: not implemented yet');
}
