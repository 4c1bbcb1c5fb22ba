/**
 * The broker core: sessions, subscriptions, retained messages, wills and counters. Connections reach it
 * through `BrokerPort`; listeners hand it transports. No sockets here.
 */
import { EventEmitter } from 'node:events';
import { MoatError } from '../codec/index.js';
import { resolveOptions, type BrokerOptions, type ResolvedBrokerOptions } from './config.js';
import { Connection } from './connection.js';
import { emptyHooks, type BrokerHooks, type ClientInfo } from './hooks.js';
import { silentLogger, type Logger } from './logger.js';
import { PublishOutcome, type BrokerPort, type CounterName, type Publisher, type SessionOwner, type TransportPort, type Will } from './ports.js';
import { Router } from './router.js';
import { Session, type MemoryGauge, type SessionCounters } from './session.js';
import { TopicTree } from './topic-tree.js';
import { systemClock, type Clock, type Message, type SubscriptionOptions } from './types.js';
import { Journal } from './journal.js';
import { WaitingRoom, type Waiter } from './waiting-room.js';
import { restoreState } from './restore.js';
import { MemoryStore } from '../store/memory-store.js';
import { RetainedIndex } from '../store/retained-index.js';
import type { Store } from '../store/types.js';

export interface BrokerStats extends SessionCounters {
  startedAt: number;
  connectionsTotal: number;
  connectionsRefused: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  quotaRefusals: number;
  /** Wills refused by a full queue (among quotaRefusals): no publisher hears of these. */
  willsRefused: number;
  slowConsumers: number;
  throttleTimeouts: number;
  droppedTooLarge: number;
}

export interface BrokerDeps {
  clock?: Clock;
  log?: Logger;
  /** Where sessions, queues, retained messages and wills are kept; default in memory. */
  store?: Store;
  hooks?: Partial<BrokerHooks>;
}

const NEVER = 0xffff_ffff;

/** The counters the interval's warning line reports (what limits discarded or refused). */
const REPORTED_DROPS = ['droppedQos0', 'droppedTooLarge', 'droppedExpired', 'quotaRefusals', 'willsRefused'] as const;
type ReportedDrop = (typeof REPORTED_DROPS)[number];
const DROP_REPORT_MS = 10_000;

export class Broker extends EventEmitter implements BrokerPort {
  readonly options: ResolvedBrokerOptions;
  readonly hooks: BrokerHooks;
  readonly clock: Clock;
  readonly log: Logger;
  readonly store: Store;
  readonly journal: Journal;
  /** Retained messages for lookups; the store keeps the durable copies. */
  readonly retained = new RetainedIndex((topic) => {
    if (!topic.startsWith('$SYS/')) void this.store.retained.deleteRetained(topic);
  });
  readonly sessions = new Map<string, Session>();
  readonly tree = new TopicTree();
  readonly connections = new Set<Connection>();
  /** Sockets accepted (`hold`) that have not sent a byte yet: no Connection until they do. */
  readonly waiting: WaitingRoom<TransportPort & Waiter>;
  readonly stats: BrokerStats;
  private readonly router: Router;
  private readonly owners = new Map<string, SessionOwner>();
  private readonly pendingWills = new Map<string, { will: Will; timer: unknown }>();
  /** Client ids with a will in the store. */
  private readonly storedWills = new Set<string>();
  private closing = false;
  private dropTimer: unknown;
  private dropsReported: Record<ReportedDrop, number> = { droppedQos0: 0, droppedTooLarge: 0, droppedExpired: 0, quotaRefusals: 0, willsRefused: 0 };
  /** Payload bytes queued in all sessions, against limits.maxMemoryBytes. */
  readonly memory: MemoryGauge;

  constructor(options: BrokerOptions = {}, deps: BrokerDeps = {}) {
    super();
    this.options = resolveOptions(options);
    this.hooks = { ...emptyHooks(), ...deps.hooks };
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? silentLogger;
    this.store = deps.store ?? new MemoryStore();
    this.journal = new Journal(this.store);
    this.store.onFailure((err) => this.storeFailed(err));
    this.router = new Router(this.tree, this.sessions);
    this.memory = { used: 0, max: this.options.limits.maxMemoryBytes };
    this.waiting = new WaitingRoom(this.clock, this.options.limits.connectTimeoutMs, (t) => {
      this.log.info({ remote: t.remoteAddress }, 'connect timeout');
      t.close();
    });
    this.scheduleDropReport();
    this.stats = {
      startedAt: this.clock.now(), connectionsTotal: 0, connectionsRefused: 0, messagesIn: 0, messagesOut: 0,
      bytesIn: 0, bytesOut: 0, quotaRefusals: 0, willsRefused: 0, slowConsumers: 0, throttleTimeouts: 0, droppedQos0: 0, droppedTooLarge: 0, droppedExpired: 0,
    };
  }

