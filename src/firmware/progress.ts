/**
 * Following a campaign from the devices' retained statuses (fw/<product>/status/+).
 *
 *   watchCampaign({client, product, releaseId, version, devices?, expect?, timeoutMs, onUpdate?, signal?})
 *     → CampaignSummary {installed, failed: [{deviceId, code?, reason?}], timedOut, pending, missing, malformed, devices}
 *
 * A status counts for this campaign when it names this release (or, without a release id, this version).
 * An old retained status of another release (a device that has not seen the manifest yet) is shown but
 * never ends the campaign; nor does a failed MOAT_ERR_FW_TARGET (a device the release is not for). Who must finish:
 *   devices: [...]   exactly those devices; done when every one is installed or failed for this release;
 *   expect: N        done once N devices are installed or failed for this release;
 *   neither          every device seen working on this release; only the timeout (or the signal) ends it.
 * At the timeout the targets not finished are `timedOut` (with `expect`, the devices never seen count in
 * `missing`); when the signal aborts, they are `pending`. Malformed statuses are counted, never shown.
 */
import type { Message } from '../client/index.js';
import { FwErr } from './errors.js';
import type { FwClient } from './publisher.js';
import { isTerminal, parseStatus, type FirmwareStatus } from './status.js';
import { assertProduct, isValidDeviceId, statusFilter } from './topics.js';

export interface DeviceProgress {
  deviceId: string;
  /** Undefined for a listed device not heard from yet. */
  status?: FirmwareStatus;
  /** The status is about this release. */
  current: boolean;
  /** Installed or failed, for this release. */
  done: boolean;
}

export interface CampaignSnapshot {
  releaseId: string;
  version: string;
  /** Every device seen, and every listed one; sorted by id. */
  devices: DeviceProgress[];
  installed: number;
  failed: number;
  /** Targets that must still finish (with `expect`: how many more must). */
  remaining: number;
  malformed: number;
  elapsedMs: number;
}

export interface CampaignFailure {
  deviceId: string;
  code?: string;
  reason?: string;
}

export interface CampaignSummary {
  installed: string[];
  failed: CampaignFailure[];
  /** Targets not finished when the timeout came. */
  timedOut: string[];
  /** Targets not finished when the watch was stopped (signal), or devices beyond `expect` still working. */
  pending: string[];
  /** With `expect`: devices never heard from on this release at the timeout (expect − finished − timed out). */
  missing: number;
  malformed: number;
  devices: DeviceProgress[];
  /** The campaign ended by itself (every target finished), not by the timeout or the signal. */
  complete: boolean;
}

export interface WatchCampaignOptions {
  client: FwClient;
  product: string;
  releaseId: string;
  version: string;
  devices?: string[];
  expect?: number;
  timeoutMs: number;
  onUpdate?: (snapshot: CampaignSnapshot) => void;
  /** Stops watching: the summary lists the unfinished targets as `pending`. */
  signal?: AbortSignal;
  /** Injected time for elapsedMs (default Date.now). */
  now?: () => number;
}

export async function watchCampaign(o: WatchCampaignOptions): Promise<CampaignSummary> {
  const product = assertProduct(o.product);
  if (o.devices && o.expect !== undefined) throw new TypeError('watchCampaign: devices and expect are exclusive');
  const listed = o.devices ? [...new Set(o.devices)] : undefined;
  const now = o.now ?? Date.now;
  const started = now();
  const prefix = `fw/${product}/status/`;
  const statuses = new Map<string, FirmwareStatus>();
  let malformed = 0;

  // A device outside the release's target is not part of the campaign: today's agent ignores such a
  // manifest; an older one reported failed MOAT_ERR_FW_TARGET, which must not count as a failure either.
  const isCurrent = (s: FirmwareStatus): boolean =>
    s.code !== FwErr.target && (s.release !== undefined ? s.release === o.releaseId : s.version === o.version);
  const isDone = (s: FirmwareStatus | undefined): boolean => s !== undefined && isCurrent(s) && isTerminal(s);
  const progress = (deviceId: string): DeviceProgress => {
    const status = statuses.get(deviceId);
    return { deviceId, ...(status && { status }), current: status !== undefined && isCurrent(status), done: isDone(status) };
  };
  const all = (): DeviceProgress[] => {
    const ids = new Set([...(listed ?? []), ...statuses.keys()]);
    return [...ids].sort().map(progress);
  };
  /** The devices that must finish: listed ones, else every device on this release. */
  const targets = (): DeviceProgress[] => (listed ? listed.map(progress) : all().filter((d) => d.current));
  const finished = (): DeviceProgress[] => targets().filter((d) => d.done);
  const complete = (): boolean => {
    if (listed) return listed.every((id) => isDone(statuses.get(id)));
    if (o.expect !== undefined) return finished().length >= o.expect;
    return false;
  };
  const snapshot = (): CampaignSnapshot => {
    const t = targets();
    const done = t.filter((d) => d.done);
    const installed = done.filter((d) => d.status?.state === 'installed').length;
    const remaining = o.expect !== undefined ? Math.max(0, o.expect - done.length) : t.length - done.length;
    return {
      releaseId: o.releaseId, version: o.version, devices: all(), installed, failed: done.length - installed,
      remaining, malformed, elapsedMs: now() - started,
    };
  };

  const sub = await o.client.subscribe(statusFilter(product), { qos: 1, bufferSize: 100_000 });
  type EndReason = 'complete' | 'timeout' | 'abort';
  // Set from callbacks (timer, signal): typed wide so that the checks below are not narrowed away.
  let reason = 'timeout' as EndReason;
  const stop = (why: EndReason): void => {
    reason = why;
    sub.close();
  };
  const timer = setTimeout(() => stop('timeout'), o.timeoutMs);
  const onAbort = (): void => stop('abort');
  if (o.signal?.aborted) stop('abort');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const handle = (m: Message): boolean => {
    if (!m.topic.startsWith(prefix)) return false;
    const deviceId = m.topic.slice(prefix.length);
    if (!isValidDeviceId(deviceId)) return false;
    if (m.payload.length === 0) return statuses.delete(deviceId); // a retained status removed
    try {
      statuses.set(deviceId, parseStatus(m.payload));
    } catch {
      malformed++;
    }
    return true;
  };
  try {
    if (listed && listed.length === 0) stop('complete');
    else o.onUpdate?.(snapshot());
    for await (const m of sub) {
      if (!handle(m)) continue;
      o.onUpdate?.(snapshot());
      if (complete()) {
        stop('complete');
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    await o.client.unsubscribe(statusFilter(product)).catch(() => []);
  }

  const devices = all();
  const t = targets();
  const done = t.filter((d) => d.done);
  const open = t.filter((d) => !d.done).map((d) => d.deviceId);
  const summary: CampaignSummary = {
    installed: done.filter((d) => d.status?.state === 'installed').map((d) => d.deviceId),
    failed: done.filter((d) => d.status?.state === 'failed').map((d) => ({
      deviceId: d.deviceId, ...(d.status?.code !== undefined && { code: d.status.code }), ...(d.status?.reason !== undefined && { reason: d.status.reason }),
    })),
    timedOut: reason === 'timeout' ? open : [],
    pending: reason === 'timeout' ? [] : open,
    missing: reason === 'timeout' && o.expect !== undefined ? Math.max(0, o.expect - done.length - open.length) : 0,
    malformed, devices, complete: reason === 'complete',
  };
  return summary;
}
