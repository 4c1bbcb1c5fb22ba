/**
 * The client's error codes (docs/errors.md). Every failure the client reports is a MoatError with one
 * of these codes, or a codec code (MOAT_ERR_PACKET_TOO_LARGE, MOAT_ERR_QOS_NOT_SUPPORTED, …).
 */
import { MoatError, ReasonCode } from '../codec/index.js';

export const ClientErr = {
  connectFailed: 'MOAT_ERR_CONNECT_FAILED',
  connectTimeout: 'MOAT_ERR_CONNECT_TIMEOUT',
  connectRefused: 'MOAT_ERR_CONNECT_REFUSED',
  tlsVerify: 'MOAT_ERR_TLS_VERIFY',
  connectionLost: 'MOAT_ERR_CONNECTION_LOST',
  keepAliveTimeout: 'MOAT_ERR_KEEPALIVE_TIMEOUT',
  serverDisconnect: 'MOAT_ERR_SERVER_DISCONNECT',
  publishRefused: 'MOAT_ERR_PUBLISH_REFUSED',
  subscribeRefused: 'MOAT_ERR_SUBSCRIBE_REFUSED',
  queueFull: 'MOAT_ERR_QUEUE_FULL',
  clientClosed: 'MOAT_ERR_CLIENT_CLOSED',
  requestTimeout: 'MOAT_ERR_REQUEST_TIMEOUT',
  authFailed: 'MOAT_ERR_AUTH_FAILED',
  invalidTopic: 'MOAT_ERR_INVALID_TOPIC',
  config: 'MOAT_ERR_CONFIG',
  packetTooLarge: 'MOAT_ERR_PACKET_TOO_LARGE',
  qosNotSupported: 'MOAT_ERR_QOS_NOT_SUPPORTED',
  retainNotSupported: 'MOAT_ERR_RETAIN_NOT_SUPPORTED',
  protocolError: 'MOAT_ERR_PROTOCOL_ERROR',
} as const;

export function clientError(code: string, message: string, reasonCode?: number, cause?: unknown): MoatError {
  return new MoatError(code, message, { reasonCode, cause });
}

const words = (name: string): string => name.replace(/QoS/g, ' Qos ').replace(/([a-z])([A-Z])/g, '$1 $2').trim()
  .split(/\s+/).map((w, i) => (w === 'Qos' ? 'QoS' : i === 0 ? w : w.toLowerCase())).join(' ');
const NAMES = new Map<number, string>(Object.entries(ReasonCode).map(([name, code]) => [code, words(name)]));

/** `0x87 (Not authorized)`: the code programs match, the name people read. */
export const hex = (n: number): string => {
  const name = NAMES.get(n);
  return `0x${n.toString(16).padStart(2, '0').toUpperCase()}${name ? ` (${name})` : ''}`;
};
