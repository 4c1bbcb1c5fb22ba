/**
 * One client connection's engine: decoded packets and an injected clock in, packets and broker calls
 * out. It never touches a socket: bytes leave through `TransportPort`. Packet handlers live in
 * handlers/, one file per packet type.
 */
import {
  MoatError, PublishFanout, encodePacket, isMoatError, connackReturnCodeV4,
  type Packet, type ProtocolVersion, type PublishVariant,
} from '../codec/index.js';
import { dispatch } from './handlers/dispatch.js';
import type { ClientInfo } from './hooks.js';
import type { BrokerPort, Publisher, SessionOwner, TransportPort, Will } from './ports.js';
import type { Outgoing, Session, SessionLink, Throttled } from './session.js';
import type { Message } from './types.js';

export const enum ConnState { AwaitConnect, Authenticating, Connected, Closed }

export class Connection implements SessionOwner, SessionLink, Publisher, Throttled {
  state = ConnState.AwaitConnect;
  version: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  will: Will | undefined;
  /** Keep alive in force, seconds (the client's, or the Server Keep Alive). */
  keepAlive = 0;
  /** What the client allows us: Receive Maximum, Maximum Packet Size, Topic Alias Maximum (v5). */
  clientReceiveMaximum = 65_535;
  clientMaxPacketSize = Number.POSITIVE_INFINITY;
  clientTopicAliasMaximum = 0;
  /** [MQTT-3.1.2-29] false: no Reason String / User Properties except on PUBLISH, CONNACK, DISCONNECT. */
  problemInformation = true;
  /** Session Expiry Interval from CONNECT; DISCONNECT may not raise it from 0 [MQTT-3.14.2-2]. */
  connectSessionExpiry = 0;
  /** Created on first use: most connections never use topic aliases (memory per idle connection). */
  inboundAliases: Map<number, string> | undefined;
  private outboundAliases: Map<string, number> | undefined;
  /** Aliases handed out for packets that were then discarded: the client never learned them. */
  private freeAliases: number[] | undefined;
  /** QoS 1/2 PUBLISH received and not yet completed, against our Receive Maximum [MQTT-3.3.4-7]. */
  inboundInFlight = 0;
  /** Enhanced authentication in progress or done: method and the handler's scratch state. */
  auth: { method: string; state: Record<string, unknown> } | undefined;
  /** Created only when a hook asks for the signal; aborted when the connection closes. */
  private abortController: AbortController | undefined;
  /** Set by every packet, read only by the keep alive timer (armed after CONNECT). */
  private lastActivity = 0;
  private keepAliveTimer: unknown;
  /** Armed while the socket holds more than maxWriteBuffer; fires on a consumer too slow to drain. */
  private drainTimer: unknown;
  private connectTimer: unknown;
  private busy = false;
  private pending: Packet[] = [];
  /** Congested sessions this publisher waits for; reading is paused while any remain. */
  private throttles = 0;
  private throttleTimer: unknown;
  /** The store's write count when the current packet's handling began. */
  private writeMark = 0;
  /** The last response still waiting for a commit; later responses queue behind it. */
  private responseTail: Promise<void> | undefined;
  /** Armed while the client's credentials (a token) have an end. */
  private credentialsTimer: unknown;

  /** `connectBy`: the clock time the connect timeout ends, when the socket was held before its first bytes. */
  constructor(readonly transport: TransportPort, readonly broker: BrokerPort, connectBy?: number) {
    const timeoutMs = broker.options.limits.connectTimeoutMs;
    this.connectTimer = broker.clock.setTimeout(() => {
      if (this.state === ConnState.AwaitConnect || this.state === ConnState.Authenticating) {
        broker.log.info({ remote: transport.remoteAddress }, 'connect timeout');
        this.close();
      }
    }, connectBy === undefined ? timeoutMs : Math.min(timeoutMs, Math.max(0, connectBy - broker.clock.now())));
  }

