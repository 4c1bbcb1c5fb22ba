/** The `ssh` configuration key, `--ssh HOST:PORT` and MOAT_SSH: parsing, precedence, defaults, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMoatError } from '../../src/codec/errors.js';
import { resolveBrokerConfig } from '../../src/cli/broker-config.js';
import { parseSshListen, sshPaths } from '../../src/cli/ssh-config.js';

const flags = { listen: [], limits: [] };
const dir = mkdtempSync(join(tmpdir(), 'moat-ssh-cfg-'));

test('off by default; --ssh HOST:PORT turns it on with files under <dataDir>/ssh', () => {
  assert.equal(resolveBrokerConfig(flags, {}).ssh, undefined);
  const cfg = resolveBrokerConfig({ ...flags, ssh: '0.0.0.0:2222', dataDir: '/srv/moat' }, {});
  assert.deepEqual(cfg.ssh, { listen: { host: '0.0.0.0', port: 2222 } });
  assert.deepEqual(sshPaths(cfg.ssh!, cfg.dataDir), {
    hostKeyDir: '/srv/moat/ssh', authorizedKeys: '/srv/moat/ssh/authorized_keys', auditFile: '/srv/moat/ssh/audit.log',
  });
});

test('config file mapping; MOAT_SSH and --ssh replace only the address', () => {
  const file = join(dir, 'moat.yaml');
  writeFileSync(file, [
    'ssh:', '  listen: 127.0.0.1:2200', '  authorizedKeys: /etc/moat/keys', '  passwordFile: /etc/moat/ssh-passwd',
    '  passwordRole: admin', '  auditFile: /var/log/moat-audit.log', '  hostKeyDir: /etc/moat/ssh', '',
  ].join('\n'));
  const fromFile = resolveBrokerConfig({ ...flags, config: file }, {});
  assert.deepEqual(fromFile.ssh, {
    listen: { host: '127.0.0.1', port: 2200 }, authorizedKeys: '/etc/moat/keys', passwordFile: '/etc/moat/ssh-passwd',
    passwordRole: 'admin', auditFile: '/var/log/moat-audit.log', hostKeyDir: '/etc/moat/ssh',
  });
  const env = resolveBrokerConfig({ ...flags, config: file }, { MOAT_SSH: '[::1]:2300' });
  assert.deepEqual(env.ssh?.listen, { host: '::1', port: 2300 });
  assert.equal(env.ssh?.authorizedKeys, '/etc/moat/keys');
  const flag = resolveBrokerConfig({ ...flags, config: file, ssh: '2400' }, { MOAT_SSH: '[::1]:2300' });
  assert.deepEqual(flag.ssh?.listen, { host: '0.0.0.0', port: 2400 });
  assert.equal(flag.ssh?.passwordRole, 'admin');
});

test('bad ssh settings are refused with MOAT_ERR_CONFIG', () => {
  for (const bad of ['host:', 'a:b', '1.2.3.4:70000', '', ':::']) {
    assert.throws(() => parseSshListen('ssh', bad), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'), bad);
  }
  for (const yaml of ['ssh: [1]', 'ssh:\n  port: 22', 'ssh:\n  listen: 2222\n  passwordRole: root', 'ssh:\n  listen: 2222\n  authorizedKeys: 5']) {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, yaml);
    assert.throws(() => resolveBrokerConfig({ ...flags, config: file }, {}), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'), yaml);
  }
});
