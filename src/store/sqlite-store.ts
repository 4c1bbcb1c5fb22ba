/**
 * The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
 * disk (fsync'd) before its promise resolves. The writes of one event-loop turn share a transaction
 * (group commit): one fsync for everything that arrived together.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MoatError } from '../codec/index.js';
import { GroupCommit } from './group-commit.js';
import { decodeMessage, encodeMessage } from './message-codec.js';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';
import type {
  Message, QueueStore, Qos2Store, RetainedStore, SessionStore, Store, StoredEntry, StoredSession, StoredWill,
  SubscriptionOptions, WillStore,
} from './types.js';

export interface SqliteStoreOptions {
  /** `:memory:` for a throwaway database. */
  path: string;
  /** 'full' (default): fsync at every commit. 'normal' loses the last commits on power loss, not on a crash. */
  synchronous?: 'full' | 'normal';
  onError?: (err: unknown) => void;
}

type Op = () => void;

export class SqliteStore implements Store, SessionStore, QueueStore, Qos2Store, RetainedStore, WillStore {
  readonly kind = 'sqlite' as const;
  readonly durable: boolean;
  readonly sessions: SessionStore = this;
  readonly queues: QueueStore = this;
  readonly qos2: Qos2Store = this;
  readonly retained: RetainedStore = this;
  readonly wills: WillStore = this;
  private readonly db: Database.Database;
  private readonly gc: GroupCommit<Op>;
  private readonly s: ReturnType<typeof prepare>;

  constructor(options: SqliteStoreOptions) {
    this.durable = options.path !== ':memory:';
    this.db = open(options);
    this.s = prepare(this.db);
    const run = this.db.transaction((ops: Op[]) => {
      for (const op of ops) op();
    });
    this.gc = new GroupCommit<Op>((ops) => run(ops), options.onError ?? (() => undefined));
  }

  private add(op: Op): Promise<void> {
    return this.gc.add(op);
  }

  putSession(session: StoredSession): Promise<void> {
    const { clientId, expiryInterval, expiresAt } = session;
    return this.add(() => this.s.putSession.run(clientId, expiryInterval, expiresAt ?? null));
  }

  deleteSession(clientId: string): Promise<void> {
    return this.add(() => {
      for (const stmt of this.s.deleteSession) stmt.run(clientId);
    });
  }

  putSubscription(clientId: string, filter: string, options: SubscriptionOptions): Promise<void> {
    const json = JSON.stringify(options);
    return this.add(() => this.s.putSubscription.run(clientId, filter, json));
  }

  deleteSubscription(clientId: string, filter: string): Promise<void> {
    return this.add(() => this.s.deleteSubscription.run(clientId, filter));
  }

  async loadSessions(): Promise<StoredSession[]> {
    const byId = new Map<string, StoredSession>();
    for (const r of this.s.allSessions.all() as Array<{ client_id: string; expiry_interval: number; expires_at: number | null }>) {
      const s: StoredSession = { clientId: r.client_id, expiryInterval: r.expiry_interval, subscriptions: [] };
      if (r.expires_at !== null) s.expiresAt = r.expires_at;
      byId.set(r.client_id, s);
    }
    for (const r of this.s.allSubscriptions.all() as Array<{ client_id: string; filter: string; options: string }>) {
      byId.get(r.client_id)?.subscriptions.push([r.filter, JSON.parse(r.options) as SubscriptionOptions]);
    }
    return [...byId.values()];
  }

  putMessage(id: number, message: Message): Promise<void> {
    const data = encodeMessage(message);
    return this.add(() => this.s.putMessage.run(id, data));
  }

  deleteMessage(id: number): Promise<void> {
    return this.add(() => this.s.deleteMessage.run(id));
  }

  putEntry(clientId: string, e: StoredEntry): Promise<void> {
    const ids = JSON.stringify(e.subscriptionIdentifiers);
    return this.add(() => this.s.putEntry.run(clientId, e.seq, e.messageId, e.qos, e.retain ? 1 : 0, ids, e.packetId, e.state));
  }

  deleteEntry(clientId: string, seq: number): Promise<void> {
    return this.add(() => this.s.deleteEntry.run(clientId, seq));
  }

  async loadQueues(): Promise<{ messages: Map<number, Message>; entries: Map<string, StoredEntry[]> }> {
    const messages = new Map<number, Message>();
    for (const r of this.s.allMessages.all() as Array<{ id: number; data: Buffer }>) messages.set(r.id, decodeMessage(r.data));
    const entries = new Map<string, StoredEntry[]>();
    type Row = { client_id: string; seq: number; message_id: number; qos: 0 | 1 | 2; retain: number; sub_ids: string; packet_id: number; state: number };
    for (const r of this.s.allEntries.all() as Row[]) {
      let list = entries.get(r.client_id);
      if (!list) entries.set(r.client_id, (list = []));
      list.push({
        seq: r.seq, messageId: r.message_id, qos: r.qos, retain: r.retain === 1,
        subscriptionIdentifiers: JSON.parse(r.sub_ids) as number[], packetId: r.packet_id, state: r.state,
      });
    }
    return { messages, entries };
  }

  putIncoming(clientId: string, packetId: number): Promise<void> {
    return this.add(() => this.s.putIncoming.run(clientId, packetId));
  }

