/**
 * The client, whatever carries its bytes: it wires a link (bytes), the codec's decoder (bytes →
 * packets) and the engine (packets → protocol); the protocol itself is in engine.ts. The link opener
 * is injected: client.ts (Node) passes TCP/TLS/`ws`, browser.ts the browser's WebSocket, so neither
 * bundle carries the other's transports.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  PacketDecoder, topicFilterError, topicNameError, type MoatError, type QoS, type SubscribeProperties,
} from '../codec/index.js';
import { ClientEngine, ClientState, type EnginePort } from './engine.js';
import { ClientErr, clientError, hex } from './errors.js';
import { engineOptions, hideSecrets, toBuffer, type ClientOptions, type Payload, type RequestOptions } from './options.js';
import { Subscription } from './subscription.js';
import { DEFAULT_HIGH_WATER_MARK, TlsSessionCache, parseTarget, type AbortLink, type Link, type LinkOpener, type Target } from './link.js';
import {
  systemClock, type Clock, type ConnectInfo, type Message, type PublishOptions, type PublishResult,
  type SubscribeOptions,
} from './types.js';

export interface ClientCore {
  on(event: 'connect', fn: (info: ConnectInfo) => void): this;
  on(event: 'message', fn: (msg: Message) => void): this;
  on(event: 'offline', fn: (reason: MoatError, reconnecting: boolean) => void): this;
  on(event: 'close', fn: (reason: MoatError | undefined) => void): this;
  /** After a reconnect without the session, the broker refused a subscription made again. */
  on(event: 'resubscribe-failed', fn: (filter: string, err: MoatError) => void): this;
}

export class ClientCore extends EventEmitter {
  readonly target: Target;
  readonly version: 4 | 5;
  private readonly engine: ClientEngine;
  private readonly clock: Clock;
  private readonly tlsCache: TlsSessionCache;
  private link: Link | undefined;
  /** Aborts the link still opening (TCP, TLS or WebSocket handshake): closeLink must not leave it open. */
  private pendingLink: AbortLink | undefined;
  /** The last link closed by the engine: end() waits for it so a process may exit right after. */
  private lastClosed: Promise<void> = Promise.resolve();
  private linkSeq = 0;
  private resumed = false;
  private readonly subs = new Set<Subscription>();
  private responseTopic: string | undefined;
  private responseSub: Promise<unknown> | undefined;
  private readonly pendingRequests = new Map<string, { resolve(m: Message): void; reject(e: MoatError): void }>();
  /** The last connection's CONNACK information. */
  info: ConnectInfo | undefined;

  /** The options in force; credentials (password, psk, key, passphrase) are there but not enumerable. */
  readonly options: ClientOptions;

  constructor(url: string, options: ClientOptions, private readonly opener: LinkOpener) {
    super();
    this.options = hideSecrets(options);
    if (options.highWaterMark !== undefined && !(options.highWaterMark >= 1)) {
      throw clientError(ClientErr.config, `highWaterMark must be ≥ 1, not ${String(options.highWaterMark)}`);
    }
    this.target = parseTarget(url);
    this.tlsCache = new TlsSessionCache(options.tlsSessionStore);
    this.version = options.protocolVersion ?? 5;
    this.clock = options.clock ?? systemClock;
    this.engine = new ClientEngine(engineOptions(options), this.port());
  }

  get clientId(): string {
    return this.engine.clientId;
  }

  get connected(): boolean {
    return this.engine.online;
  }

  /** The current (or last) connection resumed its TLS session from a ticket. */
  get isResumed(): boolean {
    return this.resumed;
  }

  /** QoS 1/2 publishes sent and not yet acknowledged. */
  get inflight(): number {
    return this.engine.outbound.inflight;
  }

  /** Payload + topic bytes of the QoS 1/2 publishes sent and not yet acknowledged (≤ `maxInflightBytes`). */
  get inflightBytes(): number {
    return this.engine.outbound.inflightBytes;
  }

