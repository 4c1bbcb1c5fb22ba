/**
 * The browser bundle in a real browser: scripts/build-browser.mjs builds dist-like moat-client.min.js,
 * headless Chromium (the system's, driven by playwright-core) loads it from a page on 127.0.0.1 and
 * talks wss: to Moat's broker, whose certificate comes from a test CA the browser does not know. The
 * browser is told to accept exactly that server key (--ignore-certificate-errors-spki-list), so a
 * wrong pin must fail: the browser verifies. Chromium missing is a failure, not a skip (.ci/run installs it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Broker } from '../../src/broker/broker.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';
import { connect, type Message } from '../../src/client/index.js';
import { issue, makeCa } from '../support/test-pki.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Built { outfile: string; raw: number; min: number; gzip: number; inputs: string[] }

const work = mkdtempSync(join(tmpdir(), 'moat-browser-'));
let built: Built;
let broker: Broker;
let listener: RunningListener;
let http: Server;
let pageUrl: string;
let caPem: string;
let spki: string;

before(async () => {
  // The test runs from the repository root (compiled tests live elsewhere); the script is plain ESM.
  const script = pathToFileURL(join(process.cwd(), 'scripts', 'build-browser.mjs')).href;
  const { buildBrowser } = await import(script) as { buildBrowser(outfile: string): Promise<Built> };
  built = await buildBrowser(join(work, 'moat-client.min.js'));

  const ca = await makeCa('Moat browser test CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  caPem = ca.pem;
  const der = new X509Certificate(server.pem).publicKey.export({ type: 'spki', format: 'der' });
  spki = createHash('sha256').update(der).digest('base64');
  broker = new Broker({ sysInterval: 0 });
  listener = await startListener(broker, { url: 'wss://127.0.0.1:0/mqtt', tls: { cert: server.pem, key: server.keyPem } });

  const bundle = readFileSync(built.outfile);
  const html = '<!doctype html><meta charset="utf-8"><script type="module">import * as moat from "/moat-client.min.js"; window.moat = moat;</script>';
  http = createServer((req, res) => {
    if (req.url === '/moat-client.min.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  pageUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}/`;
});

after(async () => {
  http?.close();
  broker?.shutdown();
  await listener?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A fresh Chromium with its own profile, trusting the server key `pin`, on the test page with the bundle loaded. */
