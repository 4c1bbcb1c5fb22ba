/**
 * The client's engine: decoded packets, link events and an injected clock in; bytes and events out
 * through `EnginePort`. No sockets, no timers of its own — the transport (transport.ts) only moves
 * bytes, the public API (client.ts) only wires the two. Connection state is one enum:
 *
 *   Idle → Opening → AwaitConnack → Connected → (link lost) → Backoff → Opening → …
 *                                             → Ending (end() waits for acks) → Closed
 */
import {
  encodePacket, isMoatError, type ConnackPacket, type ConnectPacket, type DisconnectPacket, type MoatError,
  type Packet, type ProtocolVersion, type PublishPacket, type Will,
} from '../codec/index.js';
import { AuthExchange, type EnhancedAuth } from './auth.js';
import { type Backoff } from './backoff.js';
import { ClientErr, clientError, hex } from './errors.js';
import { MemoryInflightStore, type InflightStore } from './inflight-store.js';
import { KeepAlive } from './keep-alive.js';
import { OfflineQueue } from './offline-queue.js';
import { DEFAULT_SERVER_LIMITS, Outbound, type ServerLimits } from './outbound.js';
import { PacketIds } from './packet-ids.js';
import { Requests } from './requests.js';
import { IncomingAliases, OutgoingAliases } from './topic-aliases.js';
import type { Clock, ConnectInfo, Message, OfflineQueueOptions } from './types.js';

export const enum ClientState { Idle, Opening, AwaitConnack, Connected, Backoff, Ending, Closed }

export interface EngineOptions {
  version: 4 | 5;
  clientId: string;
  clean: boolean;
  /** Seconds; 0 turns keep alive off. */
  keepAlive: number;
  username?: string;
  password?: Buffer;
  will?: Will;
  /** v5 Session Expiry Interval, seconds. */
  sessionExpiry?: number;
  /** v5: what we accept from the broker. */
  receiveMaximum?: number;
  maximumPacketSize?: number;
  topicAliasMaximum?: number;
  userProperties?: Array<[string, string]>;
  connectTimeoutMs: number;
  reconnect: boolean;
  backoff: Backoff;
  queue?: OfflineQueueOptions;
  store?: InflightStore;
  /** Payload + topic bytes of QoS 1/2 messages sent and not yet acknowledged; beyond it they wait. */
  maxInflightBytes?: number;
  /** v5 enhanced authentication (AUTH exchange). */
  auth?: EnhancedAuth;
}

/** What the engine asks of its surroundings. */
export interface EnginePort {
  readonly clock: Clock;
  /** Open a new link; answer with `linkUp()` or `linkDown(err)`. */
  openLink(): void;
  /** False when the link's unflushed bytes reached its high-water mark: `drained()` follows. */
  write(bytes: Buffer): boolean | void;
  /** Flush and close the current link; `linkDown` follows. */
  closeLink(): void;
  connected(info: Omit<ConnectInfo, 'isResumed'>): void;
  message(msg: Message): void;
  /** The link is gone; `reconnecting` says whether a new attempt is scheduled. */
  offline(reason: MoatError, reconnecting: boolean): void;
  /** Final: no more links. `reason` is set when it did not end by `end()`. */
  closed(reason: MoatError | undefined): void;
  /** A subscription made again after the broker lost the session was refused (MOAT_ERR_SUBSCRIBE_REFUSED). */
  resubscribeFailed?(filter: string, err: MoatError): void;
}

/** CONNACK reason codes a retry cannot fix: stop instead of hammering the broker. */
const PERMANENT = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c, 0x9a, 0x9b]);
/** 3.1.1 CONNACK return codes mapped to the v5 reason codes, so callers see one scheme. */
const V4_CONNACK = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];

export class ClientEngine {
  state = ClientState.Idle;
  clientId: string;
  limits: ServerLimits = DEFAULT_SERVER_LIMITS;
  readonly outbound: Outbound;
  readonly requests: Requests;
  readonly auth: AuthExchange | undefined;
  private connectionSeq = 0;
  private readonly ids = new PacketIds();
  private readonly outAliases = new OutgoingAliases();
  private readonly inAliases = new IncomingAliases();
  private readonly keepAlive: KeepAlive;
  private attempt = 0;
  private everConnected = false;
  private connectTimer: unknown;
  private backoffTimer: unknown;
  private endTimer: unknown;
  private endWaiters: Array<() => void> = [];
  /** The link's buffer is at its high-water mark: publishes wait for `drained()`. */
  private blocked = false;

