/**
 * MQTT 5 properties (spec 2.2.2): their identifiers and types, which packet may carry which, and the
 * errors the spec names: an identifier not valid for the packet is Malformed [2.2.2.2]; a property
 * given twice or with a value out of range is a Protocol Error.
 */
import { MoatError, malformed, protocolError } from './errors.js';
import { type Reader, type Writer, MAX_VARINT, binarySize, invalidPacket, utf8Size, varintSize } from './wire.js';

export type UserProperties = Array<[string, string]>;

export interface Properties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** PUBLISH (server → client): every identifier of the matching subscriptions. */
  subscriptionIdentifiers?: number[];
  /** SUBSCRIBE: at most one. */
  subscriptionIdentifier?: number;
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: boolean;
  willDelayInterval?: number;
  requestResponseInformation?: boolean;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: 0 | 1;
  retainAvailable?: boolean;
  userProperties?: UserProperties;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

/** Where a property block sits; each is a bit in the `where` mask of a property. */
export const Ctx = {
  connect: 1 << 0, connack: 1 << 1, publish: 1 << 2, will: 1 << 3, puback: 1 << 4, pubrec: 1 << 5,
  pubrel: 1 << 6, pubcomp: 1 << 7, subscribe: 1 << 8, suback: 1 << 9, unsubscribe: 1 << 10,
  unsuback: 1 << 11, disconnect: 1 << 12, auth: 1 << 13,
} as const;
export type Context = keyof typeof Ctx;

type Kind = 'byte' | 'flag' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';
interface Def { id: number; name: keyof Properties; kind: Kind; where: number }

const C = Ctx;
const ACKS = C.puback | C.pubrec | C.pubrel | C.pubcomp;
const MESSAGE = C.publish | C.will;
const ALL = (1 << 14) - 1;

/** Table 2-4, in identifier order. Properties are written in the order of the object's keys. */
export const PROPERTY_DEFS: readonly Def[] = [
  { id: 0x01, name: 'payloadFormatIndicator', kind: 'flag', where: MESSAGE },
  { id: 0x02, name: 'messageExpiryInterval', kind: 'u32', where: MESSAGE },
  { id: 0x03, name: 'contentType', kind: 'utf8', where: MESSAGE },
  { id: 0x08, name: 'responseTopic', kind: 'utf8', where: MESSAGE },
  { id: 0x09, name: 'correlationData', kind: 'binary', where: MESSAGE },
  { id: 0x0b, name: 'subscriptionIdentifiers', kind: 'varint', where: C.publish },
  { id: 0x0b, name: 'subscriptionIdentifier', kind: 'varint', where: C.subscribe },
  { id: 0x11, name: 'sessionExpiryInterval', kind: 'u32', where: C.connect | C.connack | C.disconnect },
  { id: 0x12, name: 'assignedClientIdentifier', kind: 'utf8', where: C.connack },
  { id: 0x13, name: 'serverKeepAlive', kind: 'u16', where: C.connack },
  { id: 0x15, name: 'authenticationMethod', kind: 'utf8', where: C.connect | C.connack | C.auth },
  { id: 0x16, name: 'authenticationData', kind: 'binary', where: C.connect | C.connack | C.auth },
  { id: 0x17, name: 'requestProblemInformation', kind: 'flag', where: C.connect },
  { id: 0x18, name: 'willDelayInterval', kind: 'u32', where: C.will },
  { id: 0x19, name: 'requestResponseInformation', kind: 'flag', where: C.connect },
  { id: 0x1a, name: 'responseInformation', kind: 'utf8', where: C.connack },
  { id: 0x1c, name: 'serverReference', kind: 'utf8', where: C.connack | C.disconnect },
  { id: 0x1f, name: 'reasonString', kind: 'utf8', where: C.connack | ACKS | C.suback | C.unsuback | C.disconnect | C.auth },
  { id: 0x21, name: 'receiveMaximum', kind: 'u16', where: C.connect | C.connack },
  { id: 0x22, name: 'topicAliasMaximum', kind: 'u16', where: C.connect | C.connack },
  { id: 0x23, name: 'topicAlias', kind: 'u16', where: C.publish },
  { id: 0x24, name: 'maximumQoS', kind: 'byte', where: C.connack },
  { id: 0x25, name: 'retainAvailable', kind: 'flag', where: C.connack },
  { id: 0x26, name: 'userProperties', kind: 'pair', where: ALL },
  { id: 0x27, name: 'maximumPacketSize', kind: 'u32', where: C.connect | C.connack },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', kind: 'flag', where: C.connack },
  { id: 0x29, name: 'subscriptionIdentifiersAvailable', kind: 'flag', where: C.connack },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', kind: 'flag', where: C.connack },
];

