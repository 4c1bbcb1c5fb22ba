/**
 * The broker's extension points, filled by the security issue. Hooks add up: every hook is asked, one
 * `false`/'deny' refuses, and invariants (no client publishes to $SYS) stay outside them. A hook may
 * answer synchronously (the fast path) or with a Promise; its AbortSignal fires when the client leaves.
 */
import type { ProtocolVersion, QoS } from '../codec/index.js';

export interface TlsInfo {
  protocol: string | null;
  cipher: string | undefined;
  resumed: boolean;
  /** DER of the client certificate (mutual TLS), when one was presented and verified. */
  peerCertificate?: Buffer;
  /** PSK identity (TLS-PSK), when used. */
  pskIdentity?: string;
  /** The identity the listener read from the verified client certificate (its configured CN or SAN). */
  certIdentity?: string;
}

export interface ClientInfo {
  clientId: string;
  username: string | undefined;
  remoteAddress: string;
  protocolVersion: ProtocolVersion;
  transport: 'tcp' | 'tls' | 'ws' | 'wss';
  tls: TlsInfo | undefined;
}

export interface AuthenticateRequest extends ClientInfo {
  password: Buffer | undefined;
  /** The v5 enhanced authentication method that already succeeded, if any. */
  authenticationMethod: string | undefined;
}

export type AuthenticateVerdict =
  /**
   * `username`: the identity the credentials stand for (a token's subject); it becomes the MQTT user
   * name. `expiresAt`: clock time (ms) the credentials run out (a token's `exp`): the broker closes
   * the connection then, unless a v5 re-authentication renewed them.
   */
  | { verdict: 'allow'; username?: string; expiresAt?: number }
  | { verdict: 'deny'; /** v5 reason code; default 0x86 Bad User Name or Password */ reasonCode?: number };

/** Return undefined for "no opinion"; with no opinion from anyone, the anonymous policy decides. */
export type AuthenticateHook = (req: AuthenticateRequest, signal: AbortSignal) =>
  AuthenticateVerdict | undefined | Promise<AuthenticateVerdict | undefined>;

export interface PublishRequest {
  topic: string;
  qos: QoS;
  retain: boolean;
  payload: Buffer;
}

/** false refuses (0x87 Not authorized); true or undefined allows. */
export type AuthorizePublishHook = (client: ClientInfo, message: PublishRequest, signal: AbortSignal) =>
  boolean | undefined | Promise<boolean | undefined>;

/** false refuses (SUBACK 0x87); a QoS grants at most that QoS; true or undefined allows. */
export type AuthorizeSubscribeHook = (client: ClientInfo, filter: { topicFilter: string; qos: QoS }, signal: AbortSignal) =>
  boolean | QoS | undefined | Promise<boolean | QoS | undefined>;

/** One step of a v5 AUTH exchange (spec 4.12) for one authentication method. */
export interface EnhancedAuthStep {
  client: ClientInfo;
  data: Buffer | undefined;
  /** True for re-authentication of a connected client [4.12.1]. */
  reauthenticate: boolean;
  /** Per-connection scratch space kept across the steps of one exchange. */
  state: Record<string, unknown>;
}

export type EnhancedAuthResult =
  /** `username` and `expiresAt` as in AuthenticateVerdict; on re-authentication `expiresAt` renews. */
  | { result: 'success'; data?: Buffer; username?: string; expiresAt?: number }
  | { result: 'continue'; data?: Buffer }
  | { result: 'fail'; reasonCode?: number };

export interface EnhancedAuthHandler {
  method: string;
  step(s: EnhancedAuthStep): EnhancedAuthResult | Promise<EnhancedAuthResult>;
}

export interface BrokerHooks {
  authenticate: AuthenticateHook[];
  authorizePublish: AuthorizePublishHook[];
  authorizeSubscribe: AuthorizeSubscribeHook[];
  enhancedAuth: Map<string, EnhancedAuthHandler>;
}

export function emptyHooks(): BrokerHooks {
  return { authenticate: [], authorizePublish: [], authorizeSubscribe: [], enhancedAuth: new Map() };
}

/** Asks every hook; stays synchronous unless one of them answers with a Promise. */
export function askAll<T>(answers: Array<T | Promise<T>>): T[] | Promise<T[]> {
  for (const a of answers) if (a instanceof Promise) return Promise.all(answers);
  return answers as T[];
}
