/**
 * Tier-1 rejections: bytes the decoder must refuse and packets the encoder must refuse. Each case
 * asserts the MoatError `code` and `reasonCode` (never the message), and is named after the normative
 * statement of MQTT 5.0 it checks where there is one (3.1.1 statements are written `3.1.1 [MQTT-…]`).
 *
 * Where the spec names no reason code, the expected one is the codec's documented choice
 * (docs/errors.md); cases where the spec and the codec disagree are marked `todo` with the reason.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MoatError, PacketDecoder, decodeAll, encodePacket, type Packet, type ProtocolVersion,
} from '../../src/codec/index.js';
import { byteChunks, hex, randomChunks } from './fixtures.js';
import { pkt } from '../support/bytes.js';

type Expect = readonly [code: string, reasonCode: number | undefined];
const MALFORMED: Expect = ['MOAT_ERR_MALFORMED_PACKET', 0x81];
const PROTOCOL: Expect = ['MOAT_ERR_PROTOCOL_ERROR', 0x82];
const UNSUPPORTED: Expect = ['MOAT_ERR_UNSUPPORTED_PROTOCOL', 0x84];
const TOO_LARGE: Expect = ['MOAT_ERR_PACKET_TOO_LARGE', 0x95];
const INVALID: Expect = ['MOAT_ERR_INVALID_PACKET', undefined];

/** assert.throws matcher: a MoatError with this code and reason code. */
function isError([code, reasonCode]: Expect): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof MoatError, `expected a MoatError, got ${String(err)}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.equal(err.reasonCode, reasonCode, `reasonCode (message: ${err.message})`);
    return true;
  };
}

// --- building bytes -----------------------------------------------------------------------------


/** Length-prefixed raw bytes (hex), for strings that are deliberately not valid UTF-8. */
function sb(raw: string): string {
  const b = hex(raw);
  return `${b.length.toString(16).padStart(4, '0')} ${b.toString('hex')}`;
}

/** Length-prefixed UTF-8 string (hex). */
const s = (text: string): string => sb(Buffer.from(text, 'utf8').toString('hex'));

/** 3.1.1 CONNECT: flags (hex byte), then the payload after the client id "c". */
const connect4 = (flags: string, rest = '', first = 0x10): Buffer =>
  pkt(first, `${s('MQTT')} 04 ${flags} 00 3c ${s('c')} ${rest}`);

/** 5.0 CONNECT: flags, CONNECT properties (hex, with their length), payload after the client id "c". */
const connect5 = (flags: string, props = '00', rest = ''): Buffer =>
  pkt(0x10, `${s('MQTT')} 05 ${flags} 00 3c ${props} ${s('c')} ${rest}`);

/** 5.0 PUBLISH QoS 0 to "a" with these properties (hex, with their length) and no payload. */
const publish5 = (props: string): Buffer => pkt(0x30, `${s('a')} ${props}`);

// --- decoder rejections -------------------------------------------------------------------------

interface Reject {
  name: string;
  version: ProtocolVersion;
  bytes: Buffer;
  expect: Expect;
  /** Set only where the codec is known to disagree with the spec (the test then fails as a todo). */
  todo?: string;
}

const r = (name: string, version: ProtocolVersion, bytes: Buffer, expect: Expect, todo?: string): Reject =>
  (todo === undefined ? { name, version, bytes, expect } : { name, version, bytes, expect, todo });

const REJECTS: Array<[group: string, cases: Reject[]]> = [
  ['Variable Byte Integer (1.5.5)', [
    r('[MQTT-1.5.5-1] remaining length of 5 bytes is malformed (0x81)', 4, hex('30 80 80 80 80 01'), MALFORMED),
    r('[MQTT-1.5.5-1] remaining length of 5 bytes, all 0xff, is malformed', 5, hex('30 ff ff ff ff 7f'), MALFORMED),
    r('[MQTT-1.5.5-1] remaining length 0 written in two bytes (80 00) is not minimal', 4, hex('c0 80 00'), MALFORMED),
    r('[MQTT-1.5.5-1] remaining length 127 written in two bytes (ff 00) is not minimal', 4, hex('30 ff 00'), MALFORMED),
    r('[MQTT-1.5.5-1] remaining length 128 written in three bytes (80 81 00) is not minimal', 5, hex('30 80 81 00'), MALFORMED),
    r('[MQTT-1.5.5-1] property length written in two bytes (80 00) is not minimal', 5, publish5('80 00'), MALFORMED),
    r('[MQTT-1.5.5-1] subscription identifier 1 written in two bytes (81 00) is not minimal', 5,
      publish5('03 0b 81 00'), MALFORMED),
    r('[MQTT-1.5.5-1] property identifier 0x26 written in two bytes (a6 00) is not minimal', 5,
      publish5('08 a6 00 00 01 6b 00 01 76'), MALFORMED),
  ]],

  ['Fixed header', [
    r('[MQTT-3.3.1-4] PUBLISH with QoS 3 is malformed', 4, pkt(0x36, `${s('a/b')} 00 01`), MALFORMED),
    r('[MQTT-3.3.1-4] PUBLISH with QoS 3 and DUP is malformed (5.0)', 5, pkt(0x3e, `${s('a/b')} 00 01 00`), MALFORMED),
    r('[MQTT-3.3.1-2] DUP on a QoS 0 PUBLISH', 4, pkt(0x38, s('a/b')), MALFORMED),
    r('[MQTT-3.3.1-2] DUP on a QoS 0 PUBLISH (5.0, retain)', 5, pkt(0x39, `${s('a/b')} 00`), MALFORMED),
    r('packet type 0 is reserved (3.1.1)', 4, hex('00 00'), MALFORMED),
    r('packet type 0 is reserved (5.0)', 5, hex('00 02 00 01'), MALFORMED),
    r('AUTH (type 15) does not exist in 3.1.1', 4, hex('f0 00'), MALFORMED),
    r('AUTH (type 15) does not exist in 3.1', 3, hex('f0 00'), MALFORMED),
  ]],

  ['Packet identifier (2.2.1)', [
    r('[MQTT-2.2.1-3] PUBLISH QoS 1 with packet identifier 0', 4, pkt(0x32, `${s('a/b')} 00 00`), PROTOCOL),
    r('[MQTT-2.2.1-3] PUBLISH QoS 2 with packet identifier 0 (5.0)', 5, pkt(0x34, `${s('a/b')} 00 00 00`), PROTOCOL),
    r('[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0', 4, pkt(0x82, `00 00 ${s('a')} 00`), PROTOCOL),
    r('[MQTT-2.2.1-3] UNSUBSCRIBE with packet identifier 0', 5, pkt(0xa2, `00 00 00 ${s('a')}`), PROTOCOL),
    r('[MQTT-2.2.1-5] PUBACK with packet identifier 0', 4, hex('40 02 00 00'), PROTOCOL),
    r('[MQTT-2.2.1-5] PUBREC with packet identifier 0', 5, hex('50 02 00 00'), PROTOCOL),
    r('[MQTT-2.2.1-5] PUBREL with packet identifier 0', 4, hex('62 02 00 00'), PROTOCOL),
    r('[MQTT-2.2.1-5] PUBCOMP with packet identifier 0', 5, hex('70 03 00 00 00'), PROTOCOL),
    r('[MQTT-2.2.1-6] SUBACK with packet identifier 0', 4, hex('90 03 00 00 00'), PROTOCOL),
    r('[MQTT-2.2.1-6] UNSUBACK with packet identifier 0', 5, hex('b0 04 00 00 00 00'), PROTOCOL),
  ]],

  ['UTF-8 strings (1.5.4, 1.5.7)', [
    r('[MQTT-1.5.4-1] ill-formed UTF-8 (c3 28) in a topic name', 4, pkt(0x30, sb('61 c3 28')), MALFORMED),
    r('[MQTT-1.5.4-1] lone continuation byte (80) in a topic name', 4, pkt(0x30, sb('61 80')), MALFORMED),
    r('[MQTT-1.5.4-1] truncated 3-byte sequence (e2 82) in a topic name', 5, pkt(0x30, `${sb('61 e2 82')} 00`), MALFORMED),
    r('[MQTT-1.5.4-1] overlong encoding of "/" (c0 af) in a topic name', 4, pkt(0x30, sb('61 c0 af')), MALFORMED),
    r('[MQTT-1.5.4-1] code point above U+10FFFF (f4 90 80 80)', 4, pkt(0x30, sb('f4 90 80 80')), MALFORMED),
    r('[MQTT-1.5.4-1] bytes fe / ff never appear in UTF-8', 4, pkt(0x30, sb('61 fe ff')), MALFORMED),
    r('[MQTT-1.5.4-1] encoded surrogate U+D800 (ed a0 80) in a topic name', 4, pkt(0x30, sb('61 ed a0 80')), MALFORMED),
    r('[MQTT-1.5.4-1] encoded surrogate U+DFFF (ed bf bf) in a topic name', 5, pkt(0x30, `${sb('ed bf bf')} 00`), MALFORMED),
    r('[MQTT-1.5.4-1] surrogate pair encoded as two 3-byte sequences (CESU-8 ed a0 bd ed b8 80)', 4,
      pkt(0x30, sb('ed a0 bd ed b8 80')), MALFORMED),
    r('[MQTT-1.5.4-1] encoded surrogate in a SUBSCRIBE topic filter', 4, pkt(0x82, `00 01 ${sb('ed a0 80')} 00`), MALFORMED),
    r('[MQTT-1.5.4-1] encoded surrogate in a will topic', 4, connect4('06', `${sb('ed a0 80')} 00 00`), MALFORMED),
    r('[MQTT-1.5.4-1] ill-formed UTF-8 in a user name', 4, connect4('82', sb('ff')), MALFORMED),
    r('[MQTT-1.5.4-1] ill-formed UTF-8 in a reason string', 5, pkt(0x40, `00 01 80 04 1f ${sb('c3')}`), MALFORMED),
    r('[MQTT-1.5.4-2] U+0000 in a topic name', 4, pkt(0x30, sb('61 00 62')), MALFORMED),
    r('[MQTT-1.5.4-1] [MQTT-1.5.4-2] overlong U+0000 (c0 80) in a topic name is ill-formed', 4, pkt(0x30, sb('61 c0 80')), MALFORMED),
    r('[MQTT-1.5.4-2] U+0000 in a client identifier', 4, pkt(0x10, `${s('MQTT')} 04 02 00 3c ${sb('63 00')}`), MALFORMED),
    r('[MQTT-1.5.4-2] U+0000 in the protocol name', 5, pkt(0x10, `${sb('4d 51 54 54 00')} 05 02 00 3c 00 ${s('c')}`), MALFORMED),
    r('[MQTT-1.5.7-1] U+0000 in a user property value', 5, publish5(`07 26 ${s('k')} ${sb('00')}`), MALFORMED),
    r('[MQTT-1.5.7-1] encoded surrogate in a user property name', 5, publish5(`09 26 ${sb('ed a0 80')} ${s('v')}`), MALFORMED),
  ]],

  ['Topic names and filters (3.3.2.1, 4.7, 4.8)', [
    r('[MQTT-3.3.2-2] wildcard "#" in a PUBLISH topic name', 4, pkt(0x30, s('a/#')), PROTOCOL),
    r('[MQTT-3.3.2-2] wildcard "+" in a PUBLISH topic name (5.0)', 5, pkt(0x30, `${s('a/+')} 00`), PROTOCOL),
    r('[MQTT-3.3.2-2] wildcard inside a level ("a+b") of a topic name', 4, pkt(0x32, `${s('a+b')} 00 01`), PROTOCOL),
    r('[MQTT-3.3.2-2] wildcard in a topic name that also carries a topic alias', 5, pkt(0x30, `${s('a/+')} 03 23 00 01`), PROTOCOL),
    r('[MQTT-4.7.3-1] zero-length topic name (3.1.1)', 4, pkt(0x30, '00 00'), PROTOCOL),
    r('3.3.2.1 zero-length topic name without a Topic Alias is a Protocol Error (5.0)', 5, pkt(0x30, '00 00 00'), PROTOCOL),
    r('[MQTT-3.3.2-14] Response Topic with a wildcard', 5, publish5(`06 08 ${s('a/#')}`), PROTOCOL),
    r('[MQTT-4.7.0-1] will topic with a wildcard', 4, connect4('06', `${s('a/+')} 00 00`), PROTOCOL),
    r('[MQTT-4.7.3-1] zero-length will topic', 5, connect5('06', '00', `00 00 00 00 00`), PROTOCOL),
    r('[MQTT-4.7.1-1] filter "a/#/b": "#" not last', 4, pkt(0x82, `00 01 ${s('a/#/b')} 00`), MALFORMED),
    r('[MQTT-4.7.1-1] filter "#/a": "#" not last', 4, pkt(0x82, `00 01 ${s('#/a')} 00`), MALFORMED),
    r('[MQTT-4.7.1-1] filter "a#": "#" not a whole level', 5, pkt(0x82, `00 01 00 ${s('a#')} 00`), MALFORMED),
    r('[MQTT-4.7.1-2] filter "a+": "+" not a whole level', 4, pkt(0x82, `00 01 ${s('a+')} 00`), MALFORMED),
    r('[MQTT-4.7.1-2] filter "a/+b" (5.0)', 5, pkt(0x82, `00 01 00 ${s('a/+b')} 01`), MALFORMED),
    r('[MQTT-4.7.3-1] zero-length topic filter', 4, pkt(0x82, `00 01 00 00 00`), MALFORMED),
    r('[MQTT-4.8.2-2] shared filter "$share/g" has no "/" and filter after the ShareName', 5,
      pkt(0x82, `00 01 00 ${s('$share/g')} 00`), MALFORMED),
    r('[MQTT-4.8.2-1] shared filter "$share//a" has an empty ShareName', 5, pkt(0x82, `00 01 00 ${s('$share//a')} 00`), MALFORMED),
    r('[MQTT-4.8.2-2] shared filter "$share/g/" has an empty filter', 5, pkt(0x82, `00 01 00 ${s('$share/g/')} 00`), MALFORMED),
    r('4.8.2 ShareName "g+" contains a wildcard', 5, pkt(0x82, `00 01 00 ${s('$share/g+/a')} 00`), MALFORMED),
    r('[MQTT-4.7.1-1] UNSUBSCRIBE filter "a/#/b"', 4, pkt(0xa2, `00 01 ${s('a/#/b')}`), MALFORMED),
    r('[MQTT-4.8.2-1] UNSUBSCRIBE filter "$share//a"', 5, pkt(0xa2, `00 01 00 ${s('$share//a')}`), MALFORMED),
  ]],

  ['CONNECT (3.1)', [
    r('[MQTT-3.1.2-3] CONNECT reserved flag set (3.1.1)', 4, connect4('03'), MALFORMED),
    r('[MQTT-3.1.2-3] CONNECT reserved flag set (5.0)', 5, connect5('01'), MALFORMED),
    r('[MQTT-3.1.2-11] will QoS 1 without the will flag', 4, connect4('0a'), MALFORMED),
    r('[MQTT-3.1.2-11] will QoS 2 without the will flag (5.0)', 5, connect5('12'), MALFORMED),
    r('[MQTT-3.1.2-12] will QoS 3 is malformed', 4, connect4('1e', `${s('w')} 00 00`), MALFORMED),
    r('[MQTT-3.1.2-12] will QoS 3 is malformed (5.0)', 5, connect5('1e', '00', `00 ${s('w')} 00 00`), MALFORMED),
    r('[MQTT-3.1.2-13] will retain without the will flag', 4, connect4('22'), MALFORMED),
    r('3.1.1 [MQTT-3.1.2-22] password flag without the user name flag', 4, connect4('42', '00 01 70'), MALFORMED),
    r('[MQTT-3.1.2-17] user name flag set but no user name', 5, connect5('80'), MALFORMED),
    r('[MQTT-3.1.2-19] password flag set but no password', 5, connect5('40'), MALFORMED),
    r('[MQTT-3.1.3-1] will flag set but no will properties/topic/payload', 5, connect5('06'), MALFORMED),
    r('[MQTT-3.1.2-2] protocol "MQTT" level 3 is unsupported (0x84)', 4,
      pkt(0x10, `${s('MQTT')} 03 02 00 3c ${s('c')}`), UNSUPPORTED),
    r('[MQTT-3.1.2-2] protocol "MQTT" level 6 is unsupported (0x84)', 5,
      pkt(0x10, `${s('MQTT')} 06 02 00 3c 00 ${s('c')}`), UNSUPPORTED),
    r('[MQTT-3.1.2-2] protocol "MQTT" level 0 is unsupported (0x84)', 5, pkt(0x10, `${s('MQTT')} 00 02 00 3c ${s('c')}`), UNSUPPORTED),
    r('[MQTT-3.1.2-2] protocol "MQIsdp" level 4 is unsupported (0x84)', 4,
      pkt(0x10, `${s('MQIsdp')} 04 02 00 3c ${s('c')}`), UNSUPPORTED),
    r('[MQTT-3.1.2-2] protocol "MQIsdp" level 5 is unsupported (0x84)', 5,
      pkt(0x10, `${s('MQIsdp')} 05 02 00 3c 00 ${s('c')}`), UNSUPPORTED),
    r('[MQTT-3.1.2-1] unknown protocol name "HTTP" (0x84)', 4, pkt(0x10, `${s('HTTP')} 04 02 00 3c ${s('c')}`), UNSUPPORTED),
    r('[MQTT-3.1.2-1] protocol name is case-sensitive: "mqtt" (0x84)', 5,
      pkt(0x10, `${s('mqtt')} 05 02 00 3c 00 ${s('c')}`), UNSUPPORTED),
    r('CONNECT ends inside the keep alive', 4, pkt(0x10, `${s('MQTT')} 04 02 00`), MALFORMED),
    r('CONNECT with bytes after its payload', 4, connect4('02', '00'), MALFORMED),
    r('CONNECT with bytes after the password (5.0)', 5, connect5('40', '00', `${sb('70')} 00`), MALFORMED),
  ]],

  ['CONNACK (3.2)', [
    r('[MQTT-3.2.2-1] CONNACK acknowledge flags bits 7-1 set', 4, hex('20 02 02 00'), MALFORMED),
    r('[MQTT-3.2.2-1] CONNACK acknowledge flags bits 7-1 set (5.0)', 5, hex('20 03 80 00 00'), MALFORMED),
    r('3.1.1 CONNACK return code 6 does not exist', 4, hex('20 02 00 06'), PROTOCOL),
    r('3.2.2.2 CONNACK reason code 0x01 is not a CONNACK reason code', 5, hex('20 03 00 01 00'), PROTOCOL),
    r('CONNACK with trailing bytes (3.1.1)', 4, hex('20 03 00 00 00'), MALFORMED),
    r('CONNACK with bytes after its properties (5.0)', 5, hex('20 04 00 00 00 00'), MALFORMED),
  ]],

  ['Properties (2.2.2)', [
    r('2.2.2.2 Session Expiry Interval (0x11) is not valid in PUBLISH: malformed', 5, publish5('05 11 00 00 00 01'), MALFORMED),
    r('2.2.2.2 Will Delay Interval (0x18) is not valid in CONNECT properties', 5, connect5('02', '05 18 00 00 00 01'), MALFORMED),
    r('2.2.2.2 Session Expiry Interval (0x11) is not valid in will properties', 5,
      connect5('06', '00', `05 11 00 00 00 01 ${s('w')} 00 00`), MALFORMED),
    r('2.2.2.2 Subscription Identifier (0x0b) is not valid in will properties', 5,
      connect5('06', '00', `02 0b 01 ${s('w')} 00 00`), MALFORMED),
    r('2.2.2.2 Topic Alias (0x23) is not valid in SUBSCRIBE', 5, pkt(0x82, `00 01 03 23 00 01 ${s('a')} 00`), MALFORMED),
    r('2.2.2.2 Session Expiry Interval (0x11) is not valid in PUBACK', 5, hex('40 09 00 01 00 05 11 00 00 00 01'), MALFORMED),
    r('2.2.2.2 Receive Maximum (0x21) is not valid in DISCONNECT', 5, hex('e0 05 00 03 21 00 01'), MALFORMED),
    r('2.2.2.2 Session Expiry Interval (0x11) is not valid in AUTH', 5, hex('f0 07 18 05 11 00 00 00 01'), MALFORMED),
    r('2.2.2.2 unknown property identifier 0x7f', 5, publish5('02 7f 00'), MALFORMED),
    r('2.2.2.2 property identifier 0x00 does not exist', 5, publish5('02 00 00'), MALFORMED),
    r('property length runs past the end of the packet', 5, hex('40 09 00 01 00 09 1f 00 02 6f 6b'), MALFORMED),
    r('property value runs past the property length', 5, hex('40 09 00 01 00 03 1f 00 02 6f 6b'), MALFORMED),
    r('3.3.2.3.3 Message Expiry Interval twice is a Protocol Error', 5,
      publish5('0a 02 00 00 00 01 02 00 00 00 02'), PROTOCOL),
    r('3.3.2.3.9 Content Type twice is a Protocol Error', 5, publish5(`08 03 ${s('a')} 03 ${s('b')}`), PROTOCOL),
    r('3.3.2.3.4 Topic Alias twice is a Protocol Error', 5, publish5('06 23 00 01 23 00 02'), PROTOCOL),
    r('3.1.2.11.3 Receive Maximum twice is a Protocol Error', 5, connect5('02', '06 21 00 01 21 00 01'), PROTOCOL),
    r('3.1.3.2.3 Payload Format Indicator twice in will properties is a Protocol Error', 5,
      connect5('06', '00', `04 01 01 01 01 ${s('w')} 00 00`), PROTOCOL),
    r('3.8.2.1.2 Subscription Identifier twice in SUBSCRIBE is a Protocol Error', 5,
      pkt(0x82, `00 01 04 0b 01 0b 02 ${s('a')} 00`), PROTOCOL),
    r('3.4.2.2.2 Reason String twice in PUBACK is a Protocol Error', 5,
      pkt(0x40, `00 01 80 08 1f ${s('a')} 1f ${s('b')}`), PROTOCOL),
    r('3.15.2.2.2 Authentication Method twice in AUTH is a Protocol Error', 5,
      pkt(0xf0, `18 08 15 ${s('a')} 15 ${s('b')}`), PROTOCOL),
    r('3.1.2.11.3 Receive Maximum 0 is a Protocol Error', 5, connect5('02', '03 21 00 00'), PROTOCOL),
    r('3.2.2.3.3 Receive Maximum 0 in CONNACK is a Protocol Error', 5, hex('20 06 00 00 03 21 00 00'), PROTOCOL),
    r('3.1.2.11.4 Maximum Packet Size 0 is a Protocol Error', 5, connect5('02', '05 27 00 00 00 00'), PROTOCOL),
    r('3.2.2.3.6 Maximum Packet Size 0 in CONNACK is a Protocol Error', 5, hex('20 08 00 00 05 27 00 00 00 00'), PROTOCOL),
    r('3.3.2.3.4 / [MQTT-3.3.2-8] Topic Alias 0 is a Protocol Error, answered with 0x94 (Topic Alias invalid)', 5,
      publish5('03 23 00 00'), ['MOAT_ERR_TOPIC_ALIAS_INVALID', 0x94]),
    r('3.8.2.1.2 Subscription Identifier 0 in SUBSCRIBE is a Protocol Error', 5, pkt(0x82, `00 01 02 0b 00 ${s('a')} 00`), PROTOCOL),
    r('3.3.2.3.8 Subscription Identifier 0 in PUBLISH is a Protocol Error', 5, publish5('04 0b 01 0b 00'), PROTOCOL),
    // 3.3.2.3.2 allows only 0 and 1 but names no reason code; the codec answers Protocol Error.
    r('3.3.2.3.2 Payload Format Indicator 2', 5, publish5('02 01 02'), PROTOCOL),
    r('3.1.3.2.3 will Payload Format Indicator 2', 5, connect5('06', '00', `02 01 02 ${s('w')} 00 00`), PROTOCOL),
    r('3.2.2.3.4 Maximum QoS 2 is a Protocol Error', 5, hex('20 05 00 00 02 24 02'), PROTOCOL),
    r('3.2.2.3.5 Retain Available 2 is a Protocol Error', 5, hex('20 05 00 00 02 25 02'), PROTOCOL),
    r('3.2.2.3.11 Wildcard Subscription Available 2 is a Protocol Error', 5, hex('20 05 00 00 02 28 02'), PROTOCOL),
    r('3.1.2.11.6 Request Response Information 2 is a Protocol Error', 5, connect5('02', '02 19 02'), PROTOCOL),
    r('3.1.2.11.7 Request Problem Information 2 is a Protocol Error', 5, connect5('02', '02 17 02'), PROTOCOL),
    r('3.1.2.11.10 Authentication Data without Authentication Method is a Protocol Error', 5,
      connect5('02', '04 16 00 01 00'), PROTOCOL),
    r('3.2.2.3.18 Authentication Data without Authentication Method in CONNACK is a Protocol Error', 5,
      hex('20 07 00 00 04 16 00 01 00'), PROTOCOL),
    r('3.15.2.2.3 Authentication Data without Authentication Method in AUTH is a Protocol Error', 5,
      hex('f0 06 18 04 16 00 01 00'), PROTOCOL),
    r('3.15.2.2.2 AUTH 0x18 without Authentication Method is a Protocol Error', 5, hex('f0 02 18 00'), PROTOCOL),
  ]],

  ['SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK (3.8-3.11)', [
    r('[MQTT-3.8.3-5] SUBSCRIBE option bit 6 (reserved) set', 5, pkt(0x82, `00 01 00 ${s('a')} 40`), MALFORMED),
    r('[MQTT-3.8.3-5] SUBSCRIBE option bit 7 (reserved) set', 5, pkt(0x82, `00 01 00 ${s('a')} 81`), MALFORMED),
    r('3.1.1 [MQTT-3.8.3-4] SUBSCRIBE option bits 7-2 (reserved in 3.1.1) set', 4, pkt(0x82, `00 01 ${s('a')} 04`), MALFORMED),
    r('3.1.1 [MQTT-3.8.3-4] SUBSCRIBE requested QoS 3', 4, pkt(0x82, `00 01 ${s('a')} 03`), MALFORMED),
    r('3.8.3.1 SUBSCRIBE Maximum QoS 3 is malformed (5.0)', 5, pkt(0x82, `00 01 00 ${s('a')} 03`), MALFORMED),
    r('3.8.3.1 Retain Handling 3 is a Protocol Error', 5, pkt(0x82, `00 01 00 ${s('a')} 30`), PROTOCOL),
    r('[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error', 5,
      pkt(0x82, `00 01 00 ${s('$share/g/a')} 04`), PROTOCOL),
    r('[MQTT-3.8.3-2] SUBSCRIBE with no topic filter is a Protocol Error (3.1.1)', 4, hex('82 02 00 01'), PROTOCOL),
    r('[MQTT-3.8.3-2] SUBSCRIBE with no topic filter is a Protocol Error (5.0)', 5, hex('82 03 00 01 00'), PROTOCOL),
    r('[MQTT-3.8.3-2] SUBSCRIBE topic filter without its options byte', 4, pkt(0x82, `00 01 ${s('a')}`), MALFORMED),
    r('[MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter is a Protocol Error (3.1.1)', 4, hex('a2 02 00 01'), PROTOCOL),
    r('[MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter is a Protocol Error (5.0)', 5, hex('a2 03 00 01 00'), PROTOCOL),
    r('3.9.3 SUBACK with no reason code', 5, hex('90 03 00 01 00'), PROTOCOL),
    r('3.1.1 SUBACK return code 0x03 does not exist', 4, hex('90 03 00 01 03'), PROTOCOL),
    r('3.9.3 SUBACK reason code 0x03 does not exist', 5, hex('90 04 00 01 00 03'), PROTOCOL),
    r('3.11.3 UNSUBACK with no reason code (5.0)', 5, hex('b0 03 00 01 00'), PROTOCOL),
    r('3.11.3 UNSUBACK reason code 0x01 does not exist', 5, hex('b0 04 00 01 00 01'), PROTOCOL),
    r('UNSUBACK 3.1.1 with trailing bytes', 4, hex('b0 03 00 01 00'), MALFORMED),
  ]],

  ['Acks, PINGs, DISCONNECT, AUTH', [
    r('3.4.2.1 PUBACK reason code 0x01 does not exist', 5, hex('40 03 00 01 01'), PROTOCOL),
    r('3.6.2.1 PUBREL reason code 0x10 is not a PUBREL reason code', 5, hex('62 03 00 01 10'), PROTOCOL),
    r('PUBACK with Remaining Length 1', 5, hex('40 01 00'), MALFORMED),
    r('PUBACK 3.1.1 with Remaining Length 3 (trailing byte)', 4, hex('40 03 00 01 00'), MALFORMED),
    r('PUBACK 5.0 with bytes after its properties', 5, hex('40 05 00 01 00 00 00'), MALFORMED),
    r('PINGREQ with Remaining Length 1', 4, hex('c0 01 00'), MALFORMED),
    r('PINGRESP with Remaining Length 1', 5, hex('d0 01 00'), MALFORMED),
    r('DISCONNECT 3.1.1 with Remaining Length 1', 4, hex('e0 01 00'), MALFORMED),
    r('DISCONNECT 5.0 with bytes after its properties', 5, hex('e0 03 00 00 00'), MALFORMED),
    r('[MQTT-3.14.2-1] DISCONNECT reason code 0x01 does not exist', 5, hex('e0 01 01'), PROTOCOL),
    r('[MQTT-3.15.2-1] AUTH reason code 0x01 does not exist', 5, hex('f0 01 01'), PROTOCOL),
    r('AUTH with bytes after its properties', 5, hex('f0 03 00 00 00'), MALFORMED),
    r('PUBLISH QoS 1 that ends before its packet identifier', 4, pkt(0x32, s('a/b')), MALFORMED),
    r('PUBLISH whose topic length runs past the Remaining Length', 4, hex('30 02 00 03'), MALFORMED),
  ]],
];

describe('decoder rejections', () => {
  for (const [group, cases] of REJECTS) {
    describe(group, () => {
      for (const c of cases) {
        const opts = c.todo === undefined ? {} : { todo: c.todo };
        test(`v${c.version} ${c.name}`, opts, () => {
          assert.throws(() => decodeAll(c.bytes, { protocolVersion: c.version }), isError(c.expect), 'whole');
          // The same error one byte at a time, and nothing is delivered.
          const d = new PacketDecoder({ protocolVersion: c.version });
          const out: Packet[] = [];
          assert.throws(() => { for (const ch of byteChunks(c.bytes)) d.write(ch, (p) => out.push(p)); },
            isError(c.expect), 'byte by byte');
          assert.deepStrictEqual(out, []);
          assert.equal(d.bufferedBytes, 0, 'a failed decoder holds no bytes');
        });
      }
    });
  }
});

describe('[MQTT-2.1.3-1] reserved fixed-header flags', () => {
  // A valid body per type, so only the flags are wrong.
  const bodies: Record<number, { name: string; required: number; v4?: string; v5: string }> = {
    1: { name: 'CONNECT', required: 0, v4: `${s('MQTT')} 04 02 00 3c ${s('c')}`, v5: `${s('MQTT')} 05 02 00 3c 00 ${s('c')}` },
    2: { name: 'CONNACK', required: 0, v4: '00 00', v5: '00 00 00' },
    4: { name: 'PUBACK', required: 0, v4: '00 01', v5: '00 01' },
    5: { name: 'PUBREC', required: 0, v4: '00 01', v5: '00 01 10' },
    6: { name: 'PUBREL', required: 2, v4: '00 01', v5: '00 01' },
    7: { name: 'PUBCOMP', required: 0, v4: '00 01', v5: '00 01 92 00' },
    8: { name: 'SUBSCRIBE', required: 2, v4: `00 01 ${s('a')} 00`, v5: `00 01 00 ${s('a')} 00` },
    9: { name: 'SUBACK', required: 0, v4: '00 01 00', v5: '00 01 00 00' },
    10: { name: 'UNSUBSCRIBE', required: 2, v4: `00 01 ${s('a')}`, v5: `00 01 00 ${s('a')}` },
    11: { name: 'UNSUBACK', required: 0, v4: '00 01', v5: '00 01 00 00' },
    12: { name: 'PINGREQ', required: 0, v4: '', v5: '' },
    13: { name: 'PINGRESP', required: 0, v4: '', v5: '' },
    14: { name: 'DISCONNECT', required: 0, v4: '', v5: '' },
    15: { name: 'AUTH', required: 0, v5: '' },
  };
  for (const [typeStr, t] of Object.entries(bodies)) {
    const type = Number(typeStr);
    for (const version of [4, 5] as const) {
      const body = version === 4 ? t.v4 : t.v5;
      if (body === undefined) continue;
      const must = t.required === 2 ? 'flags 0010' : 'flags 0000';
      test(`v${version} ${t.name} must carry ${must}; every other value is malformed`, () => {
        // The required flags decode (so the body is valid)…
        assert.equal(decodeAll(pkt((type << 4) | t.required, body), { protocolVersion: version }).length, 1);
        // …and each of the 15 others is rejected.
        for (let flags = 0; flags < 16; flags++) {
          if (flags === t.required) continue;
          assert.throws(() => decodeAll(pkt((type << 4) | flags, body), { protocolVersion: version }),
            isError(MALFORMED), `flags ${flags.toString(2).padStart(4, '0')}`);
        }
      });
    }
  }
});

describe('[MQTT-1.5.4-3] a BOM (ef bb bf) is kept, never stripped', () => {
  test('at the start of a PUBLISH topic name, and encoded back', () => {
    const bytes = pkt(0x30, `${sb('ef bb bf 61')} 00`);
    const [p] = decodeAll(bytes, { protocolVersion: 5 });
    assert.ok(p?.type === 'publish');
    assert.equal(p.topic, '\uFEFFa');
    assert.equal(encodePacket(p, 5).toString('hex'), bytes.toString('hex'));
  });
  test('in the middle of a topic filter and in a user property', () => {
    const bytes = pkt(0x82, `00 01 0c 26 ${sb('ef bb bf')} ${sb('6b ef bb bf')} ${sb('61 ef bb bf 2f 23')} 01`);
    const [p] = decodeAll(bytes, { protocolVersion: 5 });
    assert.deepStrictEqual(p, {
      type: 'subscribe', packetId: 1, properties: { userProperties: [['\uFEFF', 'k\uFEFF']] },
      subscriptions: [{ topicFilter: 'a\uFEFF/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    assert.equal(encodePacket(p!, 5).toString('hex'), bytes.toString('hex'));
  });
  test('a client identifier that is only a BOM', () => {
    const [p] = decodeAll(pkt(0x10, `${s('MQTT')} 04 02 00 3c ${sb('ef bb bf')}`));
    assert.ok(p?.type === 'connect');
    assert.equal(p.clientId, '\uFEFF');
  });
});

describe('truncated input', () => {
  const cases: Array<[string, string]> = [
    ['ends inside the fixed header (first byte only)', '30'],
    ['ends inside a multi-byte Remaining Length', '30 80'],
    ['ends inside the body', '30 05 00 03 61'],
    ['ends after a whole packet, inside the next', 'c0 00 d0'],
  ];
  for (const [name, h] of cases) {
    test(`decodeAll: input that ${name} is malformed`, () => {
      assert.throws(() => decodeAll(hex(h)), isError(MALFORMED));
    });
  }
  test('a streaming decoder just waits for the rest, holding only the bytes it has', () => {
    const d = new PacketDecoder({ protocolVersion: 4 });
    const out: Packet[] = [];
    d.write(hex('30 05 00 03 61'), (p) => out.push(p));
    assert.equal(out.length, 0);
    assert.equal(d.bufferedBytes, 5);
    d.write(hex('2f 62'), (p) => out.push(p));
    assert.deepStrictEqual(out, [{ type: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }]);
    assert.equal(d.bufferedBytes, 0);
  });
});

describe('maximum packet size (MOAT_ERR_PACKET_TOO_LARGE, 0x95)', () => {
  test('a packet over maxPacketSize is rejected from its fixed header alone, before the body arrives', () => {
    // 30 80 01: a PUBLISH announcing 128 bytes, 131 in all, against a maximum of 100.
    const d = new PacketDecoder({ protocolVersion: 5, maxPacketSize: 100 });
    const out: Packet[] = [];
    d.write(hex('30'), (p) => out.push(p));
    d.write(hex('80'), (p) => out.push(p));
    assert.ok(d.bufferedBytes <= 2);
    assert.throws(() => d.write(hex('01'), (p) => out.push(p)), isError(TOO_LARGE));
    assert.equal(d.bufferedBytes, 0);
    assert.deepStrictEqual(out, []);
  });
  test('rejected as soon as the header is complete even when body bytes come with it', () => {
    const d = new PacketDecoder({ protocolVersion: 5, maxPacketSize: 100 });
    assert.throws(() => d.write(Buffer.concat([hex('30 80 01'), Buffer.alloc(50)]), () => assert.fail('no packet')), isError(TOO_LARGE));
    assert.equal(d.bufferedBytes, 0);
  });
  test('the largest Remaining Length (ff ff ff 7f) against the default 1 MiB maximum', () => {
    const d = new PacketDecoder({ protocolVersion: 4 });
    for (const b of byteChunks(hex('30 ff ff ff'))) d.write(b, () => assert.fail('no packet'));
    assert.ok(d.bufferedBytes <= 4);
    assert.throws(() => d.write(hex('7f'), () => assert.fail('no packet')), isError(TOO_LARGE));
    assert.equal(d.bufferedBytes, 0);
  });
  test('the size counts the whole packet, fixed header included (3.1.2.11.4): exactly the maximum is accepted', () => {
    const bytes = hex('30 07 00 03 61 2f 62 68 69'); // 9 bytes
    assert.equal(decodeAll(bytes, { protocolVersion: 4, maxPacketSize: 9 }).length, 1);
    assert.throws(() => decodeAll(bytes, { protocolVersion: 4, maxPacketSize: 8 }), isError(TOO_LARGE));
  });
  test('the packets before the too-large one are delivered', () => {
    const d = new PacketDecoder({ protocolVersion: 4, maxPacketSize: 100 });
    const out: Packet[] = [];
    assert.throws(() => d.write(hex('c0 00 d0 00 30 80 01'), (p) => out.push(p)), isError(TOO_LARGE));
    assert.deepStrictEqual(out, [{ type: 'pingreq' }, { type: 'pingresp' }]);
  });
});

describe('after an error the decoder stays failed', () => {
  for (const seed of [1, 2, 3]) {
    test(`packets before the bad one come out; the same error is thrown on every later write (seed ${seed})`, () => {
      const good = hex('c0 00 40 02 00 01');
      const bad = hex('36 02 00 00'); // PUBLISH QoS 3
      const d = new PacketDecoder({ protocolVersion: 4 });
      const out: Packet[] = [];
      let first: unknown;
      for (const ch of randomChunks(Buffer.concat([good, bad]), seed)) {
        try {
          d.write(ch, (p) => out.push(p));
        } catch (err) {
          first = err;
          break;
        }
      }
      isError(MALFORMED)(first);
      assert.deepStrictEqual(out, [{ type: 'pingreq' }, { type: 'puback', packetId: 1 }]);
      // A valid packet afterwards is not decoded: the stream is out of sync for good.
      for (let i = 0; i < 2; i++) {
        assert.throws(() => d.write(hex('c0 00'), (p) => out.push(p)), (err) => err === first);
      }
      assert.equal(out.length, 2);
      assert.equal(d.bufferedBytes, 0);
    });
  }
  test('also after PACKET_TOO_LARGE and after an empty write', () => {
    const d = new PacketDecoder({ protocolVersion: 5, maxPacketSize: 10 });
    let first: unknown;
    try {
      d.write(hex('30 0a'), () => {});
    } catch (err) {
      first = err;
    }
    isError(TOO_LARGE)(first);
    assert.throws(() => d.write(Buffer.alloc(0), () => {}), (err) => err === first);
    assert.throws(() => d.write(hex('c0 00'), () => {}), (err) => err === first);
  });
});

// --- encoder rejections -------------------------------------------------------------------------

const pub = (over: Partial<Extract<Packet, { type: 'publish' }>>): Packet =>
  ({ type: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, ...over });
const conn = (over: Partial<Extract<Packet, { type: 'connect' }>>): Packet =>
  ({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'c', ...over });
const will = { payload: Buffer.alloc(0), qos: 0 as const, retain: false };

interface EncReject { name: string; packet: Packet; version: ProtocolVersion; todo?: string }
const e = (name: string, packet: Packet, version: ProtocolVersion = 5, todo?: string): EncReject =>
  (todo === undefined ? { name, packet, version } : { name, packet, version, todo });

const ENCODER_REJECTS: EncReject[] = [
  e('[MQTT-2.2.1-3] PUBLISH QoS 1 without a packet identifier', pub({ qos: 1 })),
  e('[MQTT-2.2.1-3] PUBLISH QoS 2 with packet identifier 0', pub({ qos: 2, packetId: 0 }), 4),
  e('PUBLISH QoS 1 with packet identifier 65536', pub({ qos: 1, packetId: 65536 })),
  e('[MQTT-3.3.1-2] DUP on a QoS 0 PUBLISH', pub({ dup: true })),
  e('[MQTT-3.3.2-2] wildcard "#" in a topic name', pub({ topic: 'a/#' })),
  e('[MQTT-3.3.2-2] wildcard "+" in a topic name (3.1.1)', pub({ topic: '+' }), 4),
  e('[MQTT-4.7.3-1] empty topic name (3.1.1, where there are no topic aliases)', pub({ topic: '', properties: { topicAlias: 1 } }), 4),
  e('3.3.2.1 empty topic name without a Topic Alias (5.0)', pub({ topic: '' })),
  e('[MQTT-1.5.4-1] lone high surrogate in a topic name', pub({ topic: 'a/\uD800' })),
  e('[MQTT-1.5.4-1] lone low surrogate in a client identifier', conn({ clientId: 'c\uDC00' })),
  e('[MQTT-1.5.4-1] lone surrogate in a user property value', pub({ properties: { userProperties: [['k', '\uD83D']] } })),
  e('[MQTT-1.5.4-2] U+0000 in a topic name', pub({ topic: 'a\u0000b' })),
  e('[MQTT-1.5.4-2] U+0000 in a user name', conn({ username: '\u0000' }), 4),
  e('[MQTT-4.7.3-3] topic name of 65536 bytes', pub({ topic: 'a'.repeat(65_536) })),
  e('1.5.4 string of 32768 "é" = 65536 bytes (counted in bytes, not UTF-16 units)', conn({ clientId: 'é'.repeat(32_768) })),
  e('1.5.6 password (binary data) of 65536 bytes', conn({ username: 'u', password: Buffer.alloc(65_536) }), 4),
  e('1.5.6 correlation data of 65536 bytes', pub({ properties: { correlationData: Buffer.alloc(65_536) } })),
  e('3.1.1 [MQTT-3.1.2-22] password without user name', conn({ protocolVersion: 4, password: Buffer.from('p') })),
  e('[MQTT-3.8.3-2] SUBSCRIBE with no subscription', { type: 'subscribe', packetId: 1, subscriptions: [] }),
  e('[MQTT-4.7.1-1] SUBSCRIBE filter "a/#/b"', { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a/#/b', qos: 0 }] }, 4),
  e('[MQTT-4.7.1-2] SUBSCRIBE filter "a+"', { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a+', qos: 0 }] }),
  e('[MQTT-4.8.2-1] SUBSCRIBE filter "$share//a"', { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share//a', qos: 0 }] }),
  e('[MQTT-3.10.3-2] UNSUBSCRIBE with no filter', { type: 'unsubscribe', packetId: 1, topicFilters: [] }, 4),
  e('[MQTT-4.8.2-2] UNSUBSCRIBE filter "$share/g"', { type: 'unsubscribe', packetId: 1, topicFilters: ['$share/g'] }),
  e('3.9.3 SUBACK with no reason code', { type: 'suback', packetId: 1, reasonCodes: [] }, 4),
  e('3.11.3 UNSUBACK with no reason code (5.0)', { type: 'unsuback', packetId: 1, reasonCodes: [] }),
  e('AUTH in 3.1.1', { type: 'auth', reasonCode: 0 }, 4),
  e('2.2.2.2 Topic Alias is not a CONNECT property',
    conn({ properties: { topicAlias: 1 } as unknown as Extract<Packet, { type: 'connect' }>['properties'] })),
  e('2.2.2.2 Session Expiry Interval is not a PUBACK property',
    { type: 'puback', packetId: 1, reasonCode: 0x10, properties: { sessionExpiryInterval: 1 } } as unknown as Packet),
  e('Receive Maximum 65536 is out of range', conn({ properties: { receiveMaximum: 65_536 } })),
  e('Message Expiry Interval -1 is out of range', pub({ properties: { messageExpiryInterval: -1 } })),
  e('Maximum QoS 2 is out of range', { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 as 1 } }),
  e('3.8.2.1.2 Subscription Identifier 0', {
    type: 'subscribe', packetId: 1, properties: { subscriptionIdentifier: 0 }, subscriptions: [{ topicFilter: 'a', qos: 0 }],
  }),
  e('3.3.2.3.8 Subscription Identifier 268435456 (over the Variable Byte Integer maximum)',
    pub({ properties: { subscriptionIdentifiers: [1, 268_435_456] } })),

  // What the decoder rejects the encoder must refuse to write.
  e('[MQTT-4.7.0-1] will topic with a wildcard', conn({ will: { ...will, topic: 'a/#' } }), 5),
  e('[MQTT-4.7.3-1] empty will topic', conn({ will: { ...will, topic: '' } }), 4),
  e('[MQTT-3.3.2-14] Response Topic with a wildcard', pub({ properties: { responseTopic: 'r/+' } }), 5),
  e('[MQTT-3.3.2-8] Topic Alias 0', pub({ properties: { topicAlias: 0 } }), 5),
  e('3.1.2.11.3 Receive Maximum 0', conn({ properties: { receiveMaximum: 0 } }), 5),
  e('[MQTT-3.3.1-4] PUBLISH with QoS 3', pub({ qos: 3 as 2, packetId: 1 }), 5),
  e('[MQTT-3.8.3-4] No Local on a shared subscription', {
    type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/a', qos: 0, noLocal: true }],
  }, 5),
  e('3.8.3.1 Retain Handling 3', {
    type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0, retainHandling: 3 as 2 }],
  }, 5),
  e('[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0', {
    type: 'subscribe', packetId: 0, subscriptions: [{ topicFilter: 'a', qos: 0 }],
  }, 4),
  e('[MQTT-2.2.1-3] UNSUBSCRIBE with packet identifier 0', { type: 'unsubscribe', packetId: 0, topicFilters: ['a'] }, 5),
  e('[MQTT-2.2.1-5] PUBACK with packet identifier 0', { type: 'puback', packetId: 0 }, 4),
  e('PUBACK with packet identifier 70000', { type: 'puback', packetId: 70_000 }, 4),
  e('CONNECT keep alive 70000', conn({ keepAlive: 70_000 }), 4),
];

describe('encoder rejections (MOAT_ERR_INVALID_PACKET)', () => {
  for (const c of ENCODER_REJECTS) {
    const opts = c.todo === undefined ? {} : { todo: c.todo };
    test(`v${c.version} ${c.name}`, opts, () => {
      assert.throws(() => encodePacket(c.packet, c.version), isError(INVALID));
    });
  }

  test('limits are inclusive: a 65535-byte topic name and a 65535-byte password are encoded', () => {
    const topic = 'a'.repeat(65_535);
    const bytes = encodePacket(pub({ topic }), 4);
    assert.equal(bytes.length, 1 + 3 + 2 + 65_535);
    const [p] = decodeAll(bytes, { protocolVersion: 4 });
    assert.ok(p?.type === 'publish');
    assert.equal(p.topic, topic);
    const c = encodePacket(conn({ username: 'u', password: Buffer.alloc(65_535, 1) }), 5);
    const [q] = decodeAll(c);
    assert.ok(q?.type === 'connect');
    assert.equal(q.password?.length, 65_535);
  });
});
