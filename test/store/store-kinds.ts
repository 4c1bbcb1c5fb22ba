/** The store implementations every store-level test runs against, each on a fresh location. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/types.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

interface Kind {
  name: string;
  /** A fresh, empty location; returns a function that opens a store on it (again and again). */
  fresh(): () => Promise<Store>;
}

const dirs: string[] = [];
const prefixes: string[] = [];
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  const redis = new Redis(REDIS_URL);
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

export const STORE_KINDS: Kind[] = [
  { name: 'memory', fresh: () => { const s = new MemoryStore(); return async () => s; } },
  {
    name: 'sqlite',
    fresh: () => {
      const dir = mkdtempSync(join(tmpdir(), 'moat-store-'));
      dirs.push(dir);
      return () => SqliteStore.open({ path: join(dir, "moat.db") });
    },
  },
  {
    name: 'redis',
    fresh: () => {
      const prefix = redisPrefix();
      return () => RedisStore.open({ url: REDIS_URL, prefix });
    },
  },
];


/** A key prefix of its own in the machine's Redis, deleted after the test file. */
export function redisPrefix(): string {
  const prefix = `moat-test:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  prefixes.push(prefix);
  return prefix;
}