  /**
   * Bytes handed to the socket and not yet flushed to the operating system. Publishes wait while it
   * is at the high-water mark, so it stays below the mark plus one packet (and the odd acknowledgement).
   */
  get bufferedAmount(): number {
    return this.link?.buffered ?? 0;
  }

  /** Publishes waiting (offline, for the broker's Receive Maximum, `maxInflightBytes` or the socket). */
  get queued(): number {
    return this.engine.outbound.queue.length;
  }

  /** Opens the first connection; `connect()` calls it. */
  start(): Promise<this> {
    return new Promise((resolve, reject) => {
      const onConnect = (): void => {
        this.off('close', onClose);
        resolve(this);
      };
      const onClose = (reason: MoatError | undefined): void => {
        this.off('connect', onConnect);
        reject(reason ?? clientError(ClientErr.clientClosed, 'closed before connecting'));
      };
      // Ahead of the application's listeners: one that throws must not keep start() from settling.
      this.prependOnceListener('connect', onConnect);
      this.prependOnceListener('close', onClose);
      this.engine.start();
    });
  }

  /**
   * Resolves when the flow for the QoS completes: QoS 0 once its bytes were handed to the socket (which
   * happens only while the socket's unflushed bytes are under the high-water mark), QoS 1 at PUBACK,
   * QoS 2 at PUBCOMP. Rejects with MOAT_ERR_PUBLISH_REFUSED (reasonCode = the broker's) on a negative
   * ack. Offline, or while the socket or the broker's limits hold it back, it waits in the bounded queue.
   */
  publish(topic: string, payload: Payload, opts: PublishOptions = {}): Promise<PublishResult> {
    return new Promise((resolve, reject) => {
      const closed = this.refuseIfClosed();
      if (closed) return reject(closed);
      const bad = topicNameError(topic);
      if (bad) return reject(clientError(ClientErr.invalidTopic, `cannot publish to "${topic}": ${bad}`));
      const qos = opts.qos ?? 0;
      if (qos !== 0 && qos !== 1 && qos !== 2) return reject(clientError(ClientErr.config, `QoS must be 0, 1 or 2, not ${String(qos)}`));
      this.engine.outbound.publish({
        topic, payload: toBuffer(payload), qos, retain: opts.retain ?? false,
        ...(opts.properties && this.version === 5 ? { properties: opts.properties } : {}),
        resolve, reject,
      });
    });
  }

  /**
   * Subscribes; resolves with a Subscription whose `reasonCodes` hold the granted QoS or failure code
   * per filter. Rejects with MOAT_ERR_SUBSCRIBE_REFUSED when the broker refused every filter.
   */
  subscribe(filters: string | string[], opts: SubscribeOptions = {}): Promise<Subscription> {
    const list = Array.isArray(filters) ? filters : [filters];
    return new Promise((resolve, reject) => {
      const closed = this.refuseIfClosed();
      if (closed) return reject(closed);
      for (const f of list) {
        const bad = topicFilterError(f);
        if (bad) return reject(clientError(ClientErr.invalidTopic, `cannot subscribe to "${f}": ${bad}`));
      }
      if (list.length === 0) return reject(clientError(ClientErr.config, 'subscribe needs at least one filter'));
      const sub = new Subscription(list, opts.bufferSize ?? 1000, (s) => this.unsubscribeSub(s), (s) => this.subs.delete(s));
      const properties: SubscribeProperties = {
        ...(opts.subscriptionIdentifier !== undefined ? { subscriptionIdentifier: opts.subscriptionIdentifier } : {}),
        ...(opts.userProperties ? { userProperties: opts.userProperties } : {}),
      };
      // Registered before the SUBACK: a retained message may follow it in the same read.
      this.subs.add(sub);
      this.engine.requests.request({
        type: 'subscribe',
        subscriptions: list.map((topicFilter) => ({
          topicFilter, qos: opts.qos ?? 0, noLocal: opts.noLocal ?? false,
          retainAsPublished: opts.retainAsPublished ?? false, retainHandling: opts.retainHandling ?? 0,
        })),
        ...(this.version === 5 && Object.keys(properties).length ? { properties } : {}),
      }, (codes) => {
        sub.reasonCodes = codes;
        if (codes.every((c) => c >= 0x80)) {
          this.subs.delete(sub);
          sub.close();
          const code = codes[0];
          reject(clientError(ClientErr.subscribeRefused, `subscription to ${list.join(', ')} refused: reason ${hex(code ?? 0x80)}`, code));
        } else resolve(sub);
      }, (err) => {
        this.subs.delete(sub);
        sub.close();
        reject(err);
      });
    });
  }

