/**
 * The `auth` and `acl` keys of `moat broker`: file < env < flags, strict validation naming the key, the
 * anonymous policy against the listeners' bound addresses, and the warning for public plain listeners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBrokerConfig, type BrokerFlags } from '../../src/cli/broker-config.js';
import { anonymousPolicy, isLoopbackListener, plainListenerWarnings, setupAuth } from '../../src/cli/auth-setup.js';
import { silentLogger } from '../../src/broker/logger.js';

const flags = (f: Partial<BrokerFlags> = {}): BrokerFlags => ({ listen: [], limits: [], ...f });
const dir = mkdtempSync(join(tmpdir(), 'moat-auth-config-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const fromYaml = (text: string, env: Record<string, string> = {}, f: Partial<BrokerFlags> = {}) =>
  resolveBrokerConfig(flags({ config: file(`c${Math.random().toString(36).slice(2)}.yaml`, text), ...f }), env);
const configError = (fn: () => unknown, key: string): void => {
  assert.throws(fn, (err: Error & { code?: string }) => err.code === 'MOAT_ERR_CONFIG' && err.message.includes(`"${key}"`));
};

test('defaults: no password file, no JWT, backoff on, no ACL, no TLS identity mapping', () => {
  const cfg = resolveBrokerConfig(flags(), {});
  assert.deepEqual(cfg.auth, { backoff: {} });
  assert.equal(cfg.acl, undefined);
  assert.deepEqual(cfg.broker.identityFromTls, { certUsername: false, pskUsername: false, forceClientIdFromCert: false });
});

test('auth and acl from the file: every key read', () => {
  const cfg = fromYaml(`
auth:
  passwordFile: /etc/moat/users
  jwt:
    algorithms: [RS256, ES256]
    jwksFile: /etc/moat/jwks.json
    audience: [mqtt, moat]
    issuer: https://id.example
    clockSkewSeconds: 5
    usernameClaim: device
    clientIdClaim: cid
  backoff: { freeFailures: 5, baseMs: 500, maxMs: 30000, forgetAfterMs: 60000, maxAddresses: 100 }
  certUsername: true
  pskUsername: true
  forceClientIdFromCert: true
acl:
  file: /etc/moat/acl
  admins: [ops, root]
`);
  assert.deepEqual(cfg.auth, {
    passwordFile: '/etc/moat/users',
    jwt: {
      audience: ['mqtt', 'moat'], jwksFile: '/etc/moat/jwks.json', usernameClaim: 'device', clientIdClaim: 'cid',
      issuer: 'https://id.example', clockSkewSeconds: 5, algorithms: ['RS256', 'ES256'],
    },
    backoff: { freeFailures: 5, baseMs: 500, maxMs: 30000, forgetAfterMs: 60000, maxAddresses: 100 },
  });
  assert.deepEqual(cfg.broker.identityFromTls, { certUsername: true, pskUsername: true, forceClientIdFromCert: true });
  assert.deepEqual(cfg.acl, { file: '/etc/moat/acl', admins: ['ops', 'root'] });
});

test('acl as a bare file name; audience null accepts any; backoff false switches it off', () => {
  const cfg = fromYaml('acl: /etc/moat/acl\nauth:\n  jwt: { secretFile: s.key, audience: null }\n  backoff: false\n');
  assert.deepEqual(cfg.acl, { file: '/etc/moat/acl', admins: [] });
  assert.deepEqual(cfg.auth, { jwt: { audience: null, secretFile: 's.key' }, backoff: false });
});

test('env MOAT_PASSWORD_FILE / MOAT_ACL_FILE override the file, flags override env; the file\'s admins stay', () => {
  const text = 'auth: { passwordFile: file-users }\nacl: { file: file-acl, admins: [ops] }\n';
  const env = { MOAT_PASSWORD_FILE: 'env-users', MOAT_ACL_FILE: 'env-acl' };
  const byEnv = fromYaml(text, env);
  assert.equal(byEnv.auth.passwordFile, 'env-users');
  assert.deepEqual(byEnv.acl, { file: 'env-acl', admins: ['ops'] });
  const byFlag = fromYaml(text, env, { passwordFile: 'flag-users', aclFile: 'flag-acl' });
  assert.equal(byFlag.auth.passwordFile, 'flag-users');
  assert.deepEqual(byFlag.acl, { file: 'flag-acl', admins: ['ops'] });
  configError(() => resolveBrokerConfig(flags(), { MOAT_ACL_FILE: '' }), 'MOAT_ACL_FILE');
  configError(() => resolveBrokerConfig(flags({ passwordFile: '' }), {}), '--password-file');
});

test('strict validation: each wrong value is refused with its key', () => {
  const cases: Array<[string, string]> = [
    ['auth: users\n', 'auth'],
    ['auth: { passwordFile: 3 }\n', 'auth.passwordFile'],
    ['auth: { passwrdFile: x }\n', 'auth.passwrdFile'],
    ['auth: { certUsername: yes please }\n', 'auth.certUsername'],
    ['auth: { forceClientIdFromCert: 1 }\n', 'auth.forceClientIdFromCert'],
    ['auth: { backoff: 3 }\n', 'auth.backoff'],
    ['auth: { backoff: { baseMs: -1 } }\n', 'auth.backoff.baseMs'],
    ['auth: { backoff: { base: 1 } }\n', 'auth.backoff.base'],
    ['auth: { jwt: { secretFile: s } }\n', 'auth.jwt.audience'],
    ['auth: { jwt: { audience: mqtt } }\n', 'auth.jwt'],
    ['auth: { jwt: { audience: [], secretFile: s } }\n', 'auth.jwt.audience'],
    ['auth: { jwt: { audience: mqtt, secretFile: s, algorithms: [none] } }\n', 'auth.jwt.algorithms'],
    ['auth: { jwt: { audience: mqtt, secretFile: s, algorithms: [] } }\n', 'auth.jwt.algorithms'],
    ['auth: { jwt: { audience: mqtt, secretFile: s, clockSkewSeconds: 99999 } }\n', 'auth.jwt.clockSkewSeconds'],
    ['auth: { jwt: { audience: mqtt, secretFile: s, issuer: [] } }\n', 'auth.jwt.issuer'],
    ['auth: { jwt: { audience: mqtt, secretFile: s, secret: abc } }\n', 'auth.jwt.secret'],
    ['auth: { jwt: { audience: mqtt, publicKeyFile: "" } }\n', 'auth.jwt.publicKeyFile'],
    ['acl: 7\n', 'acl'],
    ['acl: { admins: [ops] }\n', 'acl.file'],
    ['acl: { file: a, admins: ops }\n', 'acl.admins'],
    ['acl: { file: a, admins: [""] }\n', 'acl.admins[0]'],
    ['acl: { file: a, admin: [ops] }\n', 'acl.admin'],
  ];
  for (const [yaml, key] of cases) configError(() => fromYaml(yaml), key);
});

test('isLoopbackListener: 127/8, ::1 and localhost are loopback; wildcards and other addresses are not', () => {
  for (const u of ['mqtt://127.0.0.1:1883', 'mqtts://127.1.2.3:0', 'ws://[::1]:8080', 'mqtt://localhost:1883']) assert.equal(isLoopbackListener(u), true, u);
  for (const u of ['mqtt://0.0.0.0:1883', 'mqtts://[::]:8883', 'mqtt://192.168.1.2:1883', 'ws://example.com:80']) assert.equal(isLoopbackListener(u), false, u);
});

test('anonymousPolicy: loopback stays loopback when a listener is on loopback, becomes false when none is', () => {
  const withListeners = (urls: string[], allow: string = 'loopback') => resolveBrokerConfig(flags({ listen: urls, allowAnonymous: allow }), {});
  assert.deepEqual(anonymousPolicy(withListeners(['mqtt://127.0.0.1:1', 'mqtts://[::1]:2'])), { allowAnonymous: 'loopback' });
  assert.deepEqual(anonymousPolicy(withListeners(['mqtts://0.0.0.0:8883'])), { allowAnonymous: false });
  assert.deepEqual(anonymousPolicy(resolveBrokerConfig(flags(), {})), { allowAnonymous: false }, 'the default listener is 0.0.0.0');
  // Mixed: the broker decides per listener (its TransportPort says whether the listener is bound to loopback).
  assert.deepEqual(anonymousPolicy(withListeners(['mqtt://127.0.0.1:1', 'mqtts://0.0.0.0:2'])), { allowAnonymous: 'loopback' });
  assert.deepEqual(anonymousPolicy(withListeners(['mqtts://0.0.0.0:8883'], 'true')), { allowAnonymous: true });
  assert.deepEqual(anonymousPolicy(withListeners(['mqtt://127.0.0.1:1'], 'false')), { allowAnonymous: false });
});

test('plainListenerWarnings: one line per mqtt:// or ws:// listener off loopback, none for TLS or loopback', () => {
  const cfg = resolveBrokerConfig(flags({ listen: ['mqtt://0.0.0.0:1883', 'ws://10.0.0.1:8080', 'mqtt://127.0.0.1:1884', 'mqtts://0.0.0.0:8883', 'wss://0.0.0.0:8081'] }), {});
  const lines = plainListenerWarnings(cfg);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /WARNING: mqtt:\/\/0\.0\.0\.0:1883 is plain text/);
  assert.match(lines[1]!, /WARNING: ws:\/\/10\.0\.0\.1:8080 is plain text/);
});

test('setupAuth: a missing password file, a broken ACL or a short JWT secret stops the start with its code', async () => {
  const base = resolveBrokerConfig(flags(), {});
  await assert.rejects(setupAuth({ ...base, auth: { passwordFile: join(dir, 'nope'), backoff: {} } }, silentLogger), { code: 'MOAT_ERR_PASSWORD_FILE' });
  await assert.rejects(setupAuth({ ...base, acl: { file: file('bad.acl', 'topic\n'), admins: [] } }, silentLogger), { code: 'MOAT_ERR_ACL' });
  await assert.rejects(setupAuth({ ...base, auth: { jwt: { secretFile: file('short.key', 'too short\n'), audience: null }, backoff: {} } }, silentLogger), { code: 'MOAT_ERR_CONFIG' });
  await assert.rejects(setupAuth({ ...base, auth: { jwt: { secretFile: join(dir, 'absent.key'), audience: null }, backoff: {} } }, silentLogger), { code: 'MOAT_ERR_CONFIG' });
  const none = await setupAuth(base, silentLogger);
  assert.deepEqual(none.hooks, { authenticate: [], authorizePublish: [], authorizeSubscribe: [] });
});