  /** Connections and held sockets, against maxConnections. */
  get liveConnections(): number {
    return this.connections.size + this.waiting.size;
  }

  /**
   * A new socket that has not sent anything yet: counted (maxConnections, connectionsTotal) and closed
   * at the connect timeout like a connection, but its Connection waits for its first bytes (`accept`
   * with it). false when refused (the transport is closed).
   */
  hold(transport: TransportPort & Waiter): boolean {
    if (this.refuses(transport)) return false;
    this.waiting.add(transport);
    this.stats.connectionsTotal++;
    return true;
  }

  /** A held socket closed before its first bytes. */
  release(transport: TransportPort & Waiter): void {
    this.waiting.delete(transport);
  }

  /**
   * A new transport, or a held one whose first bytes came: returns its engine, or undefined when the
   * broker refuses more connections. A held one keeps the connect deadline it got in `hold`.
   */
  accept(transport: TransportPort, held?: TransportPort & Waiter): Connection | undefined {
    if (held !== undefined) {
      // Not waiting any more: timed out (or the broker closed it) before these bytes were read.
      if (!this.waiting.delete(held) || this.closing) {
        transport.close();
        return undefined;
      }
    } else if (this.refuses(transport)) {
      return undefined;
    } else {
      this.stats.connectionsTotal++;
    }
    const conn = new Connection(transport, this, held?.deadline);
    this.connections.add(conn);
    return conn;
  }

  private refuses(transport: TransportPort): boolean {
    if (!this.closing && this.liveConnections < this.options.limits.maxConnections) return false;
    this.stats.connectionsRefused++;
    this.log.warn({ remote: transport.remoteAddress, connections: this.liveConnections }, 'connection refused: limit reached');
    transport.close();
    return true;
  }

  count(event: CounterName, n = 1): void {
    this.stats[event] += n;
  }

  emitConnected(client: ClientInfo): void {
    this.log.info({ clientId: client.clientId, remote: client.remoteAddress, version: client.protocolVersion }, 'client connected');
    this.emit('clientConnected', client);
  }

  openSession(conn: SessionOwner, clientId: string, clean: boolean, expiryInterval: number, will: Will | undefined): { session: Session; present: boolean } {
    if (!this.sessions.has(clientId) && this.sessions.size >= this.options.limits.maxSessions) {
      // Persistent sessions live on with no connection: without this, client ids alone could fill memory and disk.
      this.log.warn({ clientId, sessions: this.sessions.size }, 'session refused: maxSessions reached');
      throw new MoatError('MOAT_ERR_SESSION_LIMIT', `the broker keeps ${this.sessions.size} sessions (maxSessions)`, { reasonCode: 0x97 });
    }
    const opened = this.findOrCreateSession(conn, clientId, clean);
    const { session } = opened;
    session.expiryInterval = expiryInterval;
    if (expiryInterval > 0) session.journal ??= this.journal;
    if (session.journal) void this.store.sessions.putSession({ clientId, expiryInterval, subscriptions: [] });
    if (will) this.storeWill(clientId, { message: will.message, delay: will.delay });
    else this.forgetWill(clientId);
    return opened;
  }

  private storeWill(clientId: string, will: { message: Message; delay: number; publishAt?: number }): void {
    this.storedWills.add(clientId);
    void this.store.wills.putWill(clientId, will);
  }

  private forgetWill(clientId: string): void {
    if (this.storedWills.delete(clientId)) void this.store.wills.deleteWill(clientId);
  }

  private findOrCreateSession(conn: SessionOwner, clientId: string, clean: boolean): { session: Session; present: boolean } {
    const owner = this.owners.get(clientId);
    if (owner && owner !== conn) {
      // [MQTT-3.1.4-3] session takeover: the old connection gets 0x8E and is closed.
      this.log.info({ clientId }, 'session taken over');
      owner.disconnect(0x8e, 'session taken over');
    }
    this.owners.set(clientId, conn);
    const pending = this.pendingWills.get(clientId);
    if (pending) {
      this.clock.clearTimeout(pending.timer);
      this.pendingWills.delete(clientId);
      // A delayed will is cancelled by the session resuming; a clean start ends the session: send it.
      if (clean) this.publishWill(pending.will);
      this.forgetWill(clientId);
    }
    let session = this.sessions.get(clientId);
    if (session && clean) {
      this.endSession(session);
      session = undefined;
    }
    if (session) {
      this.clock.clearTimeout(session.expiryTimer);
      return { session, present: true };
    }
    session = this.newSession(clientId);
    this.sessions.set(clientId, session);
    return { session, present: false };
  }

