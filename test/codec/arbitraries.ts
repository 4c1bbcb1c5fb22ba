/**
 * fast-check arbitraries for MQTT packets in the codec's canonical decoded shape: what
 * `decodeAll(encodePacket(p, v))` must give back unchanged.
 *
 * - MQTT 5 properties only where Table 2-4 of the spec allows them (written out here from the spec,
 *   not derived from the codec's PROPERTY_DEFS, so a wrong table in the codec shows up), values in the
 *   ranges the receiver accepts, `properties` absent rather than `{}`, user properties as [k, v] pairs.
 * - Strings well-formed, no U+0000; topic names non-empty without wildcards; filters built from
 *   words, '+' and a final '#', sometimes `$share/{group}/`.
 * - v5 acks, DISCONNECT and AUTH always carry `reasonCode`; v3/v4 never do.
 */
import fc from 'fast-check';
import {
  type AuthPacket, type ConnackPacket, type ConnectPacket, type Context, type DisconnectPacket,
  type Packet, type Properties, type ProtocolVersion, type PublishPacket, type PublishProperties, type QoS,
  type SubackPacket, type SubscribePacket, type Subscription, type UnsubackPacket, type UnsubscribePacket,
  type Will, type AckPacket, V4_VALID_CONNACK, V4_VALID_SUBACK, VALID_REASON_CODES,
} from '../../src/codec/index.js';

/**
 * A plain-object copy of `o` without the keys whose value is undefined, so packets compare equal to
 * decoded ones with deepStrictEqual (fc.record builds null-prototype objects, which never would).
 */
export function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

const codes = (set: ReadonlySet<number>): fc.Arbitrary<number> => fc.constantFrom(...[...set]);

// ---------------------------------------------------------------------------------------------- scalars

/** Integers in [min, max], often at the edges (where a flipped or zeroed byte makes 0 or overflows). */
const int = (min: number, max: number): fc.Arbitrary<number> => fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min, max }) },
  { weight: 1, arbitrary: fc.constantFrom(min, min + 1, 255, 256, max) },
);

export const u16 = int(0, 0xffff);
export const u32 = int(0, 0xffff_ffff);
export const packetId = int(1, 0xffff);
export const qos: fc.Arbitrary<QoS> = fc.constantFrom(0, 1, 2);
export const subscriptionId = fc.oneof(
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 1, max: 268_435_455 }),
  fc.constantFrom(127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455),
);

/** Well-formed strings without U+0000, from ASCII, whole graphemes and any code point. */
export function mqttString(maxLength = 8): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'grapheme-ascii', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom('\uFEFF', 'a\uFEFFb', '\uFFFF', '\u{10FFFF}', '\u{1F600}', '\u0080', '\u07FF', '\u0800'),
  ).filter((s) => !s.includes('\0'));
}

export function binary(maxLength = 16, minLength = 0): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ minLength, maxLength }).map((u) => Buffer.from(u));
}

export const payload: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: binary(32) },
  { weight: 1, arbitrary: binary(300) },
);

// ------------------------------------------------------------------------------------ topics and filters

