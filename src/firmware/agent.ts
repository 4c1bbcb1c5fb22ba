/**
 * The device agent: receives a signed release over MQTT, stages it chunk by chunk, verifies it and
 * hands it to an install hook (docs/firmware.md, "Device agent").
 *
 *   startAgent(options) → FirmwareAgent   (subscribes to fw/<product>/trust and /manifest; resumes staging)
 *   agent.running, agent.status, agent.on('status', fn), agent.close()
 *
 * API first (the pusher and the CLI code against it); the behaviour follows in this file and staging.ts.
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from '../client/index.js';
import { FwErr, fwError } from './errors.js';
import type { Manifest } from './manifest.js';
import type { FirmwareStatus } from './status.js';
import type { TrustList } from './trust.js';

/** A callback (library use) or a shell command run as `sh -c '<command> "$1"' sh <imagePath>`. */
export type InstallHook = ((imagePath: string, manifest: Manifest) => Promise<void>) | { command: string };

export interface AgentOptions {
  /** Connected by the caller; a persistent session (clean: false, sessionExpiry) is recommended. */
  client: MqttClient;
  product: string;
  deviceId: string;
  groups?: string[];
  /** state.json, staging/ and ready/ live here. */
  stateDir: string;
  /** The initial pin, used when stateDir holds no trust list yet. */
  trust: TrustList;
  /** The running version when stateDir holds none yet; default '0'. */
  runningVersion?: string;
  /** default 64 MiB */
  maxImageBytes?: number;
  install: InstallHook;
  /** ms since the epoch: manifest dates and status times; default Date.now */
  now?: () => number;
  log?: (line: string) => void;
}

export interface FirmwareAgent {
  /** The version the device runs (updated after a successful install). */
  readonly running: string;
  /** The last status published. */
  readonly status: FirmwareStatus;
  on(event: 'status', fn: (s: FirmwareStatus) => void): this;
  /** Stops handling messages, waits for the current step, saves the staging state. The client stays open. */
  close(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<FirmwareAgent> {
  void options;
  void EventEmitter;
  throw fwError(FwErr.staging, 'startAgent: not implemented yet');
}
