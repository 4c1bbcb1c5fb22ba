/**
 * The SQLite database itself: opening (WAL, exclusive lock, owner-only files, schema migrations),
 * applying a batch of writes as one transaction, and reading everything back. It runs inside the
 * store's worker thread, so its fsyncs never stop the broker's event loop.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MoatError } from '../codec/index.js';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';

export interface SqliteDbOptions {
  /** `:memory:` for a throwaway database. */
  path: string;
  /** 'full' (default): fsync at every commit. 'normal' loses the last commits on power loss, not on a crash. */
  synchronous?: 'full' | 'normal';
}

/** One write, as plain data (it crosses to the worker thread). */
export type SqliteOp =
  | ['putSession', string, number, number | null]
  | ['deleteSession', string]
  | ['putSubscription', string, string, string]
  | ['deleteSubscription', string, string]
  | ['putMessage', number, Uint8Array]
  | ['deleteMessage', number]
  | ['putEntry', string, number, number, number, number, string, number, number, string | null]
  | ['deleteEntry', string, number]
  | ['putIncoming', string, number]
  | ['deleteIncoming', string, number]
  | ['putRetained', string, Uint8Array]
  | ['deleteRetained', string]
  | ['putWill', string, Uint8Array, number, number | null]
  | ['deleteWill', string];

/** Everything stored, as rows (decoded by the store on the broker's thread). */
export interface SqliteSnapshot {
  sessions: Array<{ client_id: string; expiry_interval: number; expires_at: number | null }>;
  subscriptions: Array<{ client_id: string; filter: string; options: string }>;
  messages: Array<{ id: number; data: Uint8Array }>;
  entries: Array<{ client_id: string; seq: number; message_id: number; qos: 0 | 1 | 2; retain: number; sub_ids: string; packet_id: number; state: number; share: string | null }>;
  incoming: Array<{ client_id: string; packet_id: number }>;
  retained: Array<{ data: Uint8Array }>;
  wills: Array<{ client_id: string; data: Uint8Array; delay: number; publish_at: number | null }>;
}

export class SqliteDb {
  private readonly db: Database.Database;
  private readonly s: ReturnType<typeof prepare>;
  private readonly run: (ops: SqliteOp[]) => void;

  constructor(options: SqliteDbOptions) {
    this.db = open(options);
    this.s = prepare(this.db);
    this.run = this.db.transaction((ops: SqliteOp[]) => {
      for (const op of ops) this.apply(op);
    });
  }

  /** One transaction: all of the batch or none of it. */
  commit(ops: SqliteOp[]): void {
    this.run(ops);
  }

  private apply(op: SqliteOp): void {
    const [kind, ...args] = op;
    if (kind === 'deleteSession') {
      for (const stmt of this.s.deleteSession) stmt.run(args[0]);
      return;
    }
    this.s[kind].run(...args);
  }

  snapshot(): SqliteSnapshot {
    const all = <T>(stmt: Database.Statement): T[] => stmt.all() as T[];
    return {
      sessions: all(this.s.allSessions), subscriptions: all(this.s.allSubscriptions), messages: all(this.s.allMessages),
      entries: all(this.s.allEntries), incoming: all(this.s.allIncoming), retained: all(this.s.allRetained), wills: all(this.s.allWills),
    };
  }

  close(): void {
    this.db.close();
  }
}

function open(options: SqliteDbOptions): Database.Database {
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
    putEntry: db.prepare('INSERT OR REPLACE INTO entries (client_id, seq, message_id, qos, retain, sub_ids, packet_id, state, share) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    deleteEntry: db.prepare('DELETE FROM entries WHERE client_id = ? AND seq = ?'),
    allEntries: db.prepare('SELECT client_id, seq, message_id, qos, retain, sub_ids, packet_id, state, share FROM entries ORDER BY client_id, seq'),
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