  /** One decoded packet from the transport. Handlers run in order; an async hook holds the rest. */
  receive(packet: Packet): void {
    if (this.state === ConnState.Closed) return;
    if (this.busy) {
      this.pending.push(packet);
      if (this.pending.length === 1) this.transport.pause();
      return;
    }
    this.run(packet);
  }

  private run(packet: Packet): void {
    this.lastActivity = this.broker.clock.now();
    this.writeMark = this.broker.writeMark();
    let result: void | Promise<void>;
    try {
      result = dispatch(this, packet);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (result instanceof Promise) {
      this.busy = true;
      result.then(() => this.resumeAfterAsync(), (err: unknown) => {
        this.busy = false;
        this.fail(err);
      });
    }
  }

  private resumeAfterAsync(): void {
    this.busy = false;
    while (!this.busy && this.pending.length > 0 && this.state !== ConnState.Closed) this.run(this.pending.shift()!);
    if (!this.busy && this.throttles === 0 && this.state !== ConnState.Closed) this.transport.resume();
  }

  /**
   * Push back instead of dropping: stop reading this publisher until `session` drains. Never for its
   * own session, and never longer than maxThrottleMs: a paused client's acknowledgements may be stuck
   * behind its unread publishes, so an unbounded pause could deadlock; after it, the limits refuse.
   */
  throttle(session: Session): void {
    if (this.state === ConnState.Closed || session === this.session || !session.addWaiter(this)) return;
    if (this.throttles++ > 0) return;
    this.transport.pause();
    this.throttleTimer = this.broker.clock.setTimeout(() => {
      this.throttleTimer = undefined;
      if (this.throttles > 0) this.broker.count('throttleTimeouts');
      this.throttles = 0;
      if (!this.busy && this.state !== ConnState.Closed) this.transport.resume();
    }, this.broker.options.limits.maxThrottleMs);
  }

  unthrottle(): void {
    if (this.throttles === 0) return;
    if (--this.throttles > 0) return;
    this.broker.clock.clearTimeout(this.throttleTimer);
    this.throttleTimer = undefined;
    if (!this.busy && this.state !== ConnState.Closed) this.transport.resume();
  }

  /** The codec or a handler refused: answer with the reason code (CONNACK or DISCONNECT), then close. */
  fail(err: unknown): void {
    if (this.state === ConnState.Closed) return;
    const reasonCode = isMoatError(err) && err.reasonCode !== undefined ? err.reasonCode : 0x83;
    const level = isMoatError(err) ? 'info' : 'error';
    this.broker.log[level]({ clientId: this.clientId || undefined, remote: this.transport.remoteAddress,
      code: isMoatError(err) ? err.code : undefined, reasonCode, err: isMoatError(err) ? undefined : err },
    isMoatError(err) ? err.message : 'connection handler failed');
    if (this.state === ConnState.Connected) {
      this.disconnect(reasonCode);
      return;
    }
    // Before CONNACK: a CONNACK with the reason code where the version allows one [MQTT-3.2.2-8].
    if (this.version === 5) this.send({ type: 'connack', sessionPresent: false, reasonCode });
    else if (isMoatError(err, 'MOAT_ERR_UNSUPPORTED_PROTOCOL')) {
      this.send({ type: 'connack', sessionPresent: false, reasonCode: 1 });
    } else if (isMoatError(err, 'MOAT_ERR_SESSION_LIMIT')) {
      this.send({ type: 'connack', sessionPresent: false, reasonCode: 3 }); // 3.1.1: server unavailable
    }
    this.close();
  }

  /** Refuses a CONNECT: CONNACK with the reason code (3.1.1: the mapped return code), then close. */
  refuseConnect(reasonCode: number): void {
    const code = this.version === 5 ? reasonCode : connackReturnCodeV4(reasonCode);
    this.send({ type: 'connack', sessionPresent: false, reasonCode: code });
    this.close();
  }

  /** Server-initiated close; v5 clients get DISCONNECT with the reason code first [MQTT-3.14.0-1]. */
  disconnect(reasonCode: number, reason?: string): void {
    if (this.state === ConnState.Closed) return;
    if (this.version === 5 && this.state === ConnState.Connected) {
      this.send({ type: 'disconnect', reasonCode, properties: reason ? { reasonString: reason } : undefined });
    }
    this.close();
  }

  /** Ends the connection: timers off, hooks aborted, the broker told (will, session expiry). */
  close(): void {
    if (this.state === ConnState.Closed) return;
    const wasConnected = this.state === ConnState.Connected;
    this.state = ConnState.Closed;
    const clock = this.broker.clock;
    clock.clearTimeout(this.connectTimer);
    clock.clearTimeout(this.keepAliveTimer);
    clock.clearTimeout(this.drainTimer);
    clock.clearTimeout(this.throttleTimer);
    clock.clearTimeout(this.credentialsTimer);
    this.abortController?.abort();
    if (this.pending.length > 0) this.pending = [];
    this.transport.close();
    if (wasConnected && this.session?.link === this) this.session.link = undefined;
    this.broker.connectionClosed(this, wasConnected ? this.session : undefined, wasConnected ? this.will : undefined);
  }

  /** The socket closed or failed under us. */
  transportClosed(): void {
    this.close();
  }

  /** The socket drained: queued messages may go now. */
  transportDrained(): void {
    if (this.drainTimer !== undefined && this.transport.bufferedBytes() < this.broker.options.limits.maxWriteBuffer) {
      this.broker.clock.clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
    }
    if (this.state === ConnState.Connected) this.session?.drain();
  }

  /** Called once CONNACK is out: keep alive starts [MQTT-3.1.2-22]. */
  startKeepAlive(): void {
    this.broker.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.keepAlive > 0) this.armKeepAlive(this.keepAlive * 1500);
  }

