/** Opens the configured store for `moat broker`: SQLite under the data directory by default. */
import { join } from 'node:path';
import type { Logger } from '../broker/logger.js';
import { MemoryStore } from '../store/memory-store.js';
import { RedisStore } from '../store/redis-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/types.js';
import type { StoreConfig } from './broker-config.js';

export function storePath(cfg: StoreConfig, dataDir: string): string | undefined {
  return cfg.type === 'sqlite' ? cfg.path ?? join(dataDir, 'data', 'moat.db') : undefined;
}

export async function openStore(cfg: StoreConfig, dataDir: string, log: Logger): Promise<Store> {
  const onError = (err: unknown): void => log.error({ err, store: cfg.type }, 'store error');
  switch (cfg.type) {
    case 'memory': return new MemoryStore();
    case 'sqlite': return SqliteStore.open({ path: storePath(cfg, dataDir)!, synchronous: cfg.synchronous, onError });
    case 'redis': return RedisStore.open({ url: cfg.url, prefix: cfg.prefix, lockTtlSeconds: cfg.lockTtlSeconds, onError });
  }
}
