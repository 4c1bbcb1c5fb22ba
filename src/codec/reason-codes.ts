/** MQTT 5 reason codes (spec 2.4) and which packet may carry which. */

export const ReasonCode = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

const set = (...codes: number[]): ReadonlySet<number> => new Set(codes);

/** Reason codes each MQTT 5 packet may carry (spec tables in 3.2.2.2, 3.4.2.1 … 3.15.2.1). */
export const VALID_REASON_CODES = {
  connack: set(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95,
    0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f),
  puback: set(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
  pubrec: set(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
  pubrel: set(0x00, 0x92),
  pubcomp: set(0x00, 0x92),
  suback: set(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2),
  unsuback: set(0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91),
  disconnect: set(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2),
  auth: set(0x00, 0x18, 0x19),
} as const;

/** MQTT 3.1.1 return codes. */
export const V4_VALID_CONNACK = set(0, 1, 2, 3, 4, 5);
export const V4_VALID_SUBACK = set(0, 1, 2, 0x80);

/**
 * The encoder's check: a reason code the packet may carry in this version, else MOAT_ERR_INVALID_PACKET.
 * (It throws the codec's MoatError without importing wire.ts, to keep this file a leaf.)
 */
export function validReasonCode(
  type: keyof typeof VALID_REASON_CODES, code: number, version: number, fail: (msg: string) => Error,
): number {
  const valid = version === 5 ? VALID_REASON_CODES[type]
    : type === 'connack' ? V4_VALID_CONNACK : type === 'suback' ? V4_VALID_SUBACK : undefined;
  if (!Number.isInteger(code) || (valid !== undefined && !valid.has(code))) {
    throw fail(`${type.toUpperCase()} cannot carry reason code ${String(code)}`);
  }
  return code;
}

/** The 3.1.1 CONNACK return code closest to a v5 CONNACK reason code. */
export function connackReturnCodeV4(reasonCode: number): number {
  switch (reasonCode) {
    case 0x00: return 0;
    case 0x84: return 1; // unacceptable protocol version
    case 0x85: return 2; // identifier rejected
    case 0x88: case 0x89: case 0x8b: case 0x9c: case 0x9d: case 0x9f: return 3; // server unavailable
    case 0x86: case 0x8c: return 4; // bad user name or password
    default: return 5; // not authorized
  }
}