  constructor(readonly options: EngineOptions, private readonly port: EnginePort) {
    this.clientId = options.clientId;
    const engine = this; // the ports below read the engine's live state
    const link = {
      get version(): ProtocolVersion { return options.version; },
      get limits(): ServerLimits { return engine.limits; },
      get online(): boolean { return engine.state === ClientState.Connected || engine.state === ClientState.Ending; },
      get writable(): boolean { return !engine.blocked; },
      write: (bytes: Buffer) => this.write(bytes),
    };
    const store = options.store ?? new MemoryInflightStore();
    this.outbound = new Outbound(link, new OfflineQueue(options.queue), store, this.ids, this.outAliases, options.maxInflightBytes);
    this.requests = new Requests(link, this.ids, (filter, code) => port.resubscribeFailed?.(filter, clientError(ClientErr.subscribeRefused,
      `the broker lost the session and refused the subscription to ${filter} made again: reason ${hex(code)}`, code)));
    this.auth = options.auth && options.version === 5 ? new AuthExchange(options.auth, {
      get connectionSeq(): number { return engine.connectionSeq; },
      write: (bytes: Buffer) => this.write(bytes),
      fail: (err) => this.protocolFailure(err),
    }) : undefined;
    this.keepAlive = new KeepAlive(port.clock, () => this.write(encodePacket({ type: 'pingreq' }, options.version)),
      (seconds) => this.lost(clientError(ClientErr.keepAliveTimeout,
        `no answer from the broker within 1.5 × keep alive (${seconds} s): connection presumed dead`)));
  }

  get online(): boolean {
    return this.state === ClientState.Connected;
  }

  start(): void {
    if (this.state !== ClientState.Idle) return;
    this.open();
  }

  private open(): void {
    this.state = ClientState.Opening;
    // One deadline for the link (TCP, TLS handshake) and the CONNACK.
    this.connectTimer = this.port.clock.setTimeout(() => this.lost(clientError(ClientErr.connectTimeout,
      `no connection and CONNACK within ${this.options.connectTimeoutMs} ms`)), this.options.connectTimeoutMs);
    this.port.openLink();
  }

  private write(bytes: Buffer): void {
    this.keepAlive.sent();
    if (this.port.write(bytes) === false) this.blocked = true;
  }

  /** The link flushed below its high-water mark: waiting publishes may go. */
  drained(): void {
    if (!this.blocked) return;
    this.blocked = false;
    if (this.state !== ClientState.Connected && this.state !== ClientState.Ending) return;
    this.outbound.pump();
    this.checkEnded();
  }

  /** The transport is up (TLS handshake done): CONNECT is the first packet [MQTT-3.1.0-1]. */
  linkUp(): void {
    if (this.state !== ClientState.Opening) return;
    this.state = ClientState.AwaitConnack;
    this.connectionSeq++;
    this.blocked = false; // a new link, an empty buffer
    this.write(encodePacket(this.connectPacket(), this.options.version));
  }

