/**
 * Group commit: the writes of one event-loop turn share one commit, and every writer of that turn gets
 * the same promise. While a commit is on its way to disk, new writes keep joining the next batch, which
 * is sealed when that commit is done: under load a batch holds everything that arrived during one fsync.
 * Commits run one after another in write order, so a later batch never resolves before an earlier one:
 * acknowledgements waiting on them go out in the order they were earned.
 */
export type CommitFn<Op> = (ops: Op[]) => void | Promise<void>;

interface Batch<Op> {
  ops: Op[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<Op> {
  private open: Batch<Op> | undefined;
  /** The newest batch not yet committed (open, or waiting for an earlier one, or committing). */
  private newest: Promise<void> | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** A commit is running: the open batch waits for it instead of queueing behind it. */
  private committing = false;
  private readonly failureListeners: Array<(err: unknown) => void> = [];
  /** Writes added so far. */
  count = 0;

  constructor(private readonly commit: CommitFn<Op>, private readonly onError: (err: unknown) => void) {}

  onFailure(listener: (err: unknown) => void): void {
    this.failureListeners.push(listener);
  }

  /** A failure outside a commit that leaves the store unusable (e.g. a lost lock). */
  fail(err: unknown): void {
    this.onError(err);
    for (const l of this.failureListeners) l(err);
  }

  add(op: Op): Promise<void> {
    this.count++;
    let batch = this.open;
    if (!batch) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      // A writer that does not wait must not turn a failed commit into an unhandled rejection.
      promise.catch(() => undefined);
      batch = { ops: [], promise, resolve, reject };
      this.open = batch;
      this.newest = promise;
      setImmediate(() => {
        if (!this.committing) this.seal();
      });
    }
    batch.ops.push(op);
    return batch.promise;
  }

  /** The writes of the batch not yet sealed (a store may cancel a put its delete makes moot). */
  get openOps(): Op[] | undefined {
    return this.open?.ops;
  }

  /** Resolves when every write so far is committed; undefined when none is pending. */
  barrier(): Promise<void> | undefined {
    return this.newest;
  }

  /** Commits the open batch now (at shutdown) and waits for every batch. */
  async flush(): Promise<void> {
    this.seal();
    await this.chain;
  }

  private seal(): void {
    const batch = this.open;
    if (!batch) return;
    this.open = undefined;
    this.committing = true;
    this.chain = this.chain.then(async () => {
      try {
        await this.commit(batch.ops);
        batch.resolve();
      } catch (err) {
        this.onError(err);
        for (const l of this.failureListeners) l(err);
        batch.reject(err);
      }
      this.committing = false;
      // What arrived during this commit goes now, as one batch.
      if (this.open) this.seal();
      // Cleared only after the callbacks waiting on this batch ran (they were queued first), so no
      // later writer sees "nothing pending" ahead of them.
      await Promise.resolve();
      if (this.newest === batch.promise) this.newest = undefined;
    });
  }
}
