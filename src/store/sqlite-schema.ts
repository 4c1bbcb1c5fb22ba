/**
 * The SQLite schema and its migrations, numbered by `PRAGMA user_version`. A database written by a newer
 * Moat is refused, never reset; an older one is migrated step by step inside one transaction.
 */
export const MIGRATIONS: string[] = [
  // 1: the first schema.
  `CREATE TABLE sessions (client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL, expires_at INTEGER) WITHOUT ROWID;
   CREATE TABLE subscriptions (client_id TEXT NOT NULL, filter TEXT NOT NULL, options TEXT NOT NULL, PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
   CREATE TABLE messages (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
   CREATE TABLE entries (client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL, qos INTEGER NOT NULL,
     retain INTEGER NOT NULL, sub_ids TEXT NOT NULL, packet_id INTEGER NOT NULL, state INTEGER NOT NULL, share TEXT,
     PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
   CREATE TABLE incoming_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
   CREATE TABLE retained (topic TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
   CREATE TABLE wills (client_id TEXT PRIMARY KEY, data BLOB NOT NULL, delay INTEGER NOT NULL, publish_at INTEGER) WITHOUT ROWID;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