async function openPage(pin: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install chromium (.ci/run does)`);
  const profile = mkdtempSync(join(work, 'profile-'));
  // The SPKI list is honoured only with a user data dir of one's own: hence a persistent context.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...ARGS, `--ignore-certificate-errors-spki-list=${pin}`],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pageUrl);
  await page.waitForFunction(() => 'moat' in globalThis, undefined, { timeout: 10_000 });
  return { context, page, errors };
}

test('browser bundle: ESM, minified, without node:net, node:tls or ws, and smaller than MQTT.js', () => {
  const src = readFileSync(built.outfile, 'utf8');
  assert.ok(built.min < built.raw && built.gzip < built.min, 'minified and gzip are smaller');
  assert.ok(built.inputs.some((f) => f.endsWith('src/client/browser-link.ts')));
  const leaked = built.inputs.filter((f) => /(^|\/)(transport|ws-transport)\.ts$|node_modules\/ws\//.test(f));
  assert.deepEqual(leaked, []);
  assert.doesNotMatch(src, /from\s*"node:|require\(/, 'no import left for the browser to resolve');
  assert.match(src, /export\s*\{/);
  // MQTT.js is the size to beat (docs/client.md#browser): its own minified ESM browser build, same gzip.
  const mqttJs = gzipSync(readFileSync(join(process.cwd(), 'node_modules', 'mqtt', 'dist', 'mqtt.esm.js')), { level: 9 }).length;
  assert.ok(built.gzip < mqttJs, `${built.gzip} B min+gzip, MQTT.js ${mqttJs} B`);
});

test('browser over wss: publishes and receives at QoS 0, 1 and 2, both ways with a Node client', { timeout: 60_000 }, async () => {
  const url = `wss://127.0.0.1:${listener.address.port}/mqtt`;
  const node = await connect(`wss://localhost:${listener.address.port}/mqtt`, { ca: caPem, reconnect: false, clientId: 'node-peer' });
  const fromBrowser: Message[] = [];
  node.on('message', (m) => fromBrowser.push(m));
  await node.subscribe('from-browser/#', { qos: 2 });

  const { context, page, errors } = await openPage(spki);
  try {
    const refused = await page.evaluate(async (wss) => {
      const { connect } = (globalThis as unknown as { moat: typeof import('../../src/client/browser.js') }).moat;
      const codes: string[] = [];
      for (const [u, o] of [['mqtt://127.0.0.1:1883', {}], ['mqtts://127.0.0.1:8883', {}], [wss, { ca: 'x' }],
        [wss, { rejectUnauthorized: false }], [wss, { psk: 'abcd', pskIdentity: 'x' }]] as const) {
        await connect(u, { ...o, reconnect: false }).then(() => codes.push('connected'), (e: { code: string }) => codes.push(e.code));
      }
      return codes;
    }, url);
    assert.deepEqual(refused, Array(5).fill('MOAT_ERR_CONFIG'), 'mqtt:, mqtts: and TLS options are refused in the browser');

    await page.evaluate(async (wss) => {
      const w = globalThis as unknown as { moat: typeof import('../../src/client/browser.js'); got: string[]; client: unknown };
      w.got = [];
      const c = await w.moat.connect(wss, { clientId: 'browser-1', reconnect: false });
      c.on('message', (m) => w.got.push(`${m.topic} q${m.qos} ${m.payload.toString('hex')}`));
      await c.subscribe(['to-browser/#', 'from-browser/#'], { qos: 2 });
      w.client = c;
    }, url);

    const results = await page.evaluate(async () => {
      const c = (globalThis as unknown as { client: import('../../src/client/browser.js').MqttClient }).client;
      const out: number[] = [];
      for (const qos of [0, 1, 2] as const) out.push((await c.publish(`from-browser/${qos}`, `hello ${qos}`, { qos })).reasonCode);
      return out;
    });
    assert.deepEqual(results, [0, 0, 0]);

    for (const qos of [0, 1, 2] as const) await node.publish(`to-browser/${qos}`, Buffer.from([0x00, 0xff, qos]), { qos });
    await page.waitForFunction(() => (globalThis as unknown as { got: string[] }).got.length >= 6, undefined, { timeout: 10_000 });
    const got = (await page.evaluate(() => (globalThis as unknown as { got: string[] }).got)).sort();
    assert.deepEqual(got, [
      'from-browser/0 q0 68656c6c6f2030', 'from-browser/1 q1 68656c6c6f2031', 'from-browser/2 q2 68656c6c6f2032',
      'to-browser/0 q0 00ff00', 'to-browser/1 q1 00ff01', 'to-browser/2 q2 00ff02',
    ]);

    const deadline = Date.now() + 5000;
    while (fromBrowser.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(fromBrowser.map((m) => `${m.topic} q${m.qos} ${m.payload.toString()}`).sort(),
      ['from-browser/0 q0 hello 0', 'from-browser/1 q1 hello 1', 'from-browser/2 q2 hello 2']);

    await page.evaluate(() => (globalThis as unknown as { client: import('../../src/client/browser.js').MqttClient }).client.end());
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await node.end();
  }
});

test('browser over wss: publishes wait while bufferedAmount is at the high-water mark, and all arrive', { timeout: 60_000 }, async () => {
  const node = await connect(`wss://localhost:${listener.address.port}/mqtt`, { ca: caPem, reconnect: false });
  let arrived = 0;
  node.on('message', () => { arrived++; });
  await node.subscribe('bulk/#', { qos: 0 });
  const { context, page, errors } = await openPage(spki);
  try {
    const mark = 8 * 1024;
    const seen = await page.evaluate(async ({ wss, mark }) => {
      const { connect } = (globalThis as unknown as { moat: typeof import('../../src/client/browser.js') }).moat;
      const c = await connect(wss, { reconnect: false, highWaterMark: mark });
      const payload = new Uint8Array(16 * 1024);
      let most = 0;
      // All at once: without back-pressure the 4 MiB would sit in the browser's send buffer.
      await Promise.all(Array.from({ length: 256 }, (_, i) => c.publish(`bulk/${i}`, payload).then(() => {
        most = Math.max(most, c.bufferedAmount);
      })));
      await c.end();
      return most;
    }, { wss: `wss://127.0.0.1:${listener.address.port}/mqtt`, mark });
    // Under the mark before each write, so at most the mark plus one packet (and the odd ack).
    assert.ok(seen < mark + 17 * 1024, `bufferedAmount reached ${seen}`);
    const deadline = Date.now() + 10_000;
    while (arrived < 256 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(arrived, 256);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await node.end();
  }
});

test('browser over wss: a wrong certificate pin fails the connection (the browser verifies)', { timeout: 60_000 }, async () => {
  const wrong = createHash('sha256').update('not the server key').digest('base64');
  const { context, page } = await openPage(wrong);
  try {
    const code = await page.evaluate(async (wss) => {
      const { connect } = (globalThis as unknown as { moat: typeof import('../../src/client/browser.js') }).moat;
      return connect(wss, { reconnect: false, connectTimeout: 5000 }).then(() => 'connected', (e: { code: string }) => e.code);
    }, `wss://127.0.0.1:${listener.address.port}/mqtt`);
    assert.equal(code, 'MOAT_ERR_CONNECT_FAILED');
  } finally {
    await context.close();
  }
});
