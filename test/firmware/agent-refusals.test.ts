/**
 * Everything the device agent must refuse (issue 7), each against Moat's broker in-process: the refusal
 * leaves staging empty, nothing in ready/, the running version unchanged (in memory and in state.json),
 * the hook not called, and a retained status `failed` with the code. Chunks that do not match the signed
 * manifest are noise, not a refusal: dropped, the genuine chunk still taken (docs/firmware.md).
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from '../../src/client/index.js';
import {
  FwErr, createTrustList, encodeChunk, encodeEnvelope, generateSigner, parseStatus, signTrustList, startAgent, statusTopic,
  trustTopic, type AgentOptions, type FirmwareAgent, type FirmwareStatus, type SignerKey,
} from '../../src/firmware/index.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import { NOW, listDir, makeRelease, publishChunks, publishManifest, publishRelease, terminal, waitStatus, type Release } from './support.js';

let b: TestBroker;
let pusher: MqttClient;
let signer: SignerKey;
let other: SignerKey;

before(async () => {
  b = await startBroker();
  pusher = await connect(b.url, { reconnect: false, clientId: 'fw-refusal-pusher' });
  signer = generateSigner();
  other = generateSigner('ecdsa-p256-sha256');
});

after(async () => {
  await pusher.end();
  await b.close();
});

interface Device { agent: FirmwareAgent; client: MqttClient; dir: string; installs: string[]; statuses: FirmwareStatus[]; logs: string[] }

async function device(t: TestContext, product: string, over: Partial<AgentOptions> & { dir?: string } = {}): Promise<Device> {
  const dir = over.dir ?? await mkdtemp(join(tmpdir(), 'fwagent-refuse-'));
  const client = await connect(b.url, { reconnect: false });
  const installs: string[] = [];
  const logs: string[] = [];
  const agent = await startAgent({
    client, product, deviceId: 'dev-1', groups: ['eu'], stateDir: dir, trust: createTrustList([signer]), runningVersion: '1.0.0',
    now: () => NOW, install: async (path) => { installs.push(path); }, log: (l) => logs.push(l), ...over,
  });
  const statuses: FirmwareStatus[] = [agent.status];
  agent.on('status', (s) => statuses.push(s));
  t.after(async () => {
    await agent.close();
    await client.end();
  });
  return { agent, client, dir, installs, statuses, logs };
}

/** The refusal's common shape; `release` is checked when the release id is known. */
async function assertRefused(t: TestContext, d: Device, product: string, code: string, release?: string, remember = true): Promise<FirmwareStatus> {
  const s = await waitStatus(d.agent, terminal);
  assert.equal(s.state, 'failed', JSON.stringify(s));
  assert.equal(s.code, code, s.reason);
  if (release) assert.equal(s.release, release);
  assert.equal(s.running, '1.0.0');
  assert.equal(d.agent.running, '1.0.0');
  assert.deepEqual(d.installs, []);
  assert.deepEqual(await listDir(join(d.dir, 'staging')), []);
  assert.deepEqual(await listDir(join(d.dir, 'ready')), []);
  const state = JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8'));
  assert.equal(state.running, '1.0.0');
  // Remembered (not retried) only when its signature verified: a forged copy must not block the genuine one.
  if (remember) assert.deepEqual({ state: state.lastRelease.state, code: state.lastRelease.code }, { state: 'failed', code });
  else assert.equal(state.lastRelease, undefined);
  // What the pusher and `moat fw status` see: the retained status.
  const observer = await connect(b.url, { reconnect: false });
  t.after(() => observer.end());
  const sub = await observer.subscribe(statusTopic(product, 'dev-1'), { qos: 1 });
  for await (const m of sub) {
    assert.deepEqual({ state: parseStatus(m.payload).state, code: parseStatus(m.payload).code }, { state: 'failed', code });
    break;
  }
  return s;
}
/** Starts a device, lets `publish` publish (it returns the release id to expect), asserts the refusal. */
async function refused(
  t: TestContext, product: string, publish: (d: Device) => Promise<string | undefined>, code: string, over: Partial<AgentOptions> = {},
  remember = true,
): Promise<Device> {
  const d = await device(t, product, over);
  const release = await publish(d);
  await assertRefused(t, d, product, code, release, remember);
  return d;
}

const flip = (buf: Buffer, at: number): Buffer => {
  const copy = Buffer.from(buf);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
};

/** Until `pred` holds (polled: counters have no event). */
async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !pred(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error('condition not met in time');
  }
}