  deleteIncoming(clientId: string, packetId: number): Promise<void> {
    return this.add(() => this.s.deleteIncoming.run(clientId, packetId));
  }

  async loadIncoming(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const r of this.s.allIncoming.all() as Array<{ client_id: string; packet_id: number }>) {
      let list = out.get(r.client_id);
      if (!list) out.set(r.client_id, (list = []));
      list.push(r.packet_id);
    }
    return out;
  }

  putRetained(message: Message): Promise<void> {
    const data = encodeMessage(message);
    return this.add(() => this.s.putRetained.run(message.topic, data));
  }

  deleteRetained(topic: string): Promise<void> {
    return this.add(() => this.s.deleteRetained.run(topic));
  }

  async loadRetained(): Promise<Message[]> {
    return (this.s.allRetained.all() as Array<{ data: Buffer }>).map((r) => decodeMessage(r.data));
  }

  putWill(clientId: string, will: StoredWill): Promise<void> {
    const data = encodeMessage(will.message);
    return this.add(() => this.s.putWill.run(clientId, data, will.delay, will.publishAt ?? null));
  }

  deleteWill(clientId: string): Promise<void> {
    return this.add(() => this.s.deleteWill.run(clientId));
  }

  async loadWills(): Promise<Map<string, StoredWill>> {
    const out = new Map<string, StoredWill>();
    for (const r of this.s.allWills.all() as Array<{ client_id: string; data: Buffer; delay: number; publish_at: number | null }>) {
      const w: StoredWill = { message: decodeMessage(r.data), delay: r.delay };
      if (r.publish_at !== null) w.publishAt = r.publish_at;
      out.set(r.client_id, w);
    }
    return out;
  }

  barrier(): Promise<void> | undefined {
    return this.gc.barrier();
  }

  async close(): Promise<void> {
    await this.gc.flush();
    this.db.close();
  }
}

function open(options: SqliteStoreOptions): Database.Database {
  const { path } = options;
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new Database(path, { timeout: 1000 });
    // Payloads of queued messages are the users' data: owner only (SQLite gives -wal the same mode).
    if (path !== ':memory:') chmodSync(path, 0o600);
    // One broker per database: a second one gets a clear "locked" error instead of two writers.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    migrate(db, path);
    return db;
  } catch (cause) {
    db?.close();
    if (cause instanceof MoatError) throw cause;
    const code = (cause as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new MoatError('MOAT_ERR_STORE_LOCKED', `database ${path} is locked by another process (another broker?)`, { cause });
    }
    throw new MoatError('MOAT_ERR_STORE_OPEN', `cannot open database ${path}: ${(cause as Error).message}`, { cause });
  }
}

function migrate(db: Database.Database, path: string): void {
  // BEGIN IMMEDIATE takes the write lock now: a locked database fails here, at start-up.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new MoatError('MOAT_ERR_STORE_VERSION', `database ${path} has schema version ${version}, newer than this Moat (${SCHEMA_VERSION}): upgrade Moat or use another dataDir`);
    }
    const tables = (db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'`).get() as { n: number }).n;
    if (version === 0 && tables > 0) {
      throw new MoatError('MOAT_ERR_STORE_VERSION', `database ${path} has tables but no Moat schema version: not a Moat store`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

function prepare(db: Database.Database) {
  return {
    putSession: db.prepare('INSERT OR REPLACE INTO sessions (client_id, expiry_interval, expires_at) VALUES (?, ?, ?)'),
    deleteSession: ['sessions', 'subscriptions', 'entries', 'incoming_qos2'].map((t) => db.prepare(`DELETE FROM ${t} WHERE client_id = ?`)),
    putSubscription: db.prepare('INSERT OR REPLACE INTO subscriptions (client_id, filter, options) VALUES (?, ?, ?)'),
    deleteSubscription: db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?'),
    allSessions: db.prepare('SELECT client_id, expiry_interval, expires_at FROM sessions'),
    allSubscriptions: db.prepare('SELECT client_id, filter, options FROM subscriptions'),
    putMessage: db.prepare('INSERT OR REPLACE INTO messages (id, data) VALUES (?, ?)'),
    deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
    allMessages: db.prepare('SELECT id, data FROM messages'),
    putEntry: db.prepare('INSERT OR REPLACE INTO entries (client_id, seq, message_id, qos, retain, sub_ids, packet_id, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    deleteEntry: db.prepare('DELETE FROM entries WHERE client_id = ? AND seq = ?'),
    allEntries: db.prepare('SELECT client_id, seq, message_id, qos, retain, sub_ids, packet_id, state FROM entries ORDER BY client_id, seq'),
    putIncoming: db.prepare('INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?)'),
    deleteIncoming: db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?'),
    allIncoming: db.prepare('SELECT client_id, packet_id FROM incoming_qos2'),
    putRetained: db.prepare('INSERT OR REPLACE INTO retained (topic, data) VALUES (?, ?)'),
    deleteRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
    allRetained: db.prepare('SELECT data FROM retained'),
    putWill: db.prepare('INSERT OR REPLACE INTO wills (client_id, data, delay, publish_at) VALUES (?, ?, ?, ?)'),
    deleteWill: db.prepare('DELETE FROM wills WHERE client_id = ?'),
    allWills: db.prepare('SELECT client_id, data, delay, publish_at FROM wills'),
  };
}
