/**
 * watchCampaign against Moat's broker in-process: device statuses are published (retained, QoS 1) by a
 * plain client standing in for the agents; the watcher sums them up per release.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type MqttClient } from '../../src/client/index.js';
import { encodeStatus, statusTopic, watchCampaign, type CampaignSnapshot, type FirmwareStatus } from '../../src/firmware/index.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';

const RID = '0123456789abcdef0123456789abcdef';
const OLD = 'ffffffffffffffffffffffffffffffff';
let broker: TestBroker;
let devices: MqttClient;
let watcher: MqttClient;

before(async () => {
  broker = await startBroker();
  devices = await connect(broker.url, { reconnect: false });
  watcher = await connect(broker.url, { reconnect: false });
});
after(async () => {
  await devices.end();
  await watcher.end();
  await broker.close();
});

const at = new Date().toISOString();
function status(product: string, deviceId: string, s: Omit<FirmwareStatus, 'at'>): Promise<unknown> {
  return devices.publish(statusTopic(product, deviceId), encodeStatus({ ...s, at }), { qos: 1, retain: true });
}

test('a listed campaign ends once every listed device is installed or failed for this release', async () => {
  const product = 'prog-list';
  // Retained before the watch: one device already done, one on an old release (not done for this one).
  await status(product, 'd1', { state: 'installed', release: RID, version: '2.0', running: '2.0' });
  await status(product, 'd2', { state: 'failed', release: OLD, version: '1.9', code: 'MOAT_ERR_FW_CHUNK' });
  await status(product, 'other', { state: 'downloading', release: RID, version: '2.0', percent: 10 });
  await devices.publish(statusTopic(product, 'd3'), 'not json', { qos: 1, retain: true });
  const updates: CampaignSnapshot[] = [];
  const done = watchCampaign({
    client: watcher, product, releaseId: RID, version: '2.0', devices: ['d1', 'd2', 'd3'], timeoutMs: 10_000,
    onUpdate: (s) => {
      updates.push(s);
      // Once the retained ones are in (d3's is malformed), the devices go on.
      if (updates.length === 5) {
        void status(product, 'd2', { state: 'downloading', release: RID, version: '2.0', percent: 50 })
          .then(() => status(product, 'd2', { state: 'failed', release: RID, version: '2.0', code: 'MOAT_ERR_FW_IMAGE', reason: 'sha256' }))
          .then(() => status(product, 'd3', { state: 'installed', release: RID, version: '2.0', running: '2.0' }));
      }
    },
  });
  const summary = await done;
  assert.equal(summary.complete, true);
  assert.deepEqual(summary.installed, ['d1', 'd3']);
  assert.deepEqual(summary.failed, [{ deviceId: 'd2', code: 'MOAT_ERR_FW_IMAGE', reason: 'sha256' }]);
  assert.deepEqual([summary.timedOut, summary.pending, summary.missing, summary.malformed], [[], [], 0, 1]);
  assert.deepEqual(summary.devices.map((d) => [d.deviceId, d.status?.state, d.done]), [
    ['d1', 'installed', true], ['d2', 'failed', true], ['d3', 'installed', true], ['other', 'downloading', false],
  ]);
  const first = updates[0]!;
  assert.equal(first.remaining, 3, 'the first snapshot lists the targets before any status');
  assert.equal(updates.at(-1)!.remaining, 0);
  assert.equal(updates.find((u) => u.devices.find((d) => d.deviceId === 'd2')?.status?.percent === 50)?.remaining, 2);
});

test('at the timeout, listed devices not finished are timed out (the silent one too)', async () => {
  const product = 'prog-timeout';
  await status(product, 'slow', { state: 'downloading', release: RID, version: '2.0', percent: 40 });
  await status(product, 'ok', { state: 'installed', release: RID, version: '2.0' });
  await status(product, 'stale', { state: 'installed', release: OLD, version: '1.0' });
  const summary = await watchCampaign({ client: watcher, product, releaseId: RID, version: '2.0', devices: ['slow', 'ok', 'silent', 'stale'], timeoutMs: 300 });
  assert.equal(summary.complete, false);
  assert.deepEqual(summary.installed, ['ok']);
  assert.deepEqual(summary.timedOut, ['slow', 'silent', 'stale']);
  assert.deepEqual(summary.pending, []);
});

test('expect N: done once N devices finished this release; at the timeout the unseen ones are missing', async () => {
  const product = 'prog-expect';
  await status(product, 'a', { state: 'installed', release: RID, version: '3.1' });
  await status(product, 'b', { state: 'downloading', release: RID, version: '3.1', percent: 5 });
  await status(product, 'old', { state: 'installed', release: OLD, version: '3.0' });
  const short = await watchCampaign({ client: watcher, product, releaseId: RID, version: '3.1', expect: 3, timeoutMs: 300 });
  assert.deepEqual([short.installed, short.timedOut, short.missing, short.complete], [['a'], ['b'], 1, false]);

  const running = watchCampaign({ client: watcher, product, releaseId: RID, version: '3.1', expect: 2, timeoutMs: 10_000 });
  await status(product, 'c', { state: 'failed', release: RID, version: '3.1', code: 'MOAT_ERR_FW_ROLLBACK' });
  const summary = await running;
  assert.equal(summary.complete, true);
  assert.deepEqual(summary.installed, ['a']);
  assert.deepEqual(summary.failed, [{ deviceId: 'c', code: 'MOAT_ERR_FW_ROLLBACK' }]);
  assert.deepEqual(summary.pending, ['b'], 'still working, beyond the expected count');
});

test('a status without a release id counts by version; an abort leaves the unfinished targets pending', async () => {
  const product = 'prog-abort';
  await status(product, 'v', { state: 'installed', version: '4.0' });
  await status(product, 'w', { state: 'verified', release: RID, version: '4.0' });
  const stop = new AbortController();
  const summary = await watchCampaign({
    client: watcher, product, releaseId: RID, version: '4.0', devices: ['v', 'w'], timeoutMs: 10_000, signal: stop.signal,
    onUpdate: (s) => { if (s.devices.length === 2 && s.devices.every((d) => d.status)) stop.abort(); },
  });
  assert.deepEqual([summary.installed, summary.pending, summary.timedOut, summary.complete], [['v'], ['w'], [], false]);
});

test('a device outside the release\'s target (failed MOAT_ERR_FW_TARGET, from an older agent) is not counted', async () => {
  const product = 'prog-target';
  await status(product, 'in', { state: 'installed', release: RID, version: '4.0' });
  await status(product, 'out', { state: 'failed', release: RID, version: '4.0', code: 'MOAT_ERR_FW_TARGET' });
  const summary = await watchCampaign({ client: watcher, product, releaseId: RID, version: '4.0', timeoutMs: 300 });
  assert.deepEqual([summary.installed, summary.failed, summary.timedOut], [['in'], [], []]);
});
