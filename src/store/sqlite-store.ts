/**
 * The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
 * disk (fsync'd) before its promise resolves. The writes of one event-loop turn share a transaction
 * (group commit), applied by a worker thread: the broker keeps serving sockets during the fsync, and
 * what arrives meanwhile forms the next batch.
 */
import { Worker } from 'node:worker_threads';
import { MoatError } from '../codec/index.js';
import { GroupCommit } from './group-commit.js';
import { decodeMessage, encodeMessage } from './message-codec.js';
import type { SqliteDbOptions, SqliteOp, SqliteSnapshot } from './sqlite-db.js';
import type { WorkerReply, WorkerRequest } from './sqlite-worker.js';
import type {
  Message, QueueStore, Qos2Store, RetainedStore, SessionStore, Store, StoredEntry, StoredSession, StoredWill,
  SubscriptionOptions, WillStore,
} from './types.js';

export interface SqliteStoreOptions extends SqliteDbOptions {
  onError?: (err: unknown) => void;
}

type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void };

const NOOP: SqliteOp = ['deleteEntry', '', -1];

export class SqliteStore implements Store, SessionStore, QueueStore, Qos2Store, RetainedStore, WillStore {
  readonly kind = 'sqlite' as const;
  readonly durable: boolean;
  readonly sessions: SessionStore = this;
  readonly queues: QueueStore = this;
  readonly qos2: Qos2Store = this;
  readonly retained: RetainedStore = this;
  readonly wills: WillStore = this;
  private readonly gc: GroupCommit<SqliteOp>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private snapshotOnce: Promise<SqliteSnapshot> | undefined;
  /**
   * A message delivered and acknowledged within one batch (the common case with an online subscriber:
   * the batch spans an fsync) needs no row at all: its puts are cancelled by its deletes.
   */
  private readonly openPuts = new Map<string, number[]>();
  /** The open batch `openPuts` describes; another batch (or none) makes it stale. */
  private openPutsOf: SqliteOp[] | undefined;
  private closed = false;