  // One timer per connection, re-armed from the last activity, instead of a reset per packet.
  private armKeepAlive(ms: number): void {
    const clock = this.broker.clock;
    this.keepAliveTimer = clock.setTimeout(() => {
      // While we are the ones not reading (push back, an async hook), the client's packets wait unread.
      if (this.throttles > 0 || this.busy) this.lastActivity = clock.now();
      const idle = clock.now() - this.lastActivity;
      const limit = this.keepAlive * 1500;
      if (idle >= limit) {
        this.broker.log.info({ clientId: this.clientId }, 'keep alive timeout');
        this.disconnect(0x8d);
      } else this.armKeepAlive(limit - idle);
    }, ms);
  }

  send(packet: Packet): void {
    if (this.state === ConnState.Closed && packet.type !== 'connack' && packet.type !== 'disconnect') return;
    const bytes = encodePacket(packet, this.version);
    this.broker.count('bytesOut', bytes.length);
    this.transport.write([bytes]);
  }

  /**
   * Sends a response (CONNACK, acknowledgements, SUBACK…) once what the packet wrote to the store is
   * durable, and never before an earlier response of this connection [MQTT-4.6.0-2] [MQTT-4.6.0-3].
   * A packet that wrote nothing waits only for this connection's earlier responses, not for other
   * clients' commits. A failed commit ends the connection without the response.
   */
  afterCommit(fn: () => void): void {
    const commit = this.broker.pendingWrites(this.writeMark);
    const before = this.responseTail;
    if (!commit && !before) {
      fn();
      return;
    }
    const wait = commit && before ? Promise.all([before, commit]) : (commit ?? before)!;
    const tail = wait.then(() => {
      if (this.state !== ConnState.Closed) fn();
    }, (cause: unknown) => {
      this.fail(new MoatError('MOAT_ERR_STORE_WRITE', 'the store could not commit: response withheld', { reasonCode: 0x80, cause }));
    });
    this.responseTail = tail;
    void tail.then(() => {
      if (this.responseTail === tail) this.responseTail = undefined;
    });
  }

  /**
   * The client's credentials run out at `at` (clock ms): it is disconnected then (0x87) unless a
   * re-authentication moves the time. A later call replaces the earlier one.
   */
  credentialsExpire(at: number): void {
    const clock = this.broker.clock;
    clock.clearTimeout(this.credentialsTimer);
    this.credentialsTimer = clock.setTimeout(() => {
      this.broker.log.info({ clientId: this.clientId }, 'credentials expired: disconnecting');
      this.disconnect(0x87, 'credentials expired');
    }, Math.max(0, at - clock.now()));
  }

