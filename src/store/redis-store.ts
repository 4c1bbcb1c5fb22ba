/**
 * Shared state in Redis (and, later, the cluster's). The writes of one event-loop turn go as one
 * MULTI/EXEC, so a batch is applied whole or not at all; its promise resolves when Redis has applied it.
 * How durable that is, is Redis's configuration: `appendonly yes` with `appendfsync always` for disk.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type ChainableCommander } from 'ioredis';
import { MoatError } from '../codec/index.js';
import { GroupCommit } from './group-commit.js';
import { decodeMessage, encodeMessage } from './message-codec.js';
import type {
  Message, QueueStore, Qos2Store, RetainedStore, SessionStore, Store, StoredEntry, StoredSession, StoredWill,
  SubscriptionOptions, WillStore,
} from './types.js';

export interface RedisStoreOptions {
  url: string;
  /** Key prefix, so several brokers or tests can share one Redis. Default `moat:`. */
  prefix?: string;
  /**
   * One broker per prefix: it holds a lock key renewed every third of this (default 15 s). A broker
   * killed without releasing it blocks the next start on that prefix for at most this long.
   */
  lockTtlSeconds?: number;
  onError?: (err: unknown) => void;
}

// Renews the lock only while this broker still holds it; releases it only if it is ours.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

const SCHEMA_VERSION = 1;

type Op = (m: ChainableCommander) => void;

export class RedisStore implements Store, SessionStore, QueueStore, Qos2Store, RetainedStore, WillStore {
  readonly kind = 'redis' as const;
  readonly durable = true;
  readonly sessions: SessionStore = this;
  readonly queues: QueueStore = this;
  readonly qos2: Qos2Store = this;
  readonly retained: RetainedStore = this;
  readonly wills: WillStore = this;
  private readonly gc: GroupCommit<Op>;
  private readonly k: (name: string) => string;
  private readonly renewTimer: NodeJS.Timeout;

  private constructor(private readonly redis: Redis, prefix: string, private readonly lock: { token: string; ttlMs: number }, onError: (err: unknown) => void) {
    this.k = (name) => prefix + name;
    this.renewTimer = setInterval(() => void this.renewLock(), Math.max(200, lock.ttlMs / 3));
    this.renewTimer.unref();
    this.gc = new GroupCommit<Op>(async (ops) => {
      const multi = this.redis.multi();
      for (const op of ops) op(multi);
      const replies = await multi.exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw new MoatError('MOAT_ERR_STORE_WRITE', 'Redis refused a batch of writes', { cause: failed?.[0] });
    }, onError);
  }

