/** Start-up errors of the durable stores: never a silent reset, always a clear code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/store/redis-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'moat-store-err-'));
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('sqlite: a database written by a newer Moat is refused, not reset (MOAT_ERR_STORE_VERSION)', async () => {
  const path = join(tempDir(), 'moat.db');
  const first = await SqliteStore.open({ path });
  await first.retained.putRetained({ topic: 'keep', payload: Buffer.from('x'), qos: 0, retain: true });
  await first.close();
  const raw = new Database(path);
  raw.pragma('user_version = 99');
  raw.close();
  await assert.rejects(SqliteStore.open({ path }), { code: 'MOAT_ERR_STORE_VERSION' });
  const check = new Database(path);
  check.pragma('user_version = 1');
  assert.equal((check.prepare('SELECT count(*) AS n FROM retained').get() as { n: number }).n, 1, 'data untouched');
  check.close();
});

test('sqlite: the database and its WAL are readable by the owner only (message payloads are user data)', async () => {
  const path = join(tempDir(), 'sub', 'moat.db');
  const store = await SqliteStore.open({ path });
  await store.retained.putRetained({ topic: 't', payload: Buffer.from('secret'), qos: 0, retain: true });
  for (const f of [path, `${path}-wal`]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
  await store.close();
});

test('sqlite: a database with foreign tables is not taken over (MOAT_ERR_STORE_VERSION)', async () => {
  const path = join(tempDir(), 'other.db');
  const raw = new Database(path);
  raw.exec('CREATE TABLE invoices (id INTEGER)');
  raw.close();
  await assert.rejects(SqliteStore.open({ path }), { code: 'MOAT_ERR_STORE_VERSION' });
});

test('sqlite: a corrupt file is a clear start-up error (MOAT_ERR_STORE_OPEN)', async () => {
  const path = join(tempDir(), 'corrupt.db');
  writeFileSync(path, Buffer.alloc(8192, 0x5a));
  await assert.rejects(SqliteStore.open({ path }), { code: 'MOAT_ERR_STORE_OPEN' });
});

test('sqlite: a database another broker holds is locked (MOAT_ERR_STORE_LOCKED)', async () => {
  const path = join(tempDir(), 'moat.db');
  const holder = await SqliteStore.open({ path });
  await assert.rejects(SqliteStore.open({ path }), { code: 'MOAT_ERR_STORE_LOCKED' });
  await holder.close();
  const next = await SqliteStore.open({ path });
  await next.close();
});

test('redis: unreachable is a clear start-up error (MOAT_ERR_STORE_OPEN)', async () => {
  await assert.rejects(RedisStore.open({ url: 'redis://127.0.0.1:1', prefix: 'moat-test-unreachable:' }), { code: 'MOAT_ERR_STORE_OPEN' });
});

test('redis: keys written by a newer Moat are refused (MOAT_ERR_STORE_VERSION)', async () => {
  const prefix = `moat-test:${process.pid}:newer:`;
  const redis = new Redis('redis://127.0.0.1:6379');
  await redis.set(`${prefix}schema`, '99');
  try {
    await assert.rejects(RedisStore.open({ url: 'redis://127.0.0.1:6379', prefix }), { code: 'MOAT_ERR_STORE_VERSION' });
  } finally {
    await redis.del(`${prefix}schema`);
    await redis.quit();
  }
});
