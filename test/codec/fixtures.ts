/**
 * Tier-1 hex fixtures: one hand-written wire image per packet shape, with the packet it decodes to.
 * Every byte is written out (no encoder involved), so these pin the codec to the spec, not to itself.
 * Where the MQTT 5.0 spec has a figure or example the bytes come from it and the name cites it.
 *
 * Each fixture is canonical: encodePacket(decoded, version) must give back exactly these bytes (the
 * encoder picks the shortest ack / DISCONNECT / AUTH form, so short forms are written short).
 */
import type { Packet, ProtocolVersion } from '../../src/codec/index.js';
import { hex } from '../support/bytes.js';

export interface Fixture {
  name: string;
  /** 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0: the decoder's and encoder's version. */
  version: ProtocolVersion;
  /** Whitespace-separated hex; `|` may separate fields for readability. */
  hex: string;
  packet: Packet;
}

export { hex } from '../support/bytes.js';

/** UTF-8 bytes of a string (payloads, passwords, correlation data). */
const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const bytes = (...v: number[]): Buffer => Buffer.from(v);

/** 200 bytes of 0xab: a payload that needs a two-byte Remaining Length. */
const AB200 = ' ab'.repeat(200);

// ---------------------------------------------------------------------------------------------
// MQTT 3.1 (protocol name "MQIsdp", level 3)
// ---------------------------------------------------------------------------------------------
export const V3_FIXTURES: Fixture[] = [
  {
    name: 'CONNECT 3.1 "MQIsdp" level 3, clean session, no will/user/password',
    version: 3,
    hex: '10 10 | 00 06 4d 51 49 73 64 70 | 03 | 02 | 00 3c | 00 02 63 31',
    packet: { type: 'connect', protocolName: 'MQIsdp', protocolVersion: 3, clean: true, keepAlive: 60, clientId: 'c1' },
  },
  {
    name: 'CONNECT 3.1 "MQIsdp" level 3 with will (QoS 1, retain), user name and password',
    version: 3,
    // flags 0xee = user | password | will retain | will QoS 1 | will | clean
    hex: '10 21 | 00 06 4d 51 49 73 64 70 | 03 | ee | 00 0a | 00 02 63 31 | 00 03 77 2f 74 | 00 03 62 79 65'
      + ' | 00 01 75 | 00 02 01 02',
    packet: {
      type: 'connect', protocolName: 'MQIsdp', protocolVersion: 3, clean: true, keepAlive: 10, clientId: 'c1',
      will: { topic: 'w/t', payload: b('bye'), qos: 1, retain: true },
      username: 'u', password: bytes(1, 2),
    },
  },
  {
    name: 'CONNACK 3.1 return code 2 (identifier rejected)',
    version: 3,
    hex: '20 02 | 00 | 02',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 2 },
  },
];