const BY_ID: Array<Def[] | undefined> = [];
for (const d of PROPERTY_DEFS) (BY_ID[d.id] ??= []).push(d);
const BY_NAME = new Map<string, Def>(PROPERTY_DEFS.map((d) => [d.name, d]));

type Pick2<K extends keyof Properties> = Pick<Properties, K | 'userProperties'>;
export type ConnectProperties = Pick2<'sessionExpiryInterval' | 'receiveMaximum' | 'maximumPacketSize'
  | 'topicAliasMaximum' | 'requestResponseInformation' | 'requestProblemInformation'
  | 'authenticationMethod' | 'authenticationData'>;
export type WillProperties = Pick2<'willDelayInterval' | 'payloadFormatIndicator' | 'messageExpiryInterval'
  | 'contentType' | 'responseTopic' | 'correlationData'>;
export type ConnackProperties = Pick2<'sessionExpiryInterval' | 'receiveMaximum' | 'maximumQoS'
  | 'retainAvailable' | 'maximumPacketSize' | 'assignedClientIdentifier' | 'topicAliasMaximum'
  | 'reasonString' | 'wildcardSubscriptionAvailable' | 'subscriptionIdentifiersAvailable'
  | 'sharedSubscriptionAvailable' | 'serverKeepAlive' | 'responseInformation' | 'serverReference'
  | 'authenticationMethod' | 'authenticationData'>;
export type PublishProperties = Pick2<'payloadFormatIndicator' | 'messageExpiryInterval' | 'topicAlias'
  | 'responseTopic' | 'correlationData' | 'subscriptionIdentifiers' | 'contentType'>;
export type AckProperties = Pick2<'reasonString'>;
export type SubscribeProperties = Pick2<'subscriptionIdentifier'>;
export type SubackProperties = Pick2<'reasonString'>;
export type UnsubscribeProperties = Pick<Properties, 'userProperties'>;
export type UnsubackProperties = Pick2<'reasonString'>;
export type DisconnectProperties = Pick2<'sessionExpiryInterval' | 'reasonString' | 'serverReference'>;
export type AuthProperties = Pick2<'authenticationMethod' | 'authenticationData' | 'reasonString'>;

/** Reads a property length and the properties after it. Returns undefined when there are none. */
export function readProperties(r: Reader, ctx: Context): Properties | undefined {
  const len = r.varint();
  if (len === 0) return undefined;
  const end = r.pos + len;
  if (end > r.end) throw malformed('property length runs past the packet');
  const mask = Ctx[ctx];
  const out: Record<string, unknown> = {};
  const saved = r.end;
  r.end = end;
  try {
    while (r.pos < end) {
      const id = r.varint();
      const def = BY_ID[id]?.find((d) => (d.where & mask) !== 0);
      if (def === undefined) throw malformed(`property 0x${id.toString(16)} is not valid in ${ctx.toUpperCase()}`);
      readOne(r, def, out);
    }
  } finally {
    r.end = saved;
  }
  checkCombinations(out);
  return out as Properties;
}

function readOne(r: Reader, def: Def, out: Record<string, unknown>): void {
  const name = def.name;
  if (def.kind === 'pair') {
    const list = (out[name] ??= []) as UserProperties;
    list.push([r.utf8(), r.utf8()]);
    return;
  }
  if (name === 'subscriptionIdentifiers') {
    const list = (out[name] ??= []) as number[];
    list.push(subscriptionId(r.varint()));
    return;
  }
  if (out[name] !== undefined) throw protocolError(`property ${name} appears more than once`);
  out[name] = readValue(r, def);
}

function subscriptionId(v: number): number {
  if (v === 0) throw protocolError('subscription identifier 0 [3.8.2.1.2]');
  return v;
}