  private connectPacket(): ConnectPacket {
    const o = this.options;
    // A reconnect resumes the session when one can outlive the connection (v5: expiry > 0).
    const resumable = o.version === 5 ? (o.sessionExpiry ?? 0) > 0 : !o.clean;
    const clean = this.everConnected ? !resumable : o.clean;
    const p: ConnectPacket = {
      type: 'connect', protocolName: 'MQTT', protocolVersion: o.version, clean, keepAlive: o.keepAlive,
      clientId: this.clientId,
      ...(o.will ? { will: o.will } : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    };
    if (o.version === 5) {
      p.properties = {
        ...(o.sessionExpiry ? { sessionExpiryInterval: o.sessionExpiry } : {}),
        ...(o.receiveMaximum !== undefined ? { receiveMaximum: o.receiveMaximum } : {}),
        ...(o.maximumPacketSize !== undefined ? { maximumPacketSize: o.maximumPacketSize } : {}),
        ...(o.topicAliasMaximum ? { topicAliasMaximum: o.topicAliasMaximum } : {}),
        ...(o.userProperties?.length ? { userProperties: o.userProperties } : {}),
        ...(this.auth ? this.auth.connectProperties() : {}),
      };
    }
    return p;
  }

  /** One decoded packet from the broker. */
  receive(packet: Packet): void {
    if (this.state === ClientState.Closed || this.state === ClientState.Backoff) return;
    this.keepAlive.received();
    try {
      this.dispatch(packet);
    } catch (err) {
      this.protocolFailure(err);
    }
  }

  private dispatch(packet: Packet): void {
    if (this.state === ClientState.AwaitConnack) {
      if (packet.type === 'connack') return this.onConnack(packet);
      if (packet.type === 'auth' && this.auth) return this.auth.receive(packet);
      // [MQTT-3.2.0-1] the first packet from the server is CONNACK, or AUTH during enhanced authentication.
      throw clientError(ClientErr.protocolError, `expected CONNACK, got ${packet.type}`, 0x82);
    }
    switch (packet.type) {
      case 'publish': return this.onPublish(packet);
      case 'puback': case 'pubrec': case 'pubcomp': this.outbound.ack(packet); break;
      case 'pubrel':
        // [MQTT-4.3.3-11] PUBCOMP with the same identifier; the identifier may now be used again [MQTT-4.3.3-12].
      {
        // v5: an identifier we hold no PUBREC for is answered 0x92 Packet Identifier not found.
        const known = this.outbound.store.hasIncoming(packet.packetId);
        this.outbound.store.deleteIncoming(packet.packetId);
        const reasonCode = known || this.options.version === 4 ? 0 : 0x92;
        this.write(encodePacket({ type: 'pubcomp', packetId: packet.packetId, reasonCode }, this.options.version));
        break;
      }
      case 'suback': case 'unsuback':
        this.requests.answer(packet);
        this.outbound.pump(); // its packet identifier is free again
        break;
      case 'pingresp': break;
      case 'auth':
        if (!this.auth) throw clientError(ClientErr.protocolError, 'AUTH without enhanced authentication', 0x82);
        this.auth.receive(packet);
        break;
      case 'disconnect': return this.onDisconnect(packet);
      default:
        throw clientError(ClientErr.protocolError, `unexpected ${packet.type} from the broker`, 0x82);
    }
    this.checkEnded();
  }

  private onConnack(p: ConnackPacket): void {
    this.port.clock.clearTimeout(this.connectTimer);
    const code = this.options.version === 5 ? p.reasonCode : (V4_CONNACK[p.reasonCode] ?? 0x80);
    if (code !== 0) {
      const why = p.properties?.reasonString ? ` (${p.properties.reasonString})` : '';
      const err = clientError(ClientErr.connectRefused, `the broker refused the connection: reason ${hex(code)}${why}`, code);
      this.lost(err, PERMANENT.has(code));
      return;
    }
    const props = p.properties ?? {};
    this.limits = {
      receiveMaximum: props.receiveMaximum ?? 65_535,
      maximumPacketSize: props.maximumPacketSize ?? Number.POSITIVE_INFINITY,
      maximumQoS: props.maximumQoS ?? 2,
      retainAvailable: props.retainAvailable ?? true,
    };
    if (props.assignedClientIdentifier) this.clientId = props.assignedClientIdentifier;
    this.outAliases.reset(this.options.version === 5 ? props.topicAliasMaximum ?? 0 : 0); // [MQTT-3.3.2-7]
    this.inAliases.reset(this.options.topicAliasMaximum ?? 0);
    this.state = this.endWaiters.length > 0 ? ClientState.Ending : ClientState.Connected;
    this.attempt = 0;
    const first = !this.everConnected;
    this.everConnected = true;
    // [MQTT-3.2.2-21] the Server Keep Alive replaces ours.
    this.keepAlive.start(props.serverKeepAlive ?? this.options.keepAlive);
    if (!p.sessionPresent) this.outbound.store.clearIncoming();
    // Resend and flush before telling the application: a publish from a `connect` listener must not
    // be taken for one of this session's records and sent twice.
    this.outbound.resume(p.sessionPresent);
    if (!p.sessionPresent && !first) this.requests.resubscribe();
    this.requests.flush();
    this.checkEnded();
    if ((this.state as ClientState) === ClientState.Closed) return;
    this.port.connected({ sessionPresent: p.sessionPresent, clientId: this.clientId, ...(p.properties ? { properties: p.properties } : {}) });
  }

  private onPublish(p: PublishPacket): void {
    const topic = this.inAliases.resolve(p.topic, p.properties?.topicAlias);
    if (topic === undefined) {
      throw clientError(ClientErr.protocolError, `PUBLISH with an unknown or out-of-range Topic Alias ${p.properties?.topicAlias}`, 0x94);
    }
    const v = this.options.version;
    let deliver = true;
    if (p.qos === 1) {
      this.write(encodePacket({ type: 'puback', packetId: p.packetId!, reasonCode: 0 }, v)); // [MQTT-4.3.2-4]
    } else if (p.qos === 2) {
      // [MQTT-4.3.3-10] a resent PUBLISH before PUBREL is acknowledged again, not delivered again.
      deliver = !this.outbound.store.hasIncoming(p.packetId!);
      this.outbound.store.addIncoming(p.packetId!);
      this.write(encodePacket({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 }, v)); // [MQTT-4.3.3-8]
    }
    if (!deliver) return;
    let properties = p.properties;
    if (properties?.topicAlias !== undefined) {
      const { topicAlias: _alias, ...rest } = properties;
      properties = Object.keys(rest).length ? rest : undefined;
    }
    // The decoder's payload is a view into the socket's buffer: copy before handing it out.
    this.port.message({ topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup,
      ...(properties ? { properties } : {}) });
  }

  private onDisconnect(p: DisconnectPacket): void {
    const code = p.reasonCode ?? 0;
    const why = p.properties?.reasonString ? ` (${p.properties.reasonString})` : '';
    // Taken over by another connection with our client id: reconnecting would steal it back forever.
    this.lost(clientError(ClientErr.serverDisconnect, `the broker closed the connection: reason ${hex(code)}${why}`, code), code === 0x8e);
  }

  /** The decoder or a handler found the broker breaking the protocol: tell it (v5) and drop the link. */
  protocolFailure(err: unknown): void {
    const e = isMoatError(err) ? err : clientError(ClientErr.protocolError, String(err), 0x82, err);
    if (this.options.version === 5 && this.state === ClientState.Connected && e.reasonCode !== undefined && e.reasonCode >= 0x80) {
      this.write(encodePacket({ type: 'disconnect', reasonCode: e.reasonCode }, 5));
    }
    this.lost(e);
  }

  /** The link could not be opened. */
  linkDown(err?: MoatError): void {
    if (this.state === ClientState.Closed || this.state === ClientState.Backoff) return;
    this.lost(err ?? clientError(ClientErr.connectionLost, 'connection to the broker lost'));
  }

  /** The link is gone or must go. Reconnect after a backoff unless closing or told not to. */
  private lost(reason: MoatError, permanent = false): void {
    if (this.state === ClientState.Closed || this.state === ClientState.Backoff) return;
    const wasEnding = this.state === ClientState.Ending;
    this.port.clock.clearTimeout(this.connectTimer);
    this.keepAlive.stop();
    this.requests.linkLost();
    this.auth?.linkLost(reason);
    this.port.closeLink();
    // The first attempt fails loudly (connect() rejects); later ones retry.
    const retry = !wasEnding && !permanent && this.options.reconnect && this.everConnected;
    if (!retry) return this.finish(wasEnding ? undefined : reason);
    this.state = ClientState.Backoff;
    // The state change is complete (timer set) before the application hears of it.
    this.backoffTimer = this.port.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.state === ClientState.Backoff) this.open();
    }, this.options.backoff.delay(this.attempt++));
    this.port.offline(reason, true);
  }

  /**
   * Graceful end: no new work; wait until every publish is acknowledged and every request answered
   * (at most `timeoutMs`), then DISCONNECT (0x00: the will is not sent [MQTT-3.1.2-10]) and close.
   */
  end(timeoutMs: number): Promise<void> {
    if (this.state === ClientState.Closed) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.endWaiters.push(resolve));
    if (this.state === ClientState.Connected) {
      this.state = ClientState.Ending;
      this.endTimer = this.port.clock.setTimeout(() => this.disconnectNow(), timeoutMs);
      this.checkEnded();
    } else if (this.state !== ClientState.Ending) {
      // Not connected: nothing can complete; stop now.
      this.port.clock.clearTimeout(this.backoffTimer);
      this.port.clock.clearTimeout(this.connectTimer);
      this.port.closeLink();
      this.finish(undefined);
    }
    return done;
  }

  private checkEnded(): void {
    if (this.state === ClientState.Ending && this.outbound.idle && this.requests.idle) this.disconnectNow();
  }

  private disconnectNow(): void {
    if (this.state !== ClientState.Ending) return;
    this.write(encodePacket({ type: 'disconnect', reasonCode: 0 }, this.options.version));
    this.keepAlive.stop();
    this.port.closeLink();
    this.finish(undefined);
  }

  private finish(reason: MoatError | undefined): void {
    if (this.state === ClientState.Closed) return;
    this.state = ClientState.Closed;
    const c = this.port.clock;
    c.clearTimeout(this.connectTimer);
    c.clearTimeout(this.backoffTimer);
    c.clearTimeout(this.endTimer);
    this.keepAlive.stop();
    const err = reason ?? clientError(ClientErr.clientClosed, 'the client was closed before this completed');
    this.outbound.rejectAll(err);
    this.requests.rejectAll(err);
    for (const w of this.endWaiters.splice(0)) w();
    this.port.closed(reason);
  }
}