  /** The signal handed to hooks: aborted when this client leaves. */
  get signal(): AbortSignal {
    return (this.abortController ??= new AbortController()).signal;
  }

  info(): ClientInfo {
    return {
      clientId: this.clientId, username: this.username, remoteAddress: this.transport.remoteAddress,
      protocolVersion: this.version, transport: this.transport.kind, tls: this.transport.tls,
    };
  }

  // --- SessionLink: how the session writes to this client ---

  get sendWindow(): number {
    return Math.min(this.clientReceiveMaximum, this.broker.options.limits.maxInflight);
  }

  writable(): boolean {
    if (this.state !== ConnState.Connected) return false;
    const { maxWriteBuffer, drainTimeoutMs } = this.broker.options.limits;
    if (this.transport.bufferedBytes() < maxWriteBuffer) return true;
    this.drainTimer ??= this.broker.clock.setTimeout(() => {
      if (this.transport.bufferedBytes() < maxWriteBuffer) {
        this.drainTimer = undefined;
        return;
      }
      this.broker.log.warn({ clientId: this.clientId, buffered: this.transport.bufferedBytes() },
        'slow consumer disconnected: socket did not drain in time; its session keeps the queue');
      this.broker.count('slowConsumers');
      this.disconnect(0x97, 'slow consumer');
    }, drainTimeoutMs);
    return false;
  }

  sendPublish(message: Message, out: Outgoing, dup: boolean): boolean {
    const variant: PublishVariant = {
      version: this.version, qos: out.qos, retain: out.retain, dup,
      subscriptionIdentifiers: out.subscriptionIdentifiers,
    };
    if (out.qos > 0) variant.packetId = out.packetId;
    if (this.version === 5) {
      if (message.expiresAt !== undefined) {
        // [MQTT-3.3.2-6] the interval minus the time the message waited here.
        variant.messageExpiryInterval = Math.max(1, Math.ceil((message.expiresAt - this.broker.clock.now()) / 1000));
      }
      this.applyTopicAlias(message.topic, variant);
    }
    const fanout = (message.fanout ??= new PublishFanout(message));
    const chunks = fanout.encode(variant);
    let size = 0;
    for (const c of chunks) size += c.length;
    if (size > this.clientMaxPacketSize) {
      // [MQTT-3.1.2-24] [MQTT-3.1.2-25] never send more than the client allows: discard, as if sent.
      this.broker.count('droppedTooLarge');
      this.broker.log.warn({ clientId: this.clientId, topic: message.topic, size, max: this.clientMaxPacketSize },
        'message larger than the client\'s Maximum Packet Size discarded');
      if (variant.topicAlias !== undefined && !variant.omitTopic) {
        this.outboundAliases!.delete(message.topic);
        (this.freeAliases ??= []).push(variant.topicAlias);
      }
      return false;
    }
    this.broker.count('messagesOut');
    this.broker.count('bytesOut', size);
    this.transport.write(chunks);
    return true;
  }

  /**
   * [MQTT-3.1.2-26] [MQTT-3.1.2-27] aliases up to the client's Topic Alias Maximum, first come first
   * served, and never more than our own topicAliasMaximum: each one keeps a topic string in memory.
   */
  private applyTopicAlias(topic: string, variant: PublishVariant): void {
    const max = Math.min(this.clientTopicAliasMaximum, this.broker.options.limits.topicAliasMaximum);
    if (max === 0) return;
    const aliases = (this.outboundAliases ??= new Map());
    const known = aliases.get(topic);
    if (known !== undefined) {
      variant.topicAlias = known;
      variant.omitTopic = true;
    } else if (aliases.size < max) {
      const alias = this.freeAliases?.pop() ?? aliases.size + 1;
      aliases.set(topic, alias);
      variant.topicAlias = alias;
    }
  }

  sendPubrel(packetId: number): void {
    this.send({ type: 'pubrel', packetId, reasonCode: 0 });
  }
}
