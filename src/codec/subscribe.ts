/** SUBSCRIBE/SUBACK (3.8, 3.9) and UNSUBSCRIBE/UNSUBACK (3.10, 3.11). */
import { malformed, protocolError } from './errors.js';
import type {
  ProtocolVersion, QoS, RetainHandling, SubackPacket, SubscribePacket, Subscription, UnsubackPacket,
  UnsubscribePacket,
} from './packets.js';
import { propertiesBodySize, readProperties, writeProperties } from './properties.js';
import { V4_VALID_SUBACK, VALID_REASON_CODES, validReasonCode } from './reason-codes.js';
import { topicFilterError, parseSharedFilter } from './topic.js';
import { readPacketId } from './acks.js';
import { type Reader, type Writer, checkPacketId, invalidPacket, packetWriter, utf8Size, varintSize } from './wire.js';

function readFilter(r: Reader): string {
  const filter = r.utf8();
  const err = topicFilterError(filter);
  // A filter that breaks the wildcard grammar cannot be parsed as a filter: Malformed, as Mosquitto does.
  if (err !== undefined) throw malformed(err);
  return filter;
}

export function decodeSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket {
  const packetId = readPacketId(r, 'subscribe');
  const packet: SubscribePacket = { type: 'subscribe', packetId, subscriptions: [] };
  if (version === 5) {
    const props = readProperties(r, 'subscribe');
    if (props !== undefined) packet.properties = props;
  }
  while (r.remaining() > 0) {
    const topicFilter = readFilter(r);
    const o = r.u8();
    const qos = o & 0x03;
    if (qos === 3) throw malformed('subscription QoS 3');
    const sub: Subscription = { topicFilter, qos: qos as QoS };
    if (version === 5) {
      if (o & 0xc0) throw malformed('reserved subscription option bits are set [MQTT-3.8.3-5]');
      const retainHandling = (o >> 4) & 0x03;
      if (retainHandling === 3) throw protocolError('retain handling 3');
      sub.noLocal = (o & 0x04) !== 0;
      sub.retainAsPublished = (o & 0x08) !== 0;
      sub.retainHandling = retainHandling as RetainHandling;
      if (sub.noLocal && parseSharedFilter(topicFilter)) {
        throw protocolError('No Local on a shared subscription [MQTT-3.8.3-4]');
      }
    } else if (o & 0xfc) {
      throw malformed('3.1.1 [MQTT-3.8.3-4] reserved subscription option bits are set');
    }
    packet.subscriptions.push(sub);
  }
  if (packet.subscriptions.length === 0) throw protocolError('SUBSCRIBE without a topic filter [MQTT-3.8.3-2]');
  return packet;
}

export function encodeSubscribe(p: SubscribePacket, version: ProtocolVersion): Buffer {
  if (p.subscriptions.length === 0) throw invalidPacket('SUBSCRIBE needs at least one topic filter');
  const propsSize = version === 5 ? propertiesBodySize(p.properties ?? {}, 'subscribe') : 0;
  checkPacketId(p.packetId);
  let len = 2 + (version === 5 ? varintSize(propsSize) + propsSize : 0);
  for (const s of p.subscriptions) {
    len += utf8Size(checkFilter(s.topicFilter)) + 1;
    if (!isSmall(s.qos, 2) || !isSmall(s.retainHandling ?? 0, 2)) throw invalidPacket('subscription QoS or retain handling out of range');
    if (s.noLocal && parseSharedFilter(s.topicFilter)) throw invalidPacket('No Local on a shared subscription [MQTT-3.8.3-4]');
  }
  const w = packetWriter(0x82, len);
  w.u16(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propsSize);
  for (const s of p.subscriptions) {
    w.utf8(s.topicFilter);
    let o: number = s.qos;
    if (version === 5) {
      o |= (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4);
    }
    w.u8(o);
  }
  return w.buf;
}

const isSmall = (v: number, max: number): boolean => Number.isInteger(v) && v >= 0 && v <= max;