/** One level of a topic name or filter: any string without '/', '+', '#' or U+0000 (may be empty). */
export const word: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: mqttString(6).map((s) => s.replace(/[/+#]/g, '_')) },
  { weight: 1, arbitrary: fc.constantFrom('', '$SYS', '$share', '$', 'a', 'sport', 'ü', ' ') },
);

export const topicName: fc.Arbitrary<string> = fc.array(word, { minLength: 1, maxLength: 4 })
  .map((levels) => levels.join('/'))
  .filter((t) => t.length > 0);

const filterLevel = fc.oneof({ weight: 3, arbitrary: word }, { weight: 1, arbitrary: fc.constant('+') });

const plainFilter: fc.Arbitrary<string> = fc.tuple(fc.array(filterLevel, { maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  // "$share/..." would be read as a shared subscription: those come from sharedFilter only.
  .filter((f) => f.length > 0 && !f.startsWith('$share/'));

const shareGroup = word.filter((g) => g.length > 0);

export const sharedFilter: fc.Arbitrary<string> = fc.tuple(shareGroup, plainFilter)
  .map(([group, f]) => `$share/${group}/${f}`);

export const topicFilter: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: plainFilter },
  { weight: 1, arbitrary: sharedFilter },
);

export const isShared = (f: string): boolean => f.startsWith('$share/');

// ------------------------------------------------------------------------------------------- properties

const str = mqttString(8);
const bool = fc.boolean();

/** A value arbitrary per property, in ranges the decoder accepts (Receive Maximum, Topic Alias, … ≠ 0). */
const PROPERTY_VALUES: { [K in keyof Required<Properties>]: fc.Arbitrary<Required<Properties>[K]> } = {
  payloadFormatIndicator: bool,
  messageExpiryInterval: u32,
  contentType: str,
  responseTopic: topicName,
  correlationData: binary(16),
  subscriptionIdentifiers: fc.array(subscriptionId, { minLength: 1, maxLength: 3 }),
  subscriptionIdentifier: subscriptionId,
  sessionExpiryInterval: u32,
  assignedClientIdentifier: str,
  serverKeepAlive: u16,
  authenticationMethod: str,
  authenticationData: binary(16),
  requestProblemInformation: bool,
  willDelayInterval: u32,
  requestResponseInformation: bool,
  responseInformation: str,
  serverReference: str,
  reasonString: str,
  receiveMaximum: int(1, 0xffff),
  topicAliasMaximum: u16,
  topicAlias: int(1, 0xffff),
  maximumQoS: fc.constantFrom(0 as const, 1 as const),
  retainAvailable: bool,
  userProperties: fc.array(fc.tuple(str, str), { minLength: 1, maxLength: 3 }),
  maximumPacketSize: int(1, 0xffff_ffff),
  wildcardSubscriptionAvailable: bool,
  subscriptionIdentifiersAvailable: bool,
  sharedSubscriptionAvailable: bool,
};

type Name = keyof Properties;
const MESSAGE: Name[] = ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData'];
const ACK: Name[] = ['reasonString', 'userProperties'];

/** MQTT 5.0 Table 2-4: which property each packet (or the will) may carry. */
export const ALLOWED_PROPERTIES: Record<Context, Name[]> = {
  connect: ['sessionExpiryInterval', 'authenticationMethod', 'authenticationData', 'requestProblemInformation',
    'requestResponseInformation', 'receiveMaximum', 'topicAliasMaximum', 'userProperties', 'maximumPacketSize'],
  connack: ['sessionExpiryInterval', 'assignedClientIdentifier', 'serverKeepAlive', 'authenticationMethod',
    'authenticationData', 'responseInformation', 'serverReference', 'reasonString', 'receiveMaximum',
    'topicAliasMaximum', 'maximumQoS', 'retainAvailable', 'userProperties', 'maximumPacketSize',
    'wildcardSubscriptionAvailable', 'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable'],
  publish: [...MESSAGE, 'subscriptionIdentifiers', 'topicAlias', 'userProperties'],
  will: [...MESSAGE, 'willDelayInterval', 'userProperties'],
  puback: ACK, pubrec: ACK, pubrel: ACK, pubcomp: ACK, suback: ACK, unsuback: ACK,
  subscribe: ['subscriptionIdentifier', 'userProperties'],
  unsubscribe: ['userProperties'],
  disconnect: ['sessionExpiryInterval', 'serverReference', 'reasonString', 'userProperties'],
  auth: ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties'],
};

/** Properties for `ctx`, or undefined (never `{}`). */
export function propertiesArb<P extends Properties>(ctx: Context): fc.Arbitrary<P | undefined> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const name of ALLOWED_PROPERTIES[ctx]) model[name] = PROPERTY_VALUES[name];
  const some = fc.record(model, { requiredKeys: [], noNullPrototype: true }).map((raw) => {
    const p = { ...raw } as Properties;
    // Authentication Data without Authentication Method is a Protocol Error [3.1.2.11.10].
    if (p.authenticationMethod === undefined) delete p.authenticationData;
    return Object.keys(p).length === 0 ? undefined : (p as P);
  });
  return fc.option(some, { nil: undefined, freq: 3 });
}

// ----------------------------------------------------------------------------------------------- packets

export type Version = ProtocolVersion;

export function willArb(v: Version): fc.Arbitrary<Will> {
  return fc.record({
    topic: topicName,
    payload: binary(24),
    qos,
    retain: bool,
    properties: v === 5 ? propertiesArb<NonNullable<Will['properties']>>('will') : fc.constant(undefined),
  }).map((w) => compact<Will>(w));
}

export function connectArb(v: Version): fc.Arbitrary<ConnectPacket> {
  return fc.record({
    clean: bool,
    keepAlive: u16,
    clientId: mqttString(12),
    will: fc.option(willArb(v), { nil: undefined }),
    username: fc.option(str, { nil: undefined }),
    password: fc.option(binary(16), { nil: undefined }),
    properties: v === 5 ? propertiesArb<NonNullable<ConnectPacket['properties']>>('connect') : fc.constant(undefined),
  }).map((r) => {
    const p: ConnectPacket = compact({
      type: 'connect', protocolName: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, ...r,
    });
    // 3.1 / 3.1.1: no password without a user name [MQTT-3.1.2-22].
    if (v < 5 && p.username === undefined) delete p.password;
    return p;
  });
}

export function connackArb(v: Version): fc.Arbitrary<ConnackPacket> {
  return fc.record({
    sessionPresent: bool,
    reasonCode: codes(v === 5 ? VALID_REASON_CODES.connack : V4_VALID_CONNACK),
    properties: v === 5 ? propertiesArb<NonNullable<ConnackPacket['properties']>>('connack') : fc.constant(undefined),
  }).map((r) => compact<ConnackPacket>({
    type: 'connack', ...r,
    // Session Present must be 0 with a non-zero reason code [MQTT-3.2.2-6].
    sessionPresent: r.reasonCode === 0 && r.sessionPresent,
  }));
}

export function publishArb(v: Version): fc.Arbitrary<PublishPacket> {
  return fc.record({
    topic: topicName,
    omitTopic: bool,
    payload,
    qos,
    retain: bool,
    dup: bool,
    packetId,
    properties: v === 5 ? propertiesArb<PublishProperties>('publish') : fc.constant(undefined),
  }).map(({ omitTopic, ...r }) => compact<PublishPacket>({
    type: 'publish',
    ...r,
    // v5: an empty topic name with a Topic Alias [MQTT-3.3.2-1] [3.3.2.3.4].
    topic: omitTopic && r.properties?.topicAlias !== undefined ? '' : r.topic,
    dup: r.qos > 0 && r.dup,
    packetId: r.qos > 0 ? r.packetId : undefined,
  }));
}

export function ackArb(v: Version): fc.Arbitrary<AckPacket> {
  return fc.constantFrom('puback' as const, 'pubrec' as const, 'pubrel' as const, 'pubcomp' as const).chain((type) =>
    fc.record({
      packetId,
      reasonCode: v === 5 ? codes(VALID_REASON_CODES[type]) : fc.constant(undefined),
      properties: v === 5 ? propertiesArb<NonNullable<AckPacket['properties']>>(type) : fc.constant(undefined),
    }).map((r) => compact({ type, ...r }) as AckPacket));
}

function subscriptionArb(v: Version): fc.Arbitrary<Subscription> {
  return fc.record({
    topicFilter,
    qos,
    noLocal: bool,
    retainAsPublished: bool,
    retainHandling: fc.constantFrom(0 as const, 1 as const, 2 as const),
  }).map((s): Subscription => (v === 5
    // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
    ? { ...s, noLocal: s.noLocal && !isShared(s.topicFilter) }
    : { topicFilter: s.topicFilter, qos: s.qos }));
}

export function subscribeArb(v: Version): fc.Arbitrary<SubscribePacket> {
  return fc.record({
    packetId,
    subscriptions: fc.array(subscriptionArb(v), { minLength: 1, maxLength: 4 }),
    properties: v === 5 ? propertiesArb<NonNullable<SubscribePacket['properties']>>('subscribe') : fc.constant(undefined),
  }).map((r) => compact<SubscribePacket>({ type: 'subscribe', ...r }));
}

export function subackArb(v: Version): fc.Arbitrary<SubackPacket> {
  return fc.record({
    packetId,
    reasonCodes: fc.array(codes(v === 5 ? VALID_REASON_CODES.suback : V4_VALID_SUBACK), { minLength: 1, maxLength: 4 }),
    properties: v === 5 ? propertiesArb<NonNullable<SubackPacket['properties']>>('suback') : fc.constant(undefined),
  }).map((r) => compact<SubackPacket>({ type: 'suback', ...r }));
}

export function unsubscribeArb(v: Version): fc.Arbitrary<UnsubscribePacket> {
  return fc.record({
    packetId,
    topicFilters: fc.array(topicFilter, { minLength: 1, maxLength: 4 }),
    properties: v === 5 ? propertiesArb<NonNullable<UnsubscribePacket['properties']>>('unsubscribe') : fc.constant(undefined),
  }).map((r) => compact<UnsubscribePacket>({ type: 'unsubscribe', ...r }));
}

export function unsubackArb(v: Version): fc.Arbitrary<UnsubackPacket> {
  if (v !== 5) return packetId.map((id): UnsubackPacket => ({ type: 'unsuback', packetId: id, reasonCodes: [] }));
  return fc.record({
    packetId,
    reasonCodes: fc.array(codes(VALID_REASON_CODES.unsuback), { minLength: 1, maxLength: 4 }),
    properties: propertiesArb<NonNullable<UnsubackPacket['properties']>>('unsuback'),
  }).map((r) => compact<UnsubackPacket>({ type: 'unsuback', ...r }));
}

export function disconnectArb(v: Version): fc.Arbitrary<DisconnectPacket> {
  if (v !== 5) return fc.constant<DisconnectPacket>({ type: 'disconnect' });
  return fc.record({
    reasonCode: codes(VALID_REASON_CODES.disconnect),
    properties: propertiesArb<NonNullable<DisconnectPacket['properties']>>('disconnect'),
  }).map((r) => compact<DisconnectPacket>({ type: 'disconnect', ...r }));
}

export function authArb(): fc.Arbitrary<AuthPacket> {
  return fc.record({
    reasonCode: codes(VALID_REASON_CODES.auth),
    properties: propertiesArb<NonNullable<AuthPacket['properties']>>('auth'),
    method: str,
  }).map(({ method, ...r }) => {
    // Only the bare Success form may omit the Authentication Method [3.15.2.2.2].
    if ((r.reasonCode !== 0 || r.properties !== undefined) && r.properties?.authenticationMethod === undefined) {
      r.properties = { authenticationMethod: method, ...r.properties };
    }
    return compact<AuthPacket>({ type: 'auth', ...r });
  });
}

/** Any packet valid on a connection of version `v` (3: CONNECT is MQTT 3.1, the rest as 3.1.1). */
export function packetArb(v: Version): fc.Arbitrary<Packet> {
  const arbs: Array<fc.Arbitrary<Packet>> = [
    connectArb(v), connackArb(v), publishArb(v), ackArb(v), subscribeArb(v), subackArb(v),
    unsubscribeArb(v), unsubackArb(v), fc.constant({ type: 'pingreq' }), fc.constant({ type: 'pingresp' }),
    disconnectArb(v),
  ];
  if (v === 5) arbs.push(authArb());
  return fc.oneof(...arbs);
}

export const version: fc.Arbitrary<Version> = fc.constantFrom(3, 4, 5);