  connectionClosed(conn: SessionOwner, session: Session | undefined, will: Will | undefined): void {
    this.connections.delete(conn as Connection);
    if (!session) return;
    this.emit('clientDisconnected', conn.info());
    if (this.owners.get(session.clientId) !== conn) {
      if (will) this.publishWill(will);
      return;
    }
    this.owners.delete(session.clientId);
    // Publishers waiting for this client to catch up wait no longer: it is gone.
    session.releaseWaiters();
    const ending = session.expiryInterval === 0;
    this.redistribute(session);
    if (will) {
      const delay = Math.min(will.delay, session.expiryInterval);
      if (delay > 0 && !ending) {
        // [MQTT-3.1.3-9] wait the Will Delay Interval; reconnecting in time cancels it.
        this.delayWill(session.clientId, will, this.clock.now() + delay * 1000);
      } else {
        this.publishWill(will);
        this.forgetWill(session.clientId);
      }
    } else {
      this.forgetWill(session.clientId);
    }
    if (ending) this.endSession(session);
    else {
      const expiresAt = session.expiryInterval === NEVER ? undefined : this.clock.now() + session.expiryInterval * 1000;
      if (session.journal) void this.store.sessions.putSession({ clientId: session.clientId, expiryInterval: session.expiryInterval, expiresAt, subscriptions: [] });
      if (expiresAt !== undefined) this.expireAt(session, expiresAt);
    }
  }

  /** [MQTT-3.1.3-9] the will waits its Will Delay Interval; the client reconnecting in time cancels it. */
  delayWill(clientId: string, will: Will, publishAt: number): void {
    const timer = this.clock.setTimeout(() => {
      this.pendingWills.delete(clientId);
      this.publishWill(will);
      this.forgetWill(clientId);
    }, Math.max(0, publishAt - this.clock.now()));
    this.pendingWills.set(clientId, { will, timer });
    this.storeWill(clientId, { message: will.message, delay: will.delay, publishAt });
  }

  expireAt(session: Session, expiresAt: number): void {
    session.expiryTimer = this.clock.setTimeout(() => {
      if (!this.owners.has(session.clientId)) this.endSession(session);
    }, Math.max(0, expiresAt - this.clock.now()));
  }

  /** The session ends: its subscriptions go, a pending will is sent [MQTT-3.1.2-8]. */
  private endSession(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    this.sessions.delete(session.clientId);
    for (const filter of session.subscriptions.keys()) this.tree.remove(session.clientId, filter);
    const pending = this.pendingWills.get(session.clientId);
    if (pending) {
      this.clock.clearTimeout(pending.timer);
      this.pendingWills.delete(session.clientId);
      this.publishWill(pending.will);
      this.forgetWill(session.clientId);
    }
    this.redistribute(session);
    if (session.journal) void this.store.sessions.deleteSession(session.clientId);
    session.clear();
    this.clock.clearTimeout(session.expiryTimer);
  }

  /** Shared-subscription messages not acknowledged by a member that left go to another member. */
  private redistribute(session: Session): void {
    session.moveShared((out) => {
      const t = this.router.pickMember(out.group!, out.message, out.message.payload.length, session);
      if (!t) return false;
      t.session.deliver(out.message, t.qos, t.retain, t.ids, t.group);
      return true;
    });
  }

  publishWill(will: Will): void {
    const message: Message = { ...will.message };
    const expiry = message.properties?.messageExpiryInterval;
    if (expiry !== undefined) message.expiresAt = this.clock.now() + expiry * 1000;
    // No publisher hears a refusal of a will: counted apart for the interval's warning (one line
    // however many wills a mass disconnect refuses), and each named at debug level.
    if (this.publish(message) === PublishOutcome.QuotaExceeded) {
      this.stats.willsRefused++;
      this.log.debug({ topic: message.topic, clientId: message.publisherId }, 'will refused: a subscriber\'s queue is full (quota exceeded)');
    }
    if (message.retain) this.retain(message);
  }

  publish(message: Message, publisher?: Publisher): PublishOutcome {
    const outcome = this.router.route(message, publisher && ((s) => publisher.throttle(s)));
    if (outcome === PublishOutcome.QuotaExceeded) this.stats.quotaRefusals++;
    if (this.listenerCount('messagePublished') > 0) this.emit('messagePublished', message);
    return outcome;
  }