  private constructor(private readonly worker: Worker, options: SqliteStoreOptions) {
    this.durable = options.path !== ':memory:';
    const onError = options.onError ?? (() => undefined);
    this.gc = new GroupCommit<SqliteOp>(async (all) => {
      const ops = all.filter((op) => op !== NOOP);
      if (ops.length > 0) await this.call({ kind: 'commit', ops });
    }, onError);
    worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new MoatError('MOAT_ERR_STORE_WRITE', `SQLite: ${reply.error.message}`, { reasonCode: 0x80 }));
    });
    const died = (err: unknown): void => {
      const cause = new MoatError('MOAT_ERR_STORE_WRITE', 'the SQLite worker stopped', { reasonCode: 0x80, cause: err });
      for (const p of this.pending.values()) p.reject(cause);
      this.pending.clear();
      if (!this.closed) this.gc.fail(cause);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`exit code ${code}`)));
  }

  /** Opens the database in its worker; a locked, corrupt or newer database is refused here. */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    const { onError: _e, ...dbOptions } = options;
    const worker = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: dbOptions });
    const ready = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }).catch((cause: unknown) => ({ id: 0, ok: false as const, error: { code: undefined, message: (cause as Error).message } }));
    if (!ready.ok) {
      await worker.terminate();
      const known = ['MOAT_ERR_STORE_LOCKED', 'MOAT_ERR_STORE_VERSION'];
      const code = known.includes(ready.error.code ?? '') ? ready.error.code! : 'MOAT_ERR_STORE_OPEN';
      throw new MoatError(code, ready.error.message);
    }
    return new SqliteStore(worker, options);
  }

  private call(req: { kind: 'commit'; ops: SqliteOp[] } | { kind: 'snapshot' } | { kind: 'close' }): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as WorkerRequest);
    });
  }

  /** Start-up reads share one snapshot of the database. */
  private snapshot(): Promise<SqliteSnapshot> {
    return (this.snapshotOnce ??= this.call({ kind: 'snapshot' }) as Promise<SqliteSnapshot>);
  }

  private add(op: SqliteOp): Promise<void> {
    this.snapshotOnce = undefined;
    return this.gc.add(op);
  }

  private trackedPuts(): Map<string, number[]> {
    if (this.openPutsOf !== this.gc.openOps) {
      this.openPuts.clear();
      this.openPutsOf = this.gc.openOps;
    }
    return this.openPuts;
  }

  /**
   * A put a delete in the same batch may cancel: only when its first put (`first`) is in this batch,
   * since an earlier, committed put would otherwise survive the cancelled delete.
   */
  private addPut(key: string, op: SqliteOp, first: boolean): Promise<void> {
    const promise = this.add(op);
    const puts = this.trackedPuts();
    const index = this.gc.openOps!.length - 1;
    if (first) puts.set(key, [index]);
    else puts.get(key)?.push(index);
    return promise;
  }

  /** The delete, or nothing when every put of `key` is still in the open batch. */
  private addDelete(key: string, op: SqliteOp): Promise<void> {
    const puts = this.trackedPuts();
    const indices = puts.get(key);
    if (!indices) return this.add(op);
    puts.delete(key);
    const ops = this.gc.openOps!;
    for (const i of indices) ops[i] = NOOP;
    return this.gc.barrier()!;
  }

  putSession(s: StoredSession): Promise<void> {
    return this.add(['putSession', s.clientId, s.expiryInterval, s.expiresAt ?? null]);
  }

  deleteSession(clientId: string): Promise<void> {
    return this.add(['deleteSession', clientId]);
  }

  putSubscription(clientId: string, filter: string, options: SubscriptionOptions): Promise<void> {
    return this.add(['putSubscription', clientId, filter, JSON.stringify(options)]);
  }

  deleteSubscription(clientId: string, filter: string): Promise<void> {
    return this.add(['deleteSubscription', clientId, filter]);
  }

  async loadSessions(): Promise<StoredSession[]> {
    const snap = await this.snapshot();
    const byId = new Map<string, StoredSession>();
    for (const r of snap.sessions) {
      const s: StoredSession = { clientId: r.client_id, expiryInterval: r.expiry_interval, subscriptions: [] };
      if (r.expires_at !== null) s.expiresAt = r.expires_at;
      byId.set(r.client_id, s);
    }
    for (const r of snap.subscriptions) byId.get(r.client_id)?.subscriptions.push([r.filter, JSON.parse(r.options) as SubscriptionOptions]);
    return [...byId.values()];
  }

  putMessage(id: number, message: Message): Promise<void> {
    return this.addPut(`m${id}`, ['putMessage', id, encodeMessage(message)], true);
  }

  deleteMessage(id: number): Promise<void> {
    return this.addDelete(`m${id}`, ['deleteMessage', id]);
  }

  putEntry(clientId: string, e: StoredEntry, first = false): Promise<void> {
    // The common case, no subscription identifier, skips JSON.
    const ids = e.subscriptionIdentifiers.length === 0 ? '[]' : JSON.stringify(e.subscriptionIdentifiers);
    return this.addPut(`e${clientId}\0${e.seq}`, ['putEntry', clientId, e.seq, e.messageId, e.qos, e.retain ? 1 : 0, ids, e.packetId, e.state, e.share ?? null], first);
  }

  deleteEntry(clientId: string, seq: number): Promise<void> {
    return this.addDelete(`e${clientId}\0${seq}`, ['deleteEntry', clientId, seq]);
  }

  async loadQueues(): Promise<{ messages: Map<number, Message>; entries: Map<string, StoredEntry[]> }> {
    const snap = await this.snapshot();
    const messages = new Map<number, Message>();
    for (const r of snap.messages) messages.set(r.id, decodeMessage(Buffer.from(r.data)));
    const entries = new Map<string, StoredEntry[]>();
    for (const r of snap.entries) {
      let list = entries.get(r.client_id);
      if (!list) entries.set(r.client_id, (list = []));
      const e: StoredEntry = {
        seq: r.seq, messageId: r.message_id, qos: r.qos, retain: r.retain === 1,
        subscriptionIdentifiers: JSON.parse(r.sub_ids) as number[], packetId: r.packet_id, state: r.state,
      };
      if (r.share !== null) e.share = r.share;
      list.push(e);
    }
    return { messages, entries };
  }

  putIncoming(clientId: string, packetId: number): Promise<void> {
    return this.add(['putIncoming', clientId, packetId]);
  }

  deleteIncoming(clientId: string, packetId: number): Promise<void> {
    return this.add(['deleteIncoming', clientId, packetId]);
  }

  async loadIncoming(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const r of (await this.snapshot()).incoming) {
      let list = out.get(r.client_id);
      if (!list) out.set(r.client_id, (list = []));
      list.push(r.packet_id);
    }
    return out;
  }

  putRetained(message: Message): Promise<void> {
    return this.add(['putRetained', message.topic, encodeMessage(message)]);
  }

  deleteRetained(topic: string): Promise<void> {
    return this.add(['deleteRetained', topic]);
  }

  async loadRetained(): Promise<Message[]> {
    return (await this.snapshot()).retained.map((r) => decodeMessage(Buffer.from(r.data)));
  }

  putWill(clientId: string, will: StoredWill): Promise<void> {
    return this.add(['putWill', clientId, encodeMessage(will.message), will.delay, will.publishAt ?? null]);
  }

  deleteWill(clientId: string): Promise<void> {
    return this.add(['deleteWill', clientId]);
  }

  async loadWills(): Promise<Map<string, StoredWill>> {
    const out = new Map<string, StoredWill>();
    for (const r of (await this.snapshot()).wills) {
      const w: StoredWill = { message: decodeMessage(Buffer.from(r.data)), delay: r.delay };
      if (r.publish_at !== null) w.publishAt = r.publish_at;
      out.set(r.client_id, w);
    }
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
    if (this.closed) return;
    await this.gc.flush();
    this.closed = true;
    await this.call({ kind: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}