  /** Connects and checks the schema version; a clear error when Redis is unreachable or newer. */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const redis = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true });
    const onError = options.onError ?? (() => undefined);
    // ioredis reports reconnect attempts as 'error' events: to the log, not to stderr.
    redis.on('error', (err: Error) => onError(err));
    const prefix = options.prefix ?? 'moat:';
    const lock = { token: randomBytes(12).toString('hex'), ttlMs: (options.lockTtlSeconds ?? 15) * 1000 };
    try {
      await redis.connect();
      await takeLock(redis, `${prefix}lock`, lock);
      const version = Number(await redis.get(`${prefix}schema`) ?? 0);
      if (version > SCHEMA_VERSION) {
        throw new MoatError('MOAT_ERR_STORE_VERSION', `Redis keys under "${prefix}" have schema version ${version}, newer than this Moat (${SCHEMA_VERSION})`);
      }
      if (version < SCHEMA_VERSION) await redis.set(`${prefix}schema`, String(SCHEMA_VERSION));
    } catch (cause) {
      redis.disconnect();
      if (cause instanceof MoatError) throw cause;
      throw new MoatError('MOAT_ERR_STORE_OPEN', `cannot use Redis at ${options.url}: ${(cause as Error).message}`, { cause });
    }
    return new RedisStore(redis, prefix, lock, onError);
  }

  /** Losing the lock means another broker may be writing here: treated as a failed commit. */
  private async renewLock(): Promise<void> {
    try {
      const held = await this.redis.eval(RENEW, 1, this.k('lock'), this.lock.token, String(this.lock.ttlMs));
      if (held === 0) throw new MoatError('MOAT_ERR_STORE_LOCKED', 'the Redis lock of this prefix was lost to another broker');
    } catch (err) {
      this.gc.fail(err);
    }
  }

  private add(op: Op): Promise<void> {
    return this.gc.add(op);
  }

  putSession(s: StoredSession): Promise<void> {
    const value = JSON.stringify({ e: s.expiryInterval, x: s.expiresAt ?? null });
    return this.add((m) => m.hset(this.k('sessions'), s.clientId, value));
  }

  deleteSession(clientId: string): Promise<void> {
    return this.add((m) => m.hdel(this.k('sessions'), clientId).del(this.k(`subs:${clientId}`), this.k(`q:${clientId}`), this.k(`qos2:${clientId}`)));
  }

  putSubscription(clientId: string, filter: string, options: SubscriptionOptions): Promise<void> {
    const value = JSON.stringify(options);
    return this.add((m) => m.hset(this.k(`subs:${clientId}`), filter, value));
  }

  deleteSubscription(clientId: string, filter: string): Promise<void> {
    return this.add((m) => m.hdel(this.k(`subs:${clientId}`), filter));
  }

  async loadSessions(): Promise<StoredSession[]> {
    const all = await this.redis.hgetall(this.k('sessions'));
    const out: StoredSession[] = [];
    for (const [clientId, json] of Object.entries(all)) {
      const v = JSON.parse(json) as { e: number; x: number | null };
      const subs = await this.redis.hgetall(this.k(`subs:${clientId}`));
      const s: StoredSession = {
        clientId, expiryInterval: v.e,
        subscriptions: Object.entries(subs).map(([f, o]) => [f, JSON.parse(o) as SubscriptionOptions]),
      };
      if (v.x !== null) s.expiresAt = v.x;
      out.push(s);
    }
    return out;
  }

  putMessage(id: number, message: Message): Promise<void> {
    const data = encodeMessage(message);
    return this.add((m) => m.hset(this.k('messages'), String(id), data));
  }

  deleteMessage(id: number): Promise<void> {
    return this.add((m) => m.hdel(this.k('messages'), String(id)));
  }

  putEntry(clientId: string, e: StoredEntry): Promise<void> {
    const value = JSON.stringify([e.messageId, e.qos, e.retain ? 1 : 0, e.subscriptionIdentifiers, e.packetId, e.state, e.share ?? null]);
    return this.add((m) => m.hset(this.k(`q:${clientId}`), String(e.seq), value));
  }

  deleteEntry(clientId: string, seq: number): Promise<void> {
    return this.add((m) => m.hdel(this.k(`q:${clientId}`), String(seq)));
  }

  async loadQueues(): Promise<{ messages: Map<number, Message>; entries: Map<string, StoredEntry[]> }> {
    const messages = new Map<number, Message>();
    const raw = await this.redis.hgetallBuffer(this.k('messages'));
    for (const [id, data] of Object.entries(raw)) messages.set(Number(id), decodeMessage(data));
    const entries = new Map<string, StoredEntry[]>();
    for (const key of await this.keys('q:')) {
      const clientId = key.slice(this.k('q:').length);
      const list: StoredEntry[] = [];
      for (const [seq, json] of Object.entries(await this.redis.hgetall(key))) {
        const [messageId, qos, retain, subscriptionIdentifiers, packetId, state, share] = JSON.parse(json) as [number, 0 | 1 | 2, number, number[], number, number, string | null];
        const e: StoredEntry = { seq: Number(seq), messageId, qos, retain: retain === 1, subscriptionIdentifiers, packetId, state };
        if (share) e.share = share;
        list.push(e);
      }
      if (list.length > 0) entries.set(clientId, list.sort((a, b) => a.seq - b.seq));
    }
    return { messages, entries };
  }

  putIncoming(clientId: string, packetId: number): Promise<void> {
    return this.add((m) => m.sadd(this.k(`qos2:${clientId}`), String(packetId)));
  }

  deleteIncoming(clientId: string, packetId: number): Promise<void> {
    return this.add((m) => m.srem(this.k(`qos2:${clientId}`), String(packetId)));
  }

  async loadIncoming(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const key of await this.keys('qos2:')) {
      const ids = (await this.redis.smembers(key)).map(Number);
      if (ids.length > 0) out.set(key.slice(this.k('qos2:').length), ids);
    }
    return out;
  }

  putRetained(message: Message): Promise<void> {
    const data = encodeMessage(message);
    return this.add((m) => m.hset(this.k('retained'), message.topic, data));
  }

  deleteRetained(topic: string): Promise<void> {
    return this.add((m) => m.hdel(this.k('retained'), topic));
  }

  async loadRetained(): Promise<Message[]> {
    return Object.values(await this.redis.hgetallBuffer(this.k('retained'))).map(decodeMessage);
  }

  putWill(clientId: string, will: StoredWill): Promise<void> {
    const head = Buffer.from(JSON.stringify({ d: will.delay, p: will.publishAt ?? null }) + '\n');
    const data = Buffer.concat([head, encodeMessage(will.message)]);
    return this.add((m) => m.hset(this.k('wills'), clientId, data));
  }

  deleteWill(clientId: string): Promise<void> {
    return this.add((m) => m.hdel(this.k('wills'), clientId));
  }

  async loadWills(): Promise<Map<string, StoredWill>> {
    const out = new Map<string, StoredWill>();
    for (const [clientId, data] of Object.entries(await this.redis.hgetallBuffer(this.k('wills')))) {
      const nl = data.indexOf(10);
      const head = JSON.parse(data.toString('utf8', 0, nl)) as { d: number; p: number | null };
      const w: StoredWill = { message: decodeMessage(data.subarray(nl + 1)), delay: head.d };
      if (head.p !== null) w.publishAt = head.p;
      out.set(clientId, w);
    }
    return out;
  }

  private async keys(kind: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.k(kind)}*`, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  }

  barrier(): Promise<void> | undefined {
    return this.gc.barrier();
  }

  get writes(): number {
    return this.gc.count;
  }

  onFailure(listener: (err: unknown) => void): void {
    this.gc.onFailure(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    await this.gc.flush();
    await this.redis.eval(RELEASE, 1, this.k('lock'), this.lock.token).catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
  }
}

/** Waits (up to the lock's lifetime) for a killed broker's lock to run out; refuses a live holder. */
async function takeLock(redis: Redis, key: string, lock: { token: string; ttlMs: number }): Promise<void> {
  const deadline = Date.now() + lock.ttlMs + 1000;
  for (;;) {
    if (await redis.set(key, lock.token, 'PX', lock.ttlMs, 'NX') === 'OK') return;
    if (Date.now() > deadline) {
      throw new MoatError('MOAT_ERR_STORE_LOCKED', `another broker holds the Redis lock ${key} (one broker per prefix)`);
    }
    await sleep(100);
  }
}
