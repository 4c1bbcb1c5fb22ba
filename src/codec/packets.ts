/**
 * MQTT 3.1, 3.1.1 and 5.0 control packets as one discriminated union keyed by `type`.
 * Fields that exist only in MQTT 5 are optional; the encoder ignores them for 3.1.1.
 */
import type {
  AuthProperties, ConnackProperties, ConnectProperties, DisconnectProperties, PublishProperties,
  AckProperties, SubackProperties, SubscribeProperties, UnsubackProperties, UnsubscribeProperties,
  WillProperties,
} from './properties.js';

/** 3 = MQTT 3.1 ("MQIsdp"), 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;
export type RetainHandling = 0 | 1 | 2;

export const PacketType = {
  connect: 1, connack: 2, publish: 3, puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7,
  subscribe: 8, suback: 9, unsubscribe: 10, unsuback: 11, pingreq: 12, pingresp: 13,
  disconnect: 14, auth: 15,
} as const;
export type PacketTypeName = keyof typeof PacketType;

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: WillProperties;
}

export interface ConnectPacket {
  type: 'connect';
  protocolName: 'MQTT' | 'MQIsdp';
  protocolVersion: ProtocolVersion;
  /** Clean Start (v5) / Clean Session (3.1.1). */
  clean: boolean;
  keepAlive: number;
  clientId: string;
  will?: Will;
  username?: string;
  password?: Buffer;
  properties?: ConnectProperties;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** v5 reason code, or the 3.1.1 return code (0–5). */
  reasonCode: number;
  properties?: ConnackProperties;
}

export interface PublishPacket {
  type: 'publish';
  topic: string;
  /** On decode, a view into the received bytes: copy it before keeping it past the next read. */
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present exactly when qos > 0. */
  packetId?: number;
  properties?: PublishProperties;
}

interface AckBase {
  packetId: number;
  /** v5 only; 0 (Success) when absent. */
  reasonCode?: number;
  properties?: AckProperties;
}
export interface PubackPacket extends AckBase { type: 'puback' }
export interface PubrecPacket extends AckBase { type: 'pubrec' }
export interface PubrelPacket extends AckBase { type: 'pubrel' }
export interface PubcompPacket extends AckBase { type: 'pubcomp' }

export interface Subscription {
  topicFilter: string;
  qos: QoS;
  /** v5 subscription options; false / false / 0 in 3.1.1. */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: RetainHandling;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: SubscribeProperties;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** Granted QoS (0–2) or a failure code (≥ 0x80) per filter, in order. */
  reasonCodes: number[];
  properties?: SubackProperties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topicFilters: string[];
  properties?: UnsubscribeProperties;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** v5 only: one per filter. Empty for 3.1.1. */
  reasonCodes: number[];
  properties?: UnsubackProperties;
}

export interface PingreqPacket { type: 'pingreq' }
export interface PingrespPacket { type: 'pingresp' }

export interface DisconnectPacket {
  type: 'disconnect';
  /** v5 only; 0 (Normal disconnection) when absent. */
  reasonCode?: number;
  properties?: DisconnectProperties;
}

export interface AuthPacket {
  type: 'auth';
  reasonCode: number;
  properties?: AuthProperties;
}

export type Packet =
  | ConnectPacket | ConnackPacket | PublishPacket
  | PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket
  | SubscribePacket | SubackPacket | UnsubscribePacket | UnsubackPacket
  | PingreqPacket | PingrespPacket | DisconnectPacket | AuthPacket;

export type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;
