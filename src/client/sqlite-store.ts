/**
 * An InflightStore in SQLite (`moat/client/sqlite-store`): a separate entry point, so the core client
 * loads no package; importing this one loads `better-sqlite3`. Each change is one statement in WAL
 * mode with synchronous=FULL: committed (fsync'd) before the packet it records goes out, so a crash
 * or power loss keeps it. Cheaper per change than the file store's whole-file rewrite. The database is
 * held exclusively: a second process on the same file gets MOAT_ERR_STORE_LOCKED, not two writers.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MoatError } from '../codec/index.js';
import { decodeProps, encodeProps } from './file-store.js';
import type { InflightStore, OutgoingRecord } from './inflight-store.js';

export interface SqliteInflightStoreOptions {
  /** 'full' (default): fsync at every change. 'normal' may lose the last changes on power loss (not on a crash). */
  synchronous?: 'full' | 'normal';
}

/** v1 of the client's schema (PRAGMA user_version); `seq` keeps the first-put order of a packet identifier. */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS outgoing (seq INTEGER PRIMARY KEY, packet_id INTEGER NOT NULL UNIQUE, state INTEGER NOT NULL,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, properties TEXT);
  CREATE TABLE IF NOT EXISTS incoming (packet_id INTEGER PRIMARY KEY);`;
const VERSION = 1;

interface Row { packet_id: number; state: number; topic: string; payload: Buffer; qos: number; retain: number; properties: string | null }

export class SqliteInflightStore implements InflightStore {
  private readonly db: Database.Database;
  /** Reads come from memory; every change is written through before it returns. */
  private readonly out = new Map<number, OutgoingRecord>();
  private readonly inc = new Set<number>();
  private readonly s: ReturnType<typeof statements>;

  constructor(readonly path: string, options: SqliteInflightStoreOptions = {}) {
    this.db = open(path, options);
    this.s = statements(this.db);
    for (const r of this.s.allOutgoing.all() as Row[]) {
      const props = r.properties === null ? undefined : decodeProps(JSON.parse(r.properties) as Record<string, unknown>);
      this.out.set(r.packet_id, {
        packetId: r.packet_id, state: r.state, topic: r.topic, payload: r.payload, qos: r.qos as 0 | 1 | 2,
        retain: r.retain === 1, ...(props ? { properties: props } : {}),
      });
    }
    for (const r of this.s.allIncoming.all() as Array<{ packet_id: number }>) this.inc.add(r.packet_id);
  }

  putOutgoing(record: OutgoingRecord): void {
    const props = encodeProps(record.properties);
    this.s.putOutgoing.run(record.packetId, record.state, record.topic, record.payload, record.qos, record.retain ? 1 : 0,
      props === undefined ? null : JSON.stringify(props));
    this.out.set(record.packetId, record);
  }
  getOutgoing(packetId: number): OutgoingRecord | undefined {
    return this.out.get(packetId);
  }
  deleteOutgoing(packetId: number): void {
    if (!this.out.delete(packetId)) return;
    this.s.deleteOutgoing.run(packetId);
  }
  outgoing(): OutgoingRecord[] {
    return [...this.out.values()];
  }
  addIncoming(packetId: number): void {
    if (this.inc.has(packetId)) return;
    this.s.addIncoming.run(packetId);
    this.inc.add(packetId);
  }
  hasIncoming(packetId: number): boolean {
    return this.inc.has(packetId);
  }
  deleteIncoming(packetId: number): void {
    if (!this.inc.delete(packetId)) return;
    this.s.deleteIncoming.run(packetId);
  }
  clearIncoming(): void {
    if (this.inc.size === 0) return;
    this.s.clearIncoming.run();
    this.inc.clear();
  }

  /** Closes the database (and releases its lock). The store must not be used afterwards. */
  close(): void {
    this.db.close();
  }
}

function statements(db: Database.Database) {
  return {
    allOutgoing: db.prepare('SELECT packet_id, state, topic, payload, qos, retain, properties FROM outgoing ORDER BY seq'),
    allIncoming: db.prepare('SELECT packet_id FROM incoming'),
    // An update keeps the row (and its seq): the record stays where it was first put.
    putOutgoing: db.prepare(`INSERT INTO outgoing (packet_id, state, topic, payload, qos, retain, properties) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (packet_id) DO UPDATE SET state = excluded.state, topic = excluded.topic, payload = excluded.payload,
      qos = excluded.qos, retain = excluded.retain, properties = excluded.properties`),
    deleteOutgoing: db.prepare('DELETE FROM outgoing WHERE packet_id = ?'),
    addIncoming: db.prepare('INSERT OR IGNORE INTO incoming (packet_id) VALUES (?)'),
    deleteIncoming: db.prepare('DELETE FROM incoming WHERE packet_id = ?'),
    clearIncoming: db.prepare('DELETE FROM incoming'),
  };
}

function open(path: string, options: SqliteInflightStoreOptions): Database.Database {
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new Database(path, { timeout: 1000 });
    // Payloads are the application's data: owner only (SQLite gives -wal the same mode).
    chmodSync(path, 0o600);
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    const d = db;
    d.transaction(() => {
      const version = d.pragma('user_version', { simple: true }) as number;
      if (version > VERSION) {
        throw new MoatError('MOAT_ERR_STORE_VERSION', `in-flight store ${path} has schema version ${version}, newer than this client's (${VERSION})`);
      }
      const tables = (d.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'`).get() as { n: number }).n;
      if (version === 0 && tables > 0) {
        throw new MoatError('MOAT_ERR_STORE_VERSION', `${path} has tables but is not a Moat client in-flight store`);
      }
      d.exec(SCHEMA);
      d.pragma(`user_version = ${VERSION}`);
    }).immediate();
    return db;
  } catch (cause) {
    db?.close();
    if (cause instanceof MoatError) throw cause;
    const code = (cause as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new MoatError('MOAT_ERR_STORE_LOCKED', `in-flight store ${path} is in use by another process (the same client running twice?)`, { cause });
    }
    throw new MoatError('MOAT_ERR_STORE_OPEN', `cannot open in-flight store ${path}: ${(cause as Error).message}`, { cause });
  }
}