function readValue(r: Reader, def: Def): unknown {
  switch (def.kind) {
    case 'flag': {
      const v = r.u8();
      if (v > 1) throw protocolError(`${def.name} must be 0 or 1`);
      return v === 1;
    }
    case 'byte': {
      const v = r.u8();
      if (v > 1) throw protocolError(`${def.name} must be 0 or 1`);
      return v;
    }
    case 'u16': {
      const v = r.u16();
      if (v === 0 && def.name === 'receiveMaximum') throw protocolError('receiveMaximum must not be 0');
      if (v === 0 && def.name === 'topicAlias') {
        // [3.3.4] "A Topic Alias of 0 … is a Protocol Error, the receiver uses DISCONNECT with Reason Code 0x94".
        throw new MoatError('MOAT_ERR_TOPIC_ALIAS_INVALID', 'topic alias 0 [MQTT-3.3.2-8]', { reasonCode: 0x94 });
      }
      return v;
    }
    case 'u32': {
      const v = r.u32();
      if (v === 0 && def.name === 'maximumPacketSize') throw protocolError('maximumPacketSize must not be 0');
      return v;
    }
    case 'varint':
      return subscriptionId(r.varint());
    case 'utf8':
      return r.utf8();
    case 'binary':
      return r.binary();
    default:
      throw malformed('unknown property kind');
  }
}

function checkCombinations(p: Properties): void {
  // "It is a Protocol Error to include Authentication Data if there is no Authentication Method."
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    throw protocolError('authenticationData without authenticationMethod');
  }
}

/** Size of the property block including its length prefix. */
export function propertiesSize(p: Properties | undefined, ctx: Context): number {
  if (p === undefined) return 1;
  const n = propertiesBodySize(p, ctx);
  return varintSize(n) + n;
}

export function propertiesBodySize(p: Properties, ctx: Context): number {
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    throw invalidPacket('authenticationData without authenticationMethod');
  }
  const mask = Ctx[ctx];
  let n = 0;
  for (const key in p) {
    const value = (p as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const def = BY_NAME.get(key);
    if (def === undefined || (def.where & mask) === 0) {
      throw invalidPacket(`property ${key} is not valid in ${ctx.toUpperCase()}`);
    }
    n += valueSize(def, value);
  }
  return n;
}

function valueSize(def: Def, value: unknown): number {
  switch (def.kind) {
    case 'flag': return 2;
    case 'byte': return 1 + checkInt(def, value, 1);
    case 'u16': return 1 + checkInt(def, value, 0xffff);
    case 'u32': return 1 + checkInt(def, value, 0xffff_ffff);
    case 'utf8':
      if (def.name === 'responseTopic' && (value === '' || /[+#]/.test(value as string))) {
        throw invalidPacket('response topic must be a topic name without wildcards [MQTT-3.3.2-14]');
      }
      return 1 + utf8Size(value as string);
    case 'varint': {
      if (Array.isArray(value)) {
        let n = 0;
        for (const v of value as number[]) n += 1 + varintSize(checkVarint(v));
        return n;
      }
      return 1 + varintSize(checkVarint(value as number));
    }
    case 'binary': return 1 + binarySize(value as Buffer);
    case 'pair': {
      let n = 0;
      for (const [k, v] of value as UserProperties) n += 1 + utf8Size(k) + utf8Size(v);
      return n;
    }
  }
}

/** Returns the encoded size of an integer property after checking its range. */
function checkInt(def: Def, v: unknown, max: number): number {
  const nonZero = def.name === 'receiveMaximum' || def.name === 'topicAlias' || def.name === 'maximumPacketSize';
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (nonZero ? 1 : 0) || v > max) {
    throw invalidPacket(`property ${def.name} out of range: ${String(v)}`);
  }
  return max === 1 ? 1 : max === 0xffff ? 2 : 4;
}

function checkVarint(v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > MAX_VARINT) throw invalidPacket('subscription identifier out of range');
  return v;
}

export function writeProperties(w: Writer, p: Properties | undefined, bodySize: number): void {
  w.varint(bodySize);
  if (p === undefined) return;
  for (const key in p) {
    const value = (p as Record<string, unknown>)[key];
    if (value === undefined) continue;
    writeValue(w, BY_NAME.get(key)!, value);
  }
}

function writeValue(w: Writer, def: Def, value: unknown): void {
  switch (def.kind) {
    case 'flag': w.u8(def.id); w.u8(value ? 1 : 0); return;
    case 'byte': w.u8(def.id); w.u8(value as number); return;
    case 'u16': w.u8(def.id); w.u16(value as number); return;
    case 'u32': w.u8(def.id); w.u32(value as number); return;
    case 'varint':
      for (const v of Array.isArray(value) ? (value as number[]) : [value as number]) { w.u8(def.id); w.varint(v); }
      return;
    case 'utf8': w.u8(def.id); w.utf8(value as string); return;
    case 'binary': w.u8(def.id); w.binary(value as Buffer); return;
    case 'pair':
      for (const [k, v] of value as UserProperties) { w.u8(def.id); w.utf8(k); w.utf8(v); }
      return;
  }
}