function checkFilter(filter: string): string {
  const err = topicFilterError(filter);
  if (err !== undefined) throw invalidPacket(err);
  return filter;
}

function readReasonCodes(r: Reader, valid: ReadonlySet<number>, type: string): number[] {
  const codes: number[] = [];
  while (r.remaining() > 0) {
    const c = r.u8();
    if (!valid.has(c)) throw protocolError(`${type} reason code 0x${c.toString(16)} is not valid`);
    codes.push(c);
  }
  return codes;
}

export function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket {
  const packet: SubackPacket = { type: 'suback', packetId: readPacketId(r, 'suback'), reasonCodes: [] };
  if (version === 5) {
    const props = readProperties(r, 'suback');
    if (props !== undefined) packet.properties = props;
  }
  packet.reasonCodes = readReasonCodes(r, version === 5 ? VALID_REASON_CODES.suback : V4_VALID_SUBACK, 'SUBACK');
  if (packet.reasonCodes.length === 0) throw protocolError('SUBACK without reason codes');
  return packet;
}

function encodeCodesAck(
  first: number, p: SubackPacket | UnsubackPacket, version: ProtocolVersion, withCodes: boolean,
): Buffer {
  const propsSize = version === 5 ? propertiesBodySize(p.properties ?? {}, p.type) : 0;
  checkPacketId(p.packetId);
  if (withCodes) for (const c of p.reasonCodes) validReasonCode(p.type, c, version, invalidPacket);
  const codes = withCodes ? p.reasonCodes.length : 0;
  const w: Writer = packetWriter(first, 2 + (version === 5 ? varintSize(propsSize) + propsSize : 0) + codes);
  w.u16(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propsSize);
  if (withCodes) for (const c of p.reasonCodes) w.u8(c);
  return w.buf;
}

export function encodeSuback(p: SubackPacket, version: ProtocolVersion): Buffer {
  if (p.reasonCodes.length === 0) throw invalidPacket('SUBACK needs at least one reason code');
  return encodeCodesAck(0x90, p, version, true);
}

export function decodeUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket {
  const packet: UnsubscribePacket = { type: 'unsubscribe', packetId: readPacketId(r, 'unsubscribe'), topicFilters: [] };
  if (version === 5) {
    const props = readProperties(r, 'unsubscribe');
    if (props !== undefined) packet.properties = props;
  }
  while (r.remaining() > 0) packet.topicFilters.push(readFilter(r));
  if (packet.topicFilters.length === 0) throw protocolError('UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]');
  return packet;
}

export function encodeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): Buffer {
  if (p.topicFilters.length === 0) throw invalidPacket('UNSUBSCRIBE needs at least one topic filter');
  const propsSize = version === 5 ? propertiesBodySize(p.properties ?? {}, 'unsubscribe') : 0;
  checkPacketId(p.packetId);
  let len = 2 + (version === 5 ? varintSize(propsSize) + propsSize : 0);
  for (const f of p.topicFilters) len += utf8Size(checkFilter(f));
  const w = packetWriter(0xa2, len);
  w.u16(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propsSize);
  for (const f of p.topicFilters) w.utf8(f);
  return w.buf;
}

export function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket {
  const packet: UnsubackPacket = { type: 'unsuback', packetId: readPacketId(r, 'unsuback'), reasonCodes: [] };
  if (version < 5) {
    if (r.remaining() !== 0) throw malformed('3.1.1 UNSUBACK remaining length must be 2');
    return packet;
  }
  const props = readProperties(r, 'unsuback');
  if (props !== undefined) packet.properties = props;
  packet.reasonCodes = readReasonCodes(r, VALID_REASON_CODES.unsuback, 'UNSUBACK');
  if (packet.reasonCodes.length === 0) throw protocolError('UNSUBACK without reason codes');
  return packet;
}

export function encodeUnsuback(p: UnsubackPacket, version: ProtocolVersion): Buffer {
  if (version === 5 && p.reasonCodes.length === 0) throw invalidPacket('UNSUBACK needs at least one reason code');
  return encodeCodesAck(0xb0, p, version, version === 5);
}
