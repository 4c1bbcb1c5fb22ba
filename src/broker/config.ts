/** Broker limits and behaviour, each with a safe default. The CLI maps files, flags and env onto this. */

export interface BrokerLimits {
  /** Largest packet accepted from a client, fixed header included [3.1.2.11.4]. */
  maxPacketSize: number;
  /** Longest topic name or filter in bytes. */
  maxTopicLength: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Receive Maximum the broker announces: QoS 1/2 PUBLISH a client may have unacknowledged [MQTT-3.3.4-7]. */
  receiveMaximum: number;
  /** QoS 1/2 messages in flight to one client (also bounded by the client's Receive Maximum). */
  maxInflight: number;
  /** Messages queued for one session (offline, or beyond its in-flight window). */
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Topic aliases a client may use towards the broker. */
  topicAliasMaximum: number;
  maxConnections: number;
  /** Sessions the broker keeps, connected or not (persistent ones outlive their connections). */
  maxSessions: number;
  /** Time for a new connection to send CONNECT. */
  connectTimeoutMs: number;
  /** Keep alive the broker accepts; larger v5 requests get Server Keep Alive [MQTT-3.2.2-21]. */
  maxKeepAlive: number;
  /** Cap on Session Expiry Interval, seconds. */
  maxSessionExpiry: number;
  maxClientIdLength: number;
  /** Subscriptions one session may hold. */
  maxSubscriptionsPerSession: number;
  /** Bytes a connection may have waiting in its socket before messages wait in its queue. */
  maxWriteBuffer: number;
  /** A client whose socket stays over maxWriteBuffer this long is disconnected (slow consumer). */
  drainTimeoutMs: number;
  /** Longest a publisher stays paused waiting for a congested subscriber (push back), ms. */
  maxThrottleMs: number;
  /** Payload bytes queued across all sessions. */
  maxMemoryBytes: number;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxPacketSize: 1_048_576,
  maxTopicLength: 65_535,
  maxTopicLevels: 128,
  receiveMaximum: 1024,
  maxInflight: 64,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  topicAliasMaximum: 64,
  maxConnections: 10_000,
  maxSessions: 100_000,
  connectTimeoutMs: 10_000,
  maxKeepAlive: 65_535,
  maxSessionExpiry: 7 * 24 * 3600,
  maxClientIdLength: 256,
  maxSubscriptionsPerSession: 1000,
  maxWriteBuffer: 1024 * 1024,
  drainTimeoutMs: 60_000,
  maxThrottleMs: 5_000,
  maxMemoryBytes: 512 * 1024 * 1024,
};

export interface BrokerOptions {
  limits?: Partial<BrokerLimits>;
  /**
   * Who may connect without credentials a hook accepts: `loopback` (default) lets anonymous clients in
   * only from 127.0.0.0/8 and ::1 (the remote address: the engine does not know which listener a client
   * came through; the CLI turns `loopback` into `false` when no listener is bound to loopback), `true`
   * from anywhere, `false` never. A verified client certificate or TLS-PSK identity is not anonymous.
   */
  allowAnonymous?: boolean | 'loopback';
  /** Highest QoS the broker supports (announced as Maximum QoS when below 2). */
  maximumQoS?: 0 | 1 | 2;
  retainAvailable?: boolean;
  /** Seconds between $SYS updates; 0 turns them off. */
  sysInterval?: number;
  /** Identities the TLS layer verified, used as MQTT identities (read by handlers/connect.ts). */
  identityFromTls?: Partial<IdentityFromTls>;
}

/**
 * A verified TLS identity standing in for what CONNECT says. When one applies it replaces the CONNECT
 * username and the CONNECT password is not checked: the TLS handshake already proved who the client is.
 */
export interface IdentityFromTls {
  /** The verified client certificate's identity (CN or configured SAN) becomes the username. */
  certUsername: boolean;
  /** The TLS-PSK identity becomes the username. */
  pskUsername: boolean;
  /** A client with a verified certificate must use its identity as client id (an empty id gets it). */
  forceClientIdFromCert: boolean;
}

export interface ResolvedBrokerOptions {
  limits: BrokerLimits;
  allowAnonymous: boolean | 'loopback';
  maximumQoS: 0 | 1 | 2;
  retainAvailable: boolean;
  sysInterval: number;
  identityFromTls: IdentityFromTls;
}

export function resolveOptions(o: BrokerOptions = {}): ResolvedBrokerOptions {
  return {
    limits: { ...DEFAULT_LIMITS, ...o.limits },
    allowAnonymous: o.allowAnonymous ?? 'loopback',
    maximumQoS: o.maximumQoS ?? 2,
    retainAvailable: o.retainAvailable ?? true,
    sysInterval: o.sysInterval ?? 10,
    identityFromTls: { certUsername: false, pskUsername: false, forceClientIdFromCert: false, ...o.identityFromTls },
  };
}
