import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, resolveBrokerConfig, type BrokerFlags } from '../../src/cli/broker-config.js';

const flags = (f: Partial<BrokerFlags> = {}): BrokerFlags => ({ listen: [], limits: [], ...f });
const dir = mkdtempSync(join(tmpdir(), 'moat-config-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const configError = (fn: () => unknown, key: string): void => {
  assert.throws(fn, (err: Error & { code?: string }) => err.code === 'MOAT_ERR_CONFIG' && err.message.includes(key));
};

test('defaults: one TLS listener on 8883, nothing in clear text, anonymous only on loopback', () => {
  const cfg = resolveBrokerConfig(flags(), {});
  assert.deepEqual(cfg.listeners, [{ url: 'mqtts://0.0.0.0:8883' }]);
  assert.equal(cfg.broker.allowAnonymous, 'loopback');
  assert.equal(cfg.logLevel, 'warn');
  assert.deepEqual(cfg, DEFAULT_CONFIG);
});

test('priority: file < environment < flags', () => {
  const f = file('p.yaml', 'logLevel: info\ndataDir: /from/file\nlimits:\n  maxPacketSize: 5000\n');
  const cfg = resolveBrokerConfig(flags({ config: f, logLevel: 'debug', limits: [['maxInflight', '7']] }),
    { MOAT_DATA_DIR: '/from/env', MOAT_LIMIT_MAX_PACKET_SIZE: '6000', MOAT_LISTEN: 'mqtt://127.0.0.1:1, ws://127.0.0.1:2' });
  assert.equal(cfg.logLevel, 'debug');
  assert.equal(cfg.dataDir, '/from/env');
  assert.equal(cfg.broker.limits.maxPacketSize, 6000);
  assert.equal(cfg.broker.limits.maxInflight, 7);
  assert.deepEqual(cfg.listeners.map((l) => l.url), ['mqtt://127.0.0.1:1', 'ws://127.0.0.1:2']);
});

test('listeners from the file with TLS files and mutual TLS', () => {
  const f = file('l.yaml', 'listeners:\n  - mqtt://127.0.0.1:1883\n  - url: mqtts://0.0.0.0:8883\n    cert: a.crt\n    key: a.key\n    ca: ca.crt\n    requireClientCert: true\n');
  const cfg = resolveBrokerConfig(flags({ config: f }), {});
  assert.deepEqual(cfg.listeners, [
    { url: 'mqtt://127.0.0.1:1883' },
    { url: 'mqtts://0.0.0.0:8883', cert: 'a.crt', key: 'a.key', ca: 'ca.crt', requireClientCert: true },
  ]);
});

test('unknown or invalid keys are refused with the key name (MOAT_ERR_CONFIG)', () => {
  configError(() => resolveBrokerConfig(flags({ config: file('u.yaml', 'listners: []\n') }), {}), 'listners');
  configError(() => resolveBrokerConfig(flags({ config: file('v.yaml', 'limits:\n  maxPaketSize: 3\n') }), {}), 'limits.maxPaketSize');
  configError(() => resolveBrokerConfig(flags({ config: file('w.yaml', 'limits:\n  maxPacketSize: -1\n') }), {}), 'limits.maxPacketSize');
  configError(() => resolveBrokerConfig(flags({ config: file('x.yaml', 'listeners:\n  - url: mqtt://h:1\n    certt: x\n') }), {}), 'listeners[0].certt');
  configError(() => resolveBrokerConfig(flags({ config: file('y.yaml', 'allowAnonymous: maybe\n') }), {}), 'allowAnonymous');
  configError(() => resolveBrokerConfig(flags({ listen: ['http://x:1'] }), {}), 'http://x:1');
  configError(() => resolveBrokerConfig(flags(), { MOAT_LOG_LEVL: 'x' }), 'MOAT_LOG_LEVL');
  configError(() => resolveBrokerConfig(flags({ logLevel: 'loud' }), {}), 'logLevel');
  configError(() => resolveBrokerConfig(flags({ config: join(dir, 'missing.yaml') }), {}), 'missing.yaml');
  configError(() => resolveBrokerConfig(flags({ config: file('z.yaml', 'a: [1\n') }), {}), 'z.yaml');
});

test('store: SQLite by default; memory, sqlite, a redis:// URL or a mapping from file, MOAT_STORE or --store', () => {
  assert.deepEqual(resolveBrokerConfig(flags(), {}).store, { type: 'sqlite', synchronous: 'full' });
  assert.deepEqual(resolveBrokerConfig(flags({ store: 'memory' }), {}).store, { type: 'memory' });
  assert.deepEqual(resolveBrokerConfig(flags(), { MOAT_STORE: 'redis://127.0.0.1:6379' }).store,
    { type: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'moat:' });
  const f = file('store.yaml', 'store:\n  type: sqlite\n  path: /var/lib/moat/moat.db\n  synchronous: normal\n');
  assert.deepEqual(resolveBrokerConfig(flags({ config: f }), {}).store, { type: 'sqlite', synchronous: 'normal', path: '/var/lib/moat/moat.db' });
  const r = file('redis.yaml', 'store:\n  type: redis\n  url: rediss://r:6380\n  prefix: "b1:"\n');
  assert.deepEqual(resolveBrokerConfig(flags({ config: r }), { MOAT_STORE: 'memory' }).store, { type: 'memory' }, 'env over file');
  assert.deepEqual(resolveBrokerConfig(flags({ config: r }), {}).store, { type: 'redis', url: 'rediss://r:6380', prefix: 'b1:' });
});

test('store: an unknown type, key or value is refused with the key name (MOAT_ERR_CONFIG)', () => {
  configError(() => resolveBrokerConfig(flags({ store: 'postgres' }), {}), 'store');
  configError(() => resolveBrokerConfig(flags({ config: file('s1.yaml', 'store:\n  type: sqlite\n  synchronous: off\n') }), {}), 'store.synchronous');
  configError(() => resolveBrokerConfig(flags({ config: file('s2.yaml', 'store:\n  type: sqlite\n  url: redis://x\n') }), {}), 'store.url');
  configError(() => resolveBrokerConfig(flags({ config: file('s3.yaml', 'store:\n  type: redis\n  url: http://x\n') }), {}), 'store.url');
  configError(() => resolveBrokerConfig(flags({ config: file('s4.yaml', 'store:\n  type: mongo\n') }), {}), 'store.type');
});
