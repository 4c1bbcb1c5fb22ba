/**
 * runLab against a given broker URL (--url): no child broker of its own, so no server CPU or memory;
 * modes the URL cannot do are skipped with the reason. The broker here is the lab's child broker,
 * started by the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeMaterial, startChildBroker, type ChildBroker, type LabMaterial } from '../../src/lab/lab-broker.js';
import { runLab } from '../../src/lab/runner.js';

let material: LabMaterial;
let child: ChildBroker;

before(async () => {
  material = await makeMaterial(['ecdsa-p256']);
  child = await startChildBroker(material);
});

after(async () => {
  await child?.close();
  await material?.remove();
});

test('mqtt:// URL: plain is measured (client side only), the TLS modes are skipped with the reason', async () => {
  // No RTT 0 asked: the row's first setups run at 20 ms, and each RTT is measured once.
  const r = await runLab({ url: `mqtt://127.0.0.1:${child.ports.plain}`, modes: ['plain', 'tls13-full'], quick: true, rtts: [20, 40] });
  assert.equal(r.target, `mqtt://127.0.0.1:${child.ports.plain}`);
  const [plain, tls] = r.results;
  assert.equal(plain?.mode, 'plain');
  assert.equal(plain.skipped, undefined);
  assert.ok(plain.cpu.clientUs.median > 0);
  assert.equal(plain.cpu.serverUs, undefined);
  assert.equal(plain.memoryPerConnection, undefined);
  assert.deepEqual(plain.setup.map((x) => x.rttMs), [20, 40]);
  assert.equal(tls?.mode, 'tls13-full');
  assert.match(tls.skipped ?? '', /mqtts:\/\//);
});

test('mqtts:// URL with the CA: TLS 1.3 full and resumed are measured; PSK and mTLS are skipped without credentials', async () => {
  const url = `mqtts://127.0.0.1:${child.ports.tls['ecdsa-p256']!}`;
  const r = await runLab({ url, tls: { ca: material.ca }, modes: ['tls13-full', 'tls13-resumed', 'tls13-psk', 'mtls13'], quick: true, rtts: [0] });
  const by = new Map(r.results.map((x) => [x.mode, x]));
  assert.equal(by.get('tls13-full')?.protocol, 'TLSv1.3');
  assert.equal(by.get('tls13-full')?.key, undefined, 'the server key type is the server\'s, not chosen by the lab');
  assert.equal(by.get('tls13-resumed')?.resumed, true);
  assert.match(by.get('tls13-psk')?.skipped ?? '', /PSK/);
  assert.match(by.get('mtls13')?.skipped ?? '', /client certificate/);
});