  retain(message: Message): void {
    // $SYS topics are rewritten every interval by the broker itself: not worth a disk write each time.
    const durable = !message.topic.startsWith('$SYS/');
    if (message.payload.length === 0) {
      // [MQTT-3.3.1-6] [MQTT-3.3.1-7]
      if (this.retained.delete(message.topic) && durable) void this.store.retained.deleteRetained(message.topic);
      return;
    }
    const { fanout: _f, storeId: _i, storeRefs: _r, ...own } = message;
    const retained: Message = { ...own, retain: true };
    this.retained.set(retained);
    if (durable) void this.store.retained.putRetained(retained);
  }

  subscribe(session: Session, filter: string, options: SubscriptionOptions): boolean {
    session.subscriptions.set(filter, options);
    if (session.journal) void this.store.sessions.putSubscription(session.clientId, filter, options);
    return this.tree.add(session.clientId, filter, options);
  }

  unsubscribe(session: Session, filter: string): boolean {
    session.subscriptions.delete(filter);
    if (session.journal) void this.store.sessions.deleteSubscription(session.clientId, filter);
    return this.tree.remove(session.clientId, filter);
  }

  writeMark(): number {
    return this.journal.writes;
  }

  pendingWrites(since: number): Promise<void> | undefined {
    return this.journal.writes === since ? undefined : this.journal.pending();
  }

  /** Reads back what the store holds: sessions, queues, QoS 2 state, retained messages, wills. */
  async restore(): Promise<void> {
    await restoreState(this, this.store);
  }

  /** Sessions read back by `restore`. */
  adoptSession(session: Session): void {
    this.sessions.set(session.clientId, session);
    for (const [filter, options] of session.subscriptions) this.tree.add(session.clientId, filter, options);
  }

  newSession(clientId: string): Session {
    return new Session(clientId, this.options.limits, this.stats, () => this.clock.now(), this.memory);
  }

  /** Stops and commits what is pending to the store. */
  async close(): Promise<void> {
    this.shutdown();
    await this.store.close();
  }

  /** Retained messages for a new subscription, with RETAIN set [MQTT-3.3.1-9]. */
  sendRetained(session: Session, filter: string, options: SubscriptionOptions): void {
    const ids = options.subscriptionIdentifier ? [options.subscriptionIdentifier] : [];
    for (const m of this.retained.match(filter, this.clock.now())) {
      session.deliver(m, Math.min(m.qos, options.qos) as 0 | 1 | 2, true, ids);
    }
  }

  /** Publishes a message from the broker itself ($SYS, admin tools). */
  publishInternal(message: Message): PublishOutcome {
    const outcome = this.publish(message);
    if (message.retain) this.retain(message);
    return outcome;
  }

  /**
   * What limits discarded is counted one by one ($SYS/broker/messages/dropped) and logged as one line
   * per interval, so a flood of drops cannot flood the log.
   */
  private scheduleDropReport(): void {
    this.dropTimer = this.clock.setTimeout(() => {
      const s = this.stats;
      const delta = {} as Record<ReportedDrop, number>;
      let any = 0;
      for (const k of REPORTED_DROPS) {
        delta[k] = s[k] - this.dropsReported[k];
        any += delta[k];
        this.dropsReported[k] = s[k];
      }
      if (any > 0) this.log.warn({ ...delta, intervalSeconds: DROP_REPORT_MS / 1000 }, 'messages discarded or refused by limits');
      if (!this.closing) this.scheduleDropReport();
    }, DROP_REPORT_MS);
  }

  /**
   * A store commit failed: the store no longer holds what memory holds, and acknowledging on top of
   * it could lose or duplicate messages after a restart. Fail-stop: every client is disconnected
   * (0x80) and 'storeFailed' tells the owner (the CLI exits non-zero; a supervisor restarts it, and
   * the restart recovers from the last good commit).
   */
  private storeFailed(err: unknown): void {
    if (this.closing) return;
    this.log.error({ err }, 'store commit failed: stopping the broker; a restart recovers from the store');
    this.shutdown(0x80, 'store failure');
    this.emit('storeFailed', err);
  }

  /** Graceful stop: v5 clients get DISCONNECT 0x8B [MQTT-3.14.2-1]; timers cleared. */
  shutdown(reasonCode = 0x8b, reason = 'server shutting down'): void {
    this.closing = true;
    this.clock.clearTimeout(this.dropTimer);
    for (const c of [...this.connections]) c.disconnect(reasonCode, reason);
    this.waiting.clear((t) => t.close());
    for (const { timer } of this.pendingWills.values()) this.clock.clearTimeout(timer);
    for (const s of this.sessions.values()) this.clock.clearTimeout(s.expiryTimer);
  }
}