  /** Unsubscribes filters; Subscriptions whose filters are all gone end their iterators. */
  unsubscribe(filters: string | string[]): Promise<number[]> {
    const list = Array.isArray(filters) ? filters : [filters];
    return new Promise((resolve, reject) => {
      const closed = this.refuseIfClosed();
      if (closed) return reject(closed);
      this.engine.requests.request({ type: 'unsubscribe', topicFilters: list }, (codes) => {
        for (const s of this.subs) {
          if (s.filters.every((f) => list.includes(f))) {
            s.close();
            this.subs.delete(s);
          }
        }
        resolve(codes);
      }, reject);
    });
  }

  private unsubscribeSub(sub: Subscription): Promise<number[]> {
    this.subs.delete(sub);
    // Keep the broker subscription while another Subscription still uses one of the filters.
    const still = new Set([...this.subs].filter((s) => !s.closed).flatMap((s) => s.filters));
    const gone = sub.filters.filter((f) => !still.has(f));
    return gone.length ? this.unsubscribe(gone) : Promise.resolve([]);
  }

  /**
   * v5 request/response: publishes with a Response Topic and Correlation Data, resolves with the first
   * message on the response topic carrying the same Correlation Data; MOAT_ERR_REQUEST_TIMEOUT after
   * `timeout` ms.
   */
  async request(topic: string, payload: Payload, opts: RequestOptions = {}): Promise<Message> {
    if (this.version !== 5) throw clientError(ClientErr.config, 'request() needs MQTT 5 (response topic and correlation data)');
    this.responseTopic ??= `moat/response/${this.clientId}/${randomBytes(4).toString('hex')}`;
    const responseTopic = this.responseTopic;
    this.responseSub ??= this.subscribe(responseTopic, { qos: 1 }).catch((err: unknown) => {
      this.responseSub = undefined;
      throw err;
    });
    await this.responseSub;
    const correlation = randomBytes(16);
    const key = correlation.toString('hex');
    const timeout = opts.timeout ?? 10_000;
    return new Promise<Message>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pendingRequests.delete(key);
        reject(clientError(ClientErr.requestTimeout, `no response to the request on ${topic} within ${timeout} ms`));
      }, timeout);
      this.pendingRequests.set(key, {
        resolve: (m) => {
          this.clock.clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          this.clock.clearTimeout(timer);
          reject(e);
        },
      });
      this.publish(topic, payload, {
        qos: opts.qos ?? 1, retain: opts.retain ?? false,
        properties: { ...opts.properties, responseTopic, correlationData: correlation },
      }).catch((err: unknown) => {
        this.clock.clearTimeout(timer);
        this.pendingRequests.delete(key);
        reject(err);
      });
    });
  }

  /**
   * v5 re-authentication [4.12.1]: AUTH 0x19, the exchange through `options.auth.step`, resolved at
   * AUTH 0x00. A refusal arrives as DISCONNECT: rejects with MOAT_ERR_SERVER_DISCONNECT and its reason.
   */
  reauthenticate(): Promise<void> {
    if (!this.engine.auth) return Promise.reject(clientError(ClientErr.config, 'reauthenticate() needs MQTT 5 and the auth option'));
    if (!this.engine.online) return Promise.reject(clientError(ClientErr.connectionLost, 'not connected'));
    return this.engine.auth.reauthenticate();
  }

  /** Graceful: waits for in-flight acks (at most `timeout` ms, default 5,000), then DISCONNECT. */
  async end(opts: { timeout?: number } = {}): Promise<void> {
    await this.engine.end(opts.timeout ?? 5000);
    // Resolve once the socket flushed the DISCONNECT and closed: `process.exit()` after it loses nothing.
    await this.lastClosed;
  }

  private refuseIfClosed(): MoatError | undefined {
    const s = this.engine.state;
    return s === ClientState.Ending || s === ClientState.Closed
      ? clientError(ClientErr.clientClosed, 'the client is closed or closing') : undefined;
  }

  private deliver(msg: Message): void {
    const cd = msg.properties?.correlationData;
    if (cd && msg.topic === this.responseTopic) {
      const done = this.pendingRequests.get(cd.toString('hex'));
      if (done) {
        this.pendingRequests.delete(cd.toString('hex'));
        done.resolve(msg);
      }
    }
    for (const s of this.subs) if (s.matches(msg.topic)) s.push(msg);
    this.callOut(() => this.emit('message', msg));
  }

  /**
   * Runs an application callback (an event listener). A throwing listener is the application's bug,
   * not the broker's: it must not reach the engine (which would drop the link as a protocol failure or
   * stop mid-way through a state change). Rethrow outside the protocol path.
   */
  private callOut(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A microtask: Node reports it as uncaughtException, a browser as an error event; both have it.
      queueMicrotask(() => { throw err; });
    }
  }

  private port(): EnginePort {
    return {
      clock: this.clock,
      openLink: () => this.openLink(),
      write: (b) => this.link?.write(b),
      closeLink: () => {
        const l = this.link;
        this.link = undefined;
        this.linkSeq++;
        const abort = this.pendingLink;
        this.pendingLink = undefined;
        abort?.();
        if (l) {
          this.lastClosed = l.closed;
          l.end();
        }
      },
      connected: (info) => {
        this.info = { ...info, isResumed: this.resumed };
        const connectInfo = this.info;
        this.callOut(() => this.emit('connect', connectInfo));
      },
      message: (m) => this.deliver(m),
      resubscribeFailed: (filter, err) => {
        // A Subscription left with no filter would wait for messages that cannot come: end its iterator.
        for (const s of this.subs) {
          if (s.filters.every((f) => f === filter || !this.engine.requests.active.has(f))) {
            s.close();
            this.subs.delete(s);
          }
        }
        this.callOut(() => this.emit('resubscribe-failed', filter, err));
      },
      offline: (reason, reconnecting) => this.callOut(() => this.emit('offline', reason, reconnecting)),
      closed: (reason) => {
        for (const s of this.subs) s.close();
        this.subs.clear();
        // No response can arrive any more: a pending request() rejects now, not at its timeout.
        const err = reason ?? clientError(ClientErr.clientClosed, 'the client was closed before the response arrived');
        for (const r of this.pendingRequests.values()) r.reject(err);
        this.pendingRequests.clear();
        this.callOut(() => this.emit('close', reason));
      },
    };
  }

  private openLink(): void {
    const seq = ++this.linkSeq;
    const decoder = new PacketDecoder({ protocolVersion: this.version, maxPacketSize: this.options.maximumPacketSize ?? 1_048_576 });
    const events = {
      drain: (): void => {
        if (seq === this.linkSeq) this.engine.drained();
      },
      data: (chunk: Buffer): void => {
        if (seq !== this.linkSeq) return;
        try {
          decoder.write(chunk, (p) => {
            if (seq === this.linkSeq) this.engine.receive(p);
          });
        } catch (err) {
          if (seq === this.linkSeq) this.engine.protocolFailure(err);
        }
      },
      close: (err?: MoatError): void => {
        if (seq !== this.linkSeq) return;
        this.link = undefined;
        this.pendingLink = undefined;
        this.engine.linkDown(err);
      },
    };
    const up = (link: Link): void => {
      if (seq !== this.linkSeq) return link.destroy();
      this.pendingLink = undefined;
      this.link = link;
      this.resumed = link.isResumed;
      this.engine.linkUp();
    };
    const t = this.target;
    const mark = this.options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.pendingLink = this.opener(t, this.options, this.tlsCache, events, up, mark);
  }
}

export type { ClientOptions, QoS, RequestOptions };