/**
 * A chunk that does not match the signed manifest is noise (anyone who may publish on the topic can send
 * it): dropped and counted, the release not failed, nothing bad written; once the genuine chunk is
 * published the release completes with the genuine image.
 */
async function noiseThenGenuine(t: TestContext, product: string, bad: number, payload: (rel: Release) => Buffer): Promise<Device> {
  const rel = makeRelease(signer, { product, version: '1.1.0' });
  const images: Buffer[] = [];
  const d = await device(t, product, { install: async (path) => { images.push(await readFile(path)); } });
  await publishChunks(pusher, rel, undefined, (i, data) => (i === bad ? payload(rel) : encodeChunk(i, data)));
  await publishManifest(pusher, product, rel.envelope);
  await until(() => d.agent.counters.badChunks >= 1);
  await waitStatus(d.agent, (s) => s.state === 'downloading' && s.percent! >= 90);
  assert.equal(d.agent.status.state, 'downloading');
  assert.ok(!d.statuses.some((s) => s.state === 'failed'), JSON.stringify(d.statuses));
  await publishChunks(pusher, rel, [bad]); // the genuine chunk: still subscribed, so it arrives
  const s = await waitStatus(d.agent, terminal);
  assert.deepEqual({ state: s.state, version: s.version }, { state: 'installed', version: '1.1.0' });
  assert.equal(images.length, 1);
  assert.ok(images[0]!.equals(rel.image), 'the installed image is the genuine one');
  return d;
}

test('a tampered chunk in the retained store: dropped (not a failure); the genuine chunk published later is installed', async (t) => {
  await noiseThenGenuine(t, 'tamper', 3, (rel) => encodeChunk(3, flip(rel.chunks[3]!, 100)));
});

/** A manifest whose chunks can never match: the release stays downloading (nothing bad written), never fails. */
async function neverComplete(t: TestContext, product: string, rel: Release): Promise<void> {
  const d = await device(t, product);
  await publishRelease(pusher, rel);
  await until(() => d.agent.counters.badChunks >= 1);
  await waitStatus(d.agent, (s) => s.state === 'downloading' && s.percent! >= 90);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(d.agent.status.state, 'downloading');
  assert.ok(d.agent.status.percent! < 100);
  assert.ok(!d.statuses.some((s) => s.state === 'failed'), JSON.stringify(d.statuses));
  assert.deepEqual(d.installs, []);
  assert.deepEqual(await listDir(join(d.dir, 'ready')), []);
  assert.equal(JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8')).lastRelease, undefined);
}

test('a truncated image (manifest size beyond the chunks published): the short chunk is dropped, the release stays downloading', async (t) => {
  // 20 KiB + 7 in chunks of 1 KiB: the last chunk holds 7 bytes; the manifest says 107 (same chunk count).
  const honest = makeRelease(signer, { product: 'truncated', version: '1.1.0' });
  await neverComplete(t, 'truncated', makeRelease(signer, { product: 'truncated', version: '1.1.0', image: honest.image, changes: { size: honest.image.length + 100 } }));
});

test('a chunk longer than its place (image larger than the manifest): dropped, the release stays downloading', async (t) => {
  const honest = makeRelease(signer, { product: 'longer', version: '1.1.0' });
  await neverComplete(t, 'longer', makeRelease(signer, { product: 'longer', version: '1.1.0', image: honest.image, changes: { size: honest.image.length - 3 } }));
});

test('an image over the configured maximum: MOAT_ERR_FW_TOO_LARGE before any chunk is subscribed', async (t) => {
  const rel = makeRelease(signer, { product: 'maxsize', version: '1.1.0' });
  await refused(t, 'maxsize', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.tooLarge, { maxImageBytes: 16 * 1024 });
});

test('a chunk of another release published on this release\'s topic: dropped; the genuine one is installed', async (t) => {
  const stranger = makeRelease(signer, { product: 'foreign', version: '9.0.0' });
  await noiseThenGenuine(t, 'foreign', 5, () => encodeChunk(5, stranger.chunks[5]!));
});

test('a chunk whose header index is not its topic\'s (chunk 4 replayed as chunk 5): dropped; the genuine one is installed', async (t) => {
  await noiseThenGenuine(t, 'shifted', 5, (rel) => encodeChunk(4, rel.chunks[4]!));
});

test('chunks that all match but a whole-image SHA-256 that does not: MOAT_ERR_FW_IMAGE', async (t) => {
  const rel = makeRelease(signer, { product: 'wholeimage', version: '1.1.0', changes: { sha256: 'ab'.repeat(32) } });
  await refused(t, 'wholeimage', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.image);
});

test('rollback (older) and replay (equal) versions: MOAT_ERR_FW_ROLLBACK', async (t) => {
  for (const version of ['0.9.0', '1.0']) {
    const product = `rollback-${version.replace('.', '-')}`;
    const rel = makeRelease(signer, { product, version });
    await refused(t, product, async () => {
      await publishRelease(pusher, rel);
      return rel.releaseId;
    }, FwErr.rollback);
  }
});

test('a minVersion above the running one: MOAT_ERR_FW_MIN_VERSION', async (t) => {
  const rel = makeRelease(signer, { product: 'minver', version: '2.0.0', changes: { minVersion: '1.5.0' } });
  await refused(t, 'minver', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.minVersion);
});

test('a manifest signed by a key the device does not trust: MOAT_ERR_FW_UNKNOWN_SIGNER', async (t) => {
  const rel = makeRelease(other, { product: 'unknown', version: '1.1.0' });
  await refused(t, 'unknown', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.unknownSigner, {}, false);
});

test('a tampered manifest (payload changed, signature kept): MOAT_ERR_FW_SIGNATURE', async (t) => {
  const rel = makeRelease(signer, { product: 'forged', version: '1.1.0' });
  const env = JSON.parse(rel.envelope.toString());
  const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString());
  env.payload = Buffer.from(JSON.stringify({ ...payload, version: '1.1.1' })).toString('base64');
  await refused(t, 'forged', async () => {
    await publishChunks(pusher, rel);
    await publishManifest(pusher, 'forged', Buffer.from(JSON.stringify(env)));
    return undefined;
  }, FwErr.signature, {}, false);
});

