import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FwErr } from '../../src/firmware/errors.js';
import { compareVersions, isVersion, parseVersion } from '../../src/firmware/version.js';

test('versions compare numerically part by part, missing parts read as 0', () => {
  assert.equal(compareVersions('1.10.0', '1.9.9'), 1);
  assert.equal(compareVersions('1.9', '1.10'), -1);
  assert.equal(compareVersions('1.2', '1.2.0.0'), 0);
  assert.equal(compareVersions('2', '1.99.99.99'), 1);
  assert.equal(compareVersions('0.0.1', '0.0.0.9'), 1);
  assert.deepEqual(parseVersion('1.4.2'), [1, 4, 2]);
});

test('versions with leading zeros, signs, empty or more than four parts are refused', () => {
  for (const bad of ['', '1.', '.1', '01.2', '1.2.3.4.5', '-1', '1.a', ' 1', '1.2 ', '1e3', '1234567890123456']) {
    assert.equal(isVersion(bad), false, bad);
    assert.throws(() => parseVersion(bad), { code: FwErr.format }, bad);
  }
  assert.throws(() => compareVersions('1.0', 'x'), { code: FwErr.format });
  assert.equal(isVersion('0'), true);
  assert.equal(isVersion('999999999999999.0.0.1'), true);
});