// ---------------------------------------------------------------------------------------------
// MQTT 3.1.1 (level 4)
// ---------------------------------------------------------------------------------------------
export const V4_FIXTURES: Fixture[] = [
  {
    name: 'CONNECT 3.1.1 clean session, keep alive 60, no will/user/password',
    version: 4,
    hex: '10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 3c | 00 02 63 31',
    packet: { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepAlive: 60, clientId: 'c1' },
  },
  {
    name: 'CONNECT 3.1.1 with will (QoS 2, empty payload), user name and password, clean 0, keep alive 0',
    version: 4,
    // flags 0xd4 = user | password | will QoS 2 | will
    hex: '10 1f | 00 04 4d 51 54 54 | 04 | d4 | 00 00 | 00 02 69 64 | 00 03 61 2f 62 | 00 00'
      + ' | 00 04 75 73 65 72 | 00 02 70 77',
    packet: {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: false, keepAlive: 0, clientId: 'id',
      will: { topic: 'a/b', payload: Buffer.alloc(0), qos: 2, retain: false },
      username: 'user', password: b('pw'),
    },
  },
  {
    name: 'CONNACK 3.1.1 session present, accepted',
    version: 4,
    hex: '20 02 | 01 | 00',
    packet: { type: 'connack', sessionPresent: true, reasonCode: 0 },
  },
  {
    name: 'CONNACK 3.1.1 return code 5 (not authorized)',
    version: 4,
    hex: '20 02 | 00 | 05',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 5 },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 0 (no packet identifier)',
    version: 4,
    hex: '30 07 | 00 03 61 2f 62 | 68 69',
    packet: { type: 'publish', topic: 'a/b', payload: b('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 1 retain, topic "a/b" packet id 10 (3.3.2 Figure 3-9 without properties)',
    version: 4,
    hex: '33 09 | 00 03 61 2f 62 | 00 0a | 68 69',
    packet: { type: 'publish', topic: 'a/b', payload: b('hi'), qos: 1, retain: true, dup: false, packetId: 10 },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 2 DUP, packet id 65535, empty payload',
    version: 4,
    hex: '3c 07 | 00 03 61 2f 62 | ff ff',
    packet: { type: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 2, retain: false, dup: true, packetId: 65535 },
  },
  {
    name: 'PUBLISH 3.1.1 topic "A\\u{2A6D4}" (1.5.4 Figure 1-2 UTF-8 example)',
    version: 4,
    hex: '30 07 | 00 05 41 f0 aa 9b 94',
    packet: { type: 'publish', topic: 'A\u{2A6D4}', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 3.1.1 with a two-byte Remaining Length of 203 (1.5.5 Table 1-1: 0xcb 0x01)',
    version: 4,
    hex: '30 cb 01 | 00 01 74 |' + AB200,
    packet: { type: 'publish', topic: 't', payload: Buffer.alloc(200, 0xab), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBACK 3.1.1',
    version: 4,
    hex: '40 02 | 00 0a',
    packet: { type: 'puback', packetId: 10 },
  },
  {
    name: 'PUBREC 3.1.1',
    version: 4,
    hex: '50 02 | 00 0a',
    packet: { type: 'pubrec', packetId: 10 },
  },
  {
    name: 'PUBREL 3.1.1 (fixed header flags 0010)',
    version: 4,
    hex: '62 02 | 00 0a',
    packet: { type: 'pubrel', packetId: 10 },
  },
  {
    name: 'PUBCOMP 3.1.1',
    version: 4,
    hex: '70 02 | 00 0a',
    packet: { type: 'pubcomp', packetId: 10 },
  },
  {
    name: 'SUBSCRIBE 3.1.1 "a/b" QoS 1, "c/d" QoS 2, packet id 10 (3.8.3 Figure 3-21 payload)',
    version: 4,
    hex: '82 0e | 00 0a | 00 03 61 2f 62 01 | 00 03 63 2f 64 02',
    packet: {
      type: 'subscribe', packetId: 10,
      subscriptions: [{ topicFilter: 'a/b', qos: 1 }, { topicFilter: 'c/d', qos: 2 }],
    },
  },
  {
    name: 'SUBSCRIBE 3.1.1 wildcard filter "+/tennis/#" QoS 0 (4.7.1 examples)',
    version: 4,
    hex: '82 0f | 00 01 | 00 0a 2b 2f 74 65 6e 6e 69 73 2f 23 00',
    packet: { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '+/tennis/#', qos: 0 }] },
  },
  {
    name: 'SUBACK 3.1.1 granted QoS 1, 2 and failure 0x80',
    version: 4,
    hex: '90 05 | 00 0a | 01 02 80',
    packet: { type: 'suback', packetId: 10, reasonCodes: [1, 2, 0x80] },
  },
  {
    name: 'UNSUBSCRIBE 3.1.1 "a/b", "c/d" (3.10.3 Figure 3.30 payload)',
    version: 4,
    hex: 'a2 0c | 00 0a | 00 03 61 2f 62 | 00 03 63 2f 64',
    packet: { type: 'unsubscribe', packetId: 10, topicFilters: ['a/b', 'c/d'] },
  },
  {
    name: 'UNSUBACK 3.1.1 (packet identifier only)',
    version: 4,
    hex: 'b0 02 | 00 0a',
    packet: { type: 'unsuback', packetId: 10, reasonCodes: [] },
  },
  { name: 'PINGREQ 3.1.1', version: 4, hex: 'c0 00', packet: { type: 'pingreq' } },
  { name: 'PINGRESP 3.1.1', version: 4, hex: 'd0 00', packet: { type: 'pingresp' } },
  { name: 'DISCONNECT 3.1.1', version: 4, hex: 'e0 00', packet: { type: 'disconnect' } },
];

// ---------------------------------------------------------------------------------------------
// MQTT 5.0
// ---------------------------------------------------------------------------------------------
export const V5_FIXTURES: Fixture[] = [
  {
    name: 'CONNECT 5.0 variable header of 3.1.2.12 Figure 3-6 (flags 0xce, keep alive 10, Session Expiry 10 [3.1.2.11.2]) + will/user/password payload',
    version: 5,
    hex: '10 21 | 00 04 4d 51 54 54 | 05 | ce | 00 0a | 05 11 00 00 00 0a'
      + ' | 00 02 63 31 | 00 | 00 01 77 | 00 01 78 | 00 01 75 | 00 01 70',
    packet: {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 10, clientId: 'c1',
      properties: { sessionExpiryInterval: 10 },
      will: { topic: 'w', payload: b('x'), qos: 1, retain: false },
      username: 'u', password: b('p'),
    },
  },
  {
    name: 'CONNECT 5.0 minimal: no will, user name, password or properties, empty client id',
    version: 5,
    hex: '10 0d | 00 04 4d 51 54 54 | 05 | 02 | 00 3c | 00 | 00 00',
    packet: { type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 60, clientId: '' },
  },
  {
    name: 'CONNECT 5.0 user name only (3.1.2.8), no properties',
    version: 5,
    hex: '10 11 | 00 04 4d 51 54 54 | 05 | 82 | 00 00 | 00 | 00 01 63 | 00 01 75',
    packet: { type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'c', username: 'u' },
  },
  {
    name: 'CONNECT 5.0 all CONNECT properties (3.1.2.11), will with all will properties (3.1.3.2), password without user name (3.1.2.9)',
    version: 5,
    // flags 0x74 = password | will retain | will QoS 2 | will; keep alive 300
    hex: '10 7d | 00 04 4d 51 54 54 | 05 | 74 | 01 2c'
      + ' | 23 | 15 00 05 53 43 52 41 4d | 16 00 02 01 02 | 17 00 | 19 01 | 21 00 14 | 22 00 0a'
      + ' | 26 00 01 6b 00 01 76 | 27 00 00 40 00'
      + ' | 00 05 64 65 76 2d 31'
      + ' | 2b | 01 01 | 02 00 00 0e 10 | 03 00 0a 74 65 78 74 2f 70 6c 61 69 6e | 08 00 03 72 2f 31'
      + ' | 09 00 02 ca fe | 18 00 00 00 3c | 26 00 01 61 00 01 62'
      + ' | 00 0c 64 65 76 2f 31 2f 73 74 61 74 75 73 | 00 07 6f 66 66 6c 69 6e 65 | 00 03 73 33 63',
    packet: {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: false, keepAlive: 300, clientId: 'dev-1',
      properties: {
        authenticationMethod: 'SCRAM', authenticationData: bytes(1, 2), requestProblemInformation: false,
        requestResponseInformation: true, receiveMaximum: 20, topicAliasMaximum: 10,
        userProperties: [['k', 'v']], maximumPacketSize: 16384,
      },
      will: {
        topic: 'dev/1/status', payload: b('offline'), qos: 2, retain: true,
        properties: {
          payloadFormatIndicator: true, messageExpiryInterval: 3600, contentType: 'text/plain', responseTopic: 'r/1',
          correlationData: bytes(0xca, 0xfe), willDelayInterval: 60, userProperties: [['a', 'b']],
        },
      },
      password: b('s3c'),
    },
  },
  {
    name: 'CONNACK 5.0 success, no properties',
    version: 5,
    hex: '20 03 | 00 | 00 | 00',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'CONNACK 5.0 session present with every CONNACK property (3.2.2.3)',
    version: 5,
    hex: '20 46 | 01 | 00 | 43'
      + ' | 11 00 00 00 78 | 12 00 04 61 75 74 6f | 13 00 1e | 15 00 01 4d | 16 00 01 00 | 1a 00 02 72 2f'
      + ' | 1c 00 03 68 3a 31 | 1f 00 02 6f 6b | 21 00 0a | 22 00 05 | 24 01 | 25 00 | 26 00 01 78 00 01 79'
      + ' | 27 00 01 00 00 | 28 01 | 29 00 | 2a 01',
    packet: {
      type: 'connack', sessionPresent: true, reasonCode: 0,
      properties: {
        sessionExpiryInterval: 120, assignedClientIdentifier: 'auto', serverKeepAlive: 30, authenticationMethod: 'M',
        authenticationData: bytes(0), responseInformation: 'r/', serverReference: 'h:1', reasonString: 'ok',
        receiveMaximum: 10, topicAliasMaximum: 5, maximumQoS: 1, retainAvailable: false,
        userProperties: [['x', 'y']], maximumPacketSize: 65536, wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false, sharedSubscriptionAvailable: true,
      },
    },
  },
  {
    name: 'CONNACK 5.0 reason code 0x87 (not authorized)',
    version: 5,
    hex: '20 03 | 00 | 87 | 00',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0x87 },
  },
  {
    name: 'PUBLISH 5.0 QoS 1, topic "a/b", packet id 10, no properties (3.3.2 Figure 3-9)',
    version: 5,
    hex: '32 0a | 00 03 61 2f 62 | 00 0a | 00 | 68 69',
    packet: { type: 'publish', topic: 'a/b', payload: b('hi'), qos: 1, retain: false, dup: false, packetId: 10 },
  },
  {
    name: 'PUBLISH 5.0 QoS 0 retain',
    version: 5,
    hex: '31 08 | 00 03 61 2f 62 | 00 | 6f 6e',
    packet: { type: 'publish', topic: 'a/b', payload: b('on'), qos: 0, retain: true, dup: false },
  },
  {
    name: 'PUBLISH 5.0 QoS 2 DUP, empty payload',
    version: 5,
    hex: '3c 08 | 00 03 61 2f 62 | 12 34 | 00',
    packet: { type: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 2, retain: false, dup: true, packetId: 0x1234 },
  },
  {
    name: 'PUBLISH 5.0 with message properties, three subscription identifiers (1, 128, 268435455) and repeated user properties (3.3.2.3)',
    version: 5,
    hex: '32 3e | 00 03 73 2f 74 | 00 01 | 34'
      + ' | 01 01 | 02 00 00 00 1e | 03 00 04 6a 73 6f 6e | 08 00 05 72 65 70 2f 31 | 09 00 03 01 02 03'
      + ' | 0b 01 | 0b 80 01 | 0b ff ff ff 7f | 26 00 01 61 00 01 31 | 26 00 01 61 00 01 32'
      + ' | 7b 7d',
    packet: {
      type: 'publish', topic: 's/t', payload: b('{}'), qos: 1, retain: false, dup: false, packetId: 1,
      properties: {
        payloadFormatIndicator: true, messageExpiryInterval: 30, contentType: 'json', responseTopic: 'rep/1',
        correlationData: bytes(1, 2, 3), subscriptionIdentifiers: [1, 128, 268_435_455],
        userProperties: [['a', '1'], ['a', '2']],
      },
    },
  },
  {
    name: 'PUBLISH 5.0 topic alias 5 with topic name (3.3.2.3.4)',
    version: 5,
    hex: '30 0a | 00 03 61 2f 62 | 03 23 00 05 | 78',
    packet: { type: 'publish', topic: 'a/b', payload: b('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 5 } },
  },
  {
    name: 'PUBLISH 5.0 topic alias 5 with zero-length topic name (3.3.2.3.4)',
    version: 5,
    hex: '30 07 | 00 00 | 03 23 00 05 | 78',
    packet: { type: 'publish', topic: '', payload: b('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 5 } },
  },
  {
    name: 'PUBLISH 5.0 with a two-byte Remaining Length of 204 (1.5.5 Table 1-1)',
    version: 5,
    hex: '30 cc 01 | 00 01 74 | 00 |' + AB200,
    packet: { type: 'publish', topic: 't', payload: Buffer.alloc(200, 0xab), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 5.0 topic "A\\u{2A6D4}" (1.5.4 Figure 1-2 UTF-8 example)',
    version: 5,
    hex: '30 08 | 00 05 41 f0 aa 9b 94 | 00',
    packet: { type: 'publish', topic: 'A\u{2A6D4}', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false },
  },
  // PUBACK / PUBREC / PUBREL / PUBCOMP: short form (Remaining Length 2 means Success, 3.4.2.1), reason code
  // only (Remaining Length 3 means no properties, 3.4.2.2.1), and reason code with properties.
  {
    name: 'PUBACK 5.0 short form: Remaining Length 2 means Success (3.4.2.1)',
    version: 5,
    hex: '40 02 | 00 0a',
    packet: { type: 'puback', packetId: 10, reasonCode: 0 },
  },
  {
    name: 'PUBACK 5.0 reason code 0x10 (no matching subscribers), no property length (3.4.2.2.1)',
    version: 5,
    hex: '40 03 | 00 0a | 10',
    packet: { type: 'puback', packetId: 10, reasonCode: 0x10 },
  },
  {
    name: 'PUBACK 5.0 reason code 0x97 with reason string and user property (3.4.2.2)',
    version: 5,
    hex: '40 12 | 00 0a | 97 | 0e | 1f 00 04 66 75 6c 6c | 26 00 01 6b 00 01 76',
    packet: {
      type: 'puback', packetId: 10, reasonCode: 0x97,
      properties: { reasonString: 'full', userProperties: [['k', 'v']] },
    },
  },
  {
    name: 'PUBREC 5.0 short form (3.5.2.1)',
    version: 5,
    hex: '50 02 | 00 0b',
    packet: { type: 'pubrec', packetId: 11, reasonCode: 0 },
  },
  {
    name: 'PUBREC 5.0 reason code 0x10 only',
    version: 5,
    hex: '50 03 | 00 0b | 10',
    packet: { type: 'pubrec', packetId: 11, reasonCode: 0x10 },
  },
  {
    name: 'PUBREC 5.0 reason code 0x80 with reason string (3.5.2.2)',
    version: 5,
    hex: '50 0b | 00 0b | 80 | 07 | 1f 00 04 6e 6f 70 65',
    packet: { type: 'pubrec', packetId: 11, reasonCode: 0x80, properties: { reasonString: 'nope' } },
  },
  {
    name: 'PUBREL 5.0 short form (3.6.2.1)',
    version: 5,
    hex: '62 02 | 00 0c',
    packet: { type: 'pubrel', packetId: 12, reasonCode: 0 },
  },
  {
    name: 'PUBREL 5.0 reason code 0x92 (packet identifier not found) only',
    version: 5,
    hex: '62 03 | 00 0c | 92',
    packet: { type: 'pubrel', packetId: 12, reasonCode: 0x92 },
  },
  {
    name: 'PUBREL 5.0 Success written out because it has a user property (3.6.2.2)',
    version: 5,
    hex: '62 0b | 00 0c | 00 | 07 | 26 00 01 6b 00 01 76',
    packet: { type: 'pubrel', packetId: 12, reasonCode: 0, properties: { userProperties: [['k', 'v']] } },
  },
  {
    name: 'PUBCOMP 5.0 short form (3.7.2.1)',
    version: 5,
    hex: '70 02 | 00 0d',
    packet: { type: 'pubcomp', packetId: 13, reasonCode: 0 },
  },
  {
    name: 'PUBCOMP 5.0 reason code 0x92 only',
    version: 5,
    hex: '70 03 | 00 0d | 92',
    packet: { type: 'pubcomp', packetId: 13, reasonCode: 0x92 },
  },
  {
    name: 'PUBCOMP 5.0 reason code 0x92 with reason string (3.7.2.2)',
    version: 5,
    hex: '70 0b | 00 0d | 92 | 07 | 1f 00 04 67 6f 6e 65',
    packet: { type: 'pubcomp', packetId: 13, reasonCode: 0x92, properties: { reasonString: 'gone' } },
  },
  {
    name: 'SUBSCRIBE 5.0 packet id 10, no properties (3.8.2 Figure 3-19), "a/b" QoS 1 and "c/d" QoS 2 (3.8.3 Figure 3-21)',
    version: 5,
    hex: '82 0f | 00 0a | 00 | 00 03 61 2f 62 01 | 00 03 63 2f 64 02',
    packet: {
      type: 'subscribe', packetId: 10,
      subscriptions: [
        { topicFilter: 'a/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: 'c/d', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
  },
  {
    name: 'SUBSCRIBE 5.0 subscription identifier 128 + user property (3.8.2.1), options No Local / Retain As Published / Retain Handling (3.8.3.1), shared filter',
    version: 5,
    hex: '82 26 | 00 02 | 0a | 0b 80 01 | 26 00 01 6b 00 01 76'
      + ' | 00 03 61 2f 2b 2d' // "a/+": QoS 1 | No Local | Retain As Published | Retain Handling 2
      + ' | 00 01 23 12' // "#": QoS 2 | Retain Handling 1
      + ' | 00 0c 24 73 68 61 72 65 2f 67 2f 78 2f 23 08', // "$share/g/x/#": QoS 0 | Retain As Published
    packet: {
      type: 'subscribe', packetId: 2,
      properties: { subscriptionIdentifier: 128, userProperties: [['k', 'v']] },
      subscriptions: [
        { topicFilter: 'a/+', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topicFilter: '#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
        { topicFilter: '$share/g/x/#', qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 },
      ],
    },
  },
  {
    name: 'SUBACK 5.0 granted QoS 1, 2, 0, no properties',
    version: 5,
    hex: '90 06 | 00 02 | 00 | 01 02 00',
    packet: { type: 'suback', packetId: 2, reasonCodes: [1, 2, 0] },
  },
  {
    name: 'SUBACK 5.0 reason string and failure codes 0x87 0x9e 0xa1 0xa2 (3.9.3)',
    version: 5,
    hex: '90 0e | 00 03 | 07 | 1f 00 04 64 65 6e 79 | 87 9e a1 a2',
    packet: { type: 'suback', packetId: 3, properties: { reasonString: 'deny' }, reasonCodes: [0x87, 0x9e, 0xa1, 0xa2] },
  },
  {
    name: 'UNSUBSCRIBE 5.0 "a/b", "c/d", no properties (3.10.3 Figure 3.30)',
    version: 5,
    hex: 'a2 0d | 00 0a | 00 | 00 03 61 2f 62 | 00 03 63 2f 64',
    packet: { type: 'unsubscribe', packetId: 10, topicFilters: ['a/b', 'c/d'] },
  },
  {
    name: 'UNSUBSCRIBE 5.0 with user property (3.10.2.1.2) and shared filter',
    version: 5,
    hex: 'a2 16 | 00 03 | 07 | 26 00 01 6b 00 01 76 | 00 0a 24 73 68 61 72 65 2f 67 2f 78',
    packet: { type: 'unsubscribe', packetId: 3, properties: { userProperties: [['k', 'v']] }, topicFilters: ['$share/g/x'] },
  },
  {
    name: 'UNSUBACK 5.0 reason codes 0x00, 0x11 (3.11.3)',
    version: 5,
    hex: 'b0 05 | 00 0a | 00 | 00 11',
    packet: { type: 'unsuback', packetId: 10, reasonCodes: [0, 0x11] },
  },
  {
    name: 'UNSUBACK 5.0 reason string and 0x8f (3.11.2.1.2)',
    version: 5,
    hex: 'b0 0b | 00 03 | 07 | 1f 00 04 6e 6f 70 65 | 8f',
    packet: { type: 'unsuback', packetId: 3, properties: { reasonString: 'nope' }, reasonCodes: [0x8f] },
  },
  { name: 'PINGREQ 5.0 (3.12)', version: 5, hex: 'c0 00', packet: { type: 'pingreq' } },
  { name: 'PINGRESP 5.0 (3.13)', version: 5, hex: 'd0 00', packet: { type: 'pingresp' } },
  {
    name: 'DISCONNECT 5.0 short form: Remaining Length 0 means Normal disconnection (3.14.2.1)',
    version: 5,
    hex: 'e0 00',
    packet: { type: 'disconnect', reasonCode: 0 },
  },
  {
    name: 'DISCONNECT 5.0 reason code 0x04 only (3.14.2.2.1: no property length)',
    version: 5,
    hex: 'e0 01 | 04',
    packet: { type: 'disconnect', reasonCode: 4 },
  },
  {
    // The figure's Property Length byte reads "Length (5)" but shows bits 00000111; 5 is the right value.
    name: 'DISCONNECT 5.0 Session Expiry Interval 0 (3.14.2 Figure 3-24)',
    version: 5,
    hex: 'e0 07 | 00 | 05 | 11 00 00 00 00',
    packet: { type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } },
  },
  {
    name: 'DISCONNECT 5.0 reason 0x9c with server reference and reason string (3.14.2.2)',
    version: 5,
    hex: 'e0 12 | 9c | 10 | 1c 00 06 62 3a 31 38 38 33 | 1f 00 04 6d 6f 76 65',
    packet: { type: 'disconnect', reasonCode: 0x9c, properties: { serverReference: 'b:1883', reasonString: 'move' } },
  },
  {
    name: 'AUTH 5.0 short form: Remaining Length 0 means Success (3.15.2.1)',
    version: 5,
    hex: 'f0 00',
    packet: { type: 'auth', reasonCode: 0 },
  },
  {
    name: 'AUTH 5.0 continue authentication 0x18 with method and data (3.15.2.2)',
    version: 5,
    hex: 'f0 11 | 18 | 0f | 15 00 05 53 43 52 41 4d | 16 00 04 de ad be ef',
    packet: {
      type: 'auth', reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: bytes(0xde, 0xad, 0xbe, 0xef) },
    },
  },
  {
    name: 'AUTH 5.0 re-authenticate 0x19 with method, reason string and user property',
    version: 5,
    hex: 'f0 16 | 19 | 14 | 15 00 05 53 43 52 41 4d | 1f 00 02 6f 6b | 26 00 01 6b 00 01 76',
    packet: {
      type: 'auth', reasonCode: 0x19,
      properties: { authenticationMethod: 'SCRAM', reasonString: 'ok', userProperties: [['k', 'v']] },
    },
  },
];

export const ALL_FIXTURES: Fixture[] = [...V3_FIXTURES, ...V4_FIXTURES, ...V5_FIXTURES];

// ---------------------------------------------------------------------------------------------
// Helpers shared by the fixture and rejection tests
// ---------------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so every split is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Cuts `bytes` into chunks: sizes mostly 1..8, sometimes up to 64, now and then an empty chunk. */
export function randomChunks(bytes: Buffer, seed: number): Buffer[] {
  const rnd = prng(seed);
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const r = rnd();
    const n = r < 0.05 ? 0 : 1 + Math.floor(rnd() * (r < 0.25 ? 64 : 8));
    out.push(bytes.subarray(pos, Math.min(pos + n, bytes.length)));
    pos += n;
  }
  return out;
}

/** Every byte its own chunk. */
export function byteChunks(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}
