/**
 * The SQLite store's worker thread: owns the database, applies each batch as one transaction (with its
 * fsync) and answers in order. The broker's thread keeps serving sockets meanwhile, so the next batch
 * grows while this one is on its way to disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isMoatError } from '../codec/index.js';
import { SqliteDb, type SqliteDbOptions, type SqliteOp } from './sqlite-db.js';

export type WorkerRequest =
  | { id: number; kind: 'commit'; ops: SqliteOp[] }
  | { id: number; kind: 'snapshot' }
  | { id: number; kind: 'close' };

export type WorkerReply =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; error: { code: string | undefined; message: string } };

const port = parentPort!;
const describe = (err: unknown): { code: string | undefined; message: string } => ({
  code: isMoatError(err) ? err.code : (err as { code?: string }).code, message: (err as Error).message ?? String(err),
});

let db: SqliteDb;
try {
  db = new SqliteDb(workerData as SqliteDbOptions);
  port.postMessage({ id: 0, ok: true } satisfies WorkerReply);
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: describe(err) } satisfies WorkerReply);
  process.exit(0);
}

port.on('message', (req: WorkerRequest) => {
  try {
    if (req.kind === 'commit') db.commit(req.ops);
    const value = req.kind === 'snapshot' ? db.snapshot() : undefined;
    if (req.kind === 'close') db.close();
    port.postMessage({ id: req.id, ok: true, value } satisfies WorkerReply);
    if (req.kind === 'close') port.close();
  } catch (err) {
    port.postMessage({ id: req.id, ok: false, error: describe(err) } satisfies WorkerReply);
  }
});