test('a signed trust update on the trust topic revokes the signer: its manifest is refused with MOAT_ERR_FW_REVOKED_SIGNER', async (t) => {
  // Signed by the pinned key, sequence 2: trusts `other`, revokes the pinned key itself.
  const update = encodeEnvelope(signTrustList(createTrustList([signer, other], { sequence: 2, revoked: [signer.keyId] }), signer));
  await pusher.publish(trustTopic('revoked'), update, { qos: 1, retain: true });
  const rel = makeRelease(signer, { product: 'revoked', version: '1.1.0' });
  const d = await refused(t, 'revoked', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.revokedSigner, {}, false);
  assert.equal(JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8')).trust.sequence, 2);
  // Restarted: the retained list (same sequence) is ignored without a word; `other` now signs releases.
  await d.agent.close();
  const again = await device(t, 'revoked', { dir: d.dir });
  const next = makeRelease(other, { product: 'revoked', version: '1.2.0' });
  await publishRelease(pusher, next);
  assert.equal((await waitStatus(again.agent, (x) => terminal(x) && x.version === '1.2.0')).state, 'installed');
  assert.deepEqual(again.logs.filter((l) => l.includes('trust')), []);
});

test('a trust update revoking the signer of the release being downloaded stops it: MOAT_ERR_FW_REVOKED_SIGNER', async (t) => {
  const rel = makeRelease(signer, { product: 'revokemid', version: '1.1.0' });
  const d = await refused(t, 'revokemid', async (dev) => {
    await publishChunks(pusher, rel, [0, 1, 2]);
    await publishManifest(pusher, 'revokemid', rel.envelope);
    await waitStatus(dev.agent, (s) => s.state === 'downloading');
    const update = encodeEnvelope(signTrustList(createTrustList([signer, other], { sequence: 2, revoked: [signer.keyId] }), signer));
    await pusher.publish(trustTopic('revokemid'), update, { qos: 1, retain: true });
    return rel.releaseId;
  }, FwErr.revokedSigner);
  assert.ok(d.statuses.some((s) => s.state === 'downloading'));
});

test('a manifest refused for an unknown signer is tried again once a trust update trusts the key', async (t) => {
  const d = await device(t, 'retrust');
  const rel = makeRelease(other, { product: 'retrust', version: '1.1.0' });
  await publishRelease(pusher, rel);
  assert.equal((await waitStatus(d.agent, terminal)).code, FwErr.unknownSigner);
  const update = encodeEnvelope(signTrustList(createTrustList([signer, other], { sequence: 2 }), signer));
  await pusher.publish(trustTopic('retrust'), update, { qos: 1, retain: true });
  const s = await waitStatus(d.agent, (x) => x.state === 'installed');
  assert.equal(s.release, rel.releaseId);
});

test('an expired manifest: MOAT_ERR_FW_EXPIRED', async (t) => {
  const rel = makeRelease(signer, { product: 'expired', version: '1.1.0' });
  await refused(t, 'expired', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.expired, { now: () => NOW + 2 * 24 * 3600_000 });
});

test('a manifest for another product on this product\'s topic: MOAT_ERR_FW_PRODUCT', async (t) => {
  const rel = makeRelease(signer, { product: 'toaster', version: '1.1.0' });
  await refused(t, 'thermo-p', async () => {
    await publishManifest(pusher, 'thermo-p', rel.envelope);
    return rel.releaseId;
  }, FwErr.product);
});

test('a manifest targeting other devices and groups: ignored (no failed status, nothing staged, nothing remembered)', async (t) => {
  const rel = makeRelease(signer, { product: 'target', version: '1.1.0', changes: { target: { devices: ['dev-2'], groups: ['us'] } } });
  const d = await device(t, 'target');
  await publishRelease(pusher, rel);
  await until(() => d.agent.counters.refusedManifests >= 1);
  assert.deepEqual(d.statuses.map((s) => s.state), ['idle']);
  assert.deepEqual(await listDir(join(d.dir, 'staging')), []);
  assert.equal(JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8')).lastRelease, undefined);
  assert.ok(d.logs.some((l) => l.includes(FwErr.target)));
});

test('an install command that exits 1: MOAT_ERR_FW_INSTALL, the image removed from ready/', async (t) => {
  const rel = makeRelease(signer, { product: 'hookfail', version: '1.1.0' });
  const d = await refused(t, 'hookfail', async () => {
    await publishRelease(pusher, rel);
    return rel.releaseId;
  }, FwErr.install, { install: { command: 'echo "flash: no space" >&2; exit 1 ||' } });
  assert.ok(d.statuses.some((s) => s.state === 'verified'));
  assert.match(d.agent.status.reason!, /exited with 1: flash: no space/);
});

test('an install command gets the image path as $1 and MOAT_FW_IMAGE, MOAT_FW_VERSION, MOAT_FW_PRODUCT', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fwagent-hook-'));
  const out = join(dir, 'hook.out');
  const rel = makeRelease(signer, { product: 'hookok', version: '1.1.0' });
  const d = await device(t, 'hookok', {
    install: { command: `f() { echo "$1|$MOAT_FW_IMAGE|$MOAT_FW_VERSION|$MOAT_FW_PRODUCT" > '${out}'; cmp -s "$1" "$MOAT_FW_IMAGE"; }; f` },
  });
  await publishRelease(pusher, rel);
  assert.equal((await waitStatus(d.agent, terminal)).state, 'installed');
  const path = join(d.dir, 'ready', 'hookok-1.1.0.bin');
  assert.equal((await readFile(out, 'utf8')).trim(), `${path}|${path}|1.1.0|hookok`);
});

test('chunk topics the broker refuses to subscribe (all of them, or one): failed with MOAT_ERR_SUBSCRIBE_REFUSED', async (t) => {
  const acl = await startBroker({}, { hooks: { authorizeSubscribe: [(_c, { topicFilter }) =>
    (/^fw\/acl-all\/chunk\//.test(topicFilter) || /^fw\/acl-one\/chunk\/[0-9a-f]+\/5$/.test(topicFilter) ? false : undefined)] } });
  const aclPusher = await connect(acl.url, { reconnect: false });
  t.after(async () => {
    await aclPusher.end();
    await acl.close();
  });
  for (const product of ['acl-all', 'acl-one']) {
    const rel = makeRelease(signer, { product, version: '1.1.0' });
    await publishRelease(aclPusher, rel);
    const dir = await mkdtemp(join(tmpdir(), 'fwagent-acl-'));
    const client = await connect(acl.url, { reconnect: false });
    const agent = await startAgent({
      client, product, deviceId: 'dev-1', stateDir: dir, trust: createTrustList([signer]), runningVersion: '1.0.0', now: () => NOW,
      install: async () => { throw new Error('must not install'); },
    });
    t.after(async () => {
      await agent.close();
      await client.end();
    });
    const s = await waitStatus(agent, terminal);
    assert.deepEqual({ state: s.state, code: s.code, release: s.release }, { state: 'failed', code: 'MOAT_ERR_SUBSCRIBE_REFUSED', release: rel.releaseId });
    assert.deepEqual(await listDir(join(dir, 'staging')), []);
    assert.deepEqual(await listDir(join(dir, 'ready')), []);
  }
});
