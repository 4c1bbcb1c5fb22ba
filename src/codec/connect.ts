/** CONNECT (3.1) and CONNACK (3.2), for MQTT 3.1, 3.1.1 and 5.0. */
import { MoatError, malformed, protocolError, UNSUPPORTED_PROTOCOL_VERSION } from './errors.js';
import type { ConnackPacket, ConnectPacket, ProtocolVersion, QoS, Will } from './packets.js';
import { propertiesBodySize, readProperties, writeProperties } from './properties.js';
import { V4_VALID_CONNACK, VALID_REASON_CODES, validReasonCode } from './reason-codes.js';
import { topicNameError } from './topic.js';
import { type Reader, binarySize, checkU16, invalidPacket, packetWriter, utf8Size, varintSize } from './wire.js';

export function decodeConnect(r: Reader): ConnectPacket {
  const protocolName = r.utf8();
  const level = r.u8();
  if (!((protocolName === 'MQTT' && (level === 4 || level === 5)) || (protocolName === 'MQIsdp' && level === 3))) {
    // [MQTT-3.1.2-2] the server may answer 0x84 (3.1.1: return code 1) and must close.
    throw new MoatError('MOAT_ERR_UNSUPPORTED_PROTOCOL', `unsupported protocol ${protocolName} level ${level}`,
      { reasonCode: UNSUPPORTED_PROTOCOL_VERSION });
  }
  const version = level as ProtocolVersion;
  const flags = r.u8();
  if (flags & 0x01) throw malformed('CONNECT reserved flag is set [MQTT-3.1.2-3]');
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (willQos === 3) throw malformed('will QoS 3 [MQTT-3.1.2-12]');
  if (!hasWill && (willQos !== 0 || willRetain)) throw malformed('will QoS or retain set without a will [MQTT-3.1.2-11] [MQTT-3.1.2-13]');
  if (version < 5 && hasPassword && !hasUsername) throw malformed('3.1.1 [MQTT-3.1.2-22] password without user name');
  const packet: ConnectPacket = {
    type: 'connect', protocolName, protocolVersion: version, clean: (flags & 0x02) !== 0,
    keepAlive: r.u16(), clientId: '',
  } as ConnectPacket;
  if (version === 5) {
    const props = readProperties(r, 'connect');
    if (props !== undefined) packet.properties = props;
  }
  packet.clientId = r.utf8();
  if (hasWill) {
    const props = version === 5 ? readProperties(r, 'will') : undefined;
    const topic = r.utf8();
    const err = topicNameError(topic);
    if (err !== undefined) throw protocolError(`will ${err}`);
    if (props?.responseTopic !== undefined && topicNameError(props.responseTopic) !== undefined) {
      throw protocolError('will response topic is not a valid topic name [MQTT-3.3.2-14]');
    }
    const will: Will = { topic, payload: r.binary(), qos: willQos as QoS, retain: willRetain };
    if (props !== undefined) will.properties = props;
    packet.will = will;
  }
  if (hasUsername) packet.username = r.utf8();
  if (hasPassword) packet.password = r.binary();
  if (r.remaining() !== 0) throw malformed('CONNECT has bytes after its payload');
  return packet;
}

export function encodeConnect(p: ConnectPacket): Buffer {
  const v = p.protocolVersion;
  const v5 = v === 5;
  const name = v === 3 ? 'MQIsdp' : 'MQTT';
  const propsSize = v5 ? propertiesBodySize(p.properties ?? {}, 'connect') : 0;
  const will = p.will;
  const willPropsSize = v5 && will ? propertiesBodySize(will.properties ?? {}, 'will') : 0;
  if (!v5 && p.password !== undefined && p.username === undefined) {
    throw invalidPacket('MQTT 3.1.1 cannot send a password without a user name');
  }
  checkU16('keepAlive', p.keepAlive);
  if (will) {
    const err = topicNameError(will.topic);
    if (err !== undefined) throw invalidPacket(`will ${err}`);
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) throw invalidPacket('will QoS must be 0, 1 or 2');
  }
  let len = 2 + name.length + 1 + 1 + 2 + utf8Size(p.clientId);
  if (v5) len += varintSize(propsSize) + propsSize;
  if (will) {
    len += utf8Size(will.topic) + binarySize(will.payload);
    if (v5) len += varintSize(willPropsSize) + willPropsSize;
  }
  if (p.username !== undefined) len += utf8Size(p.username);
  if (p.password !== undefined) len += binarySize(p.password);
  const w = packetWriter(0x10, len);
  w.utf8(name);
  w.u8(v);
  let flags = p.clean ? 0x02 : 0;
  if (will) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  w.u8(flags);
  w.u16(p.keepAlive);
  if (v5) writeProperties(w, p.properties, propsSize);
  w.utf8(p.clientId);
  if (will) {
    if (v5) writeProperties(w, will.properties, willPropsSize);
    w.utf8(will.topic);
    w.binary(will.payload);
  }
  if (p.username !== undefined) w.utf8(p.username);
  if (p.password !== undefined) w.binary(p.password);
  return w.buf;
}

export function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket {
  const flags = r.u8();
  if (flags & 0xfe) throw malformed('CONNACK reserved flags are set [MQTT-3.2.2-1]');
  const reasonCode = r.u8();
  const valid = version === 5 ? VALID_REASON_CODES.connack : V4_VALID_CONNACK;
  if (!valid.has(reasonCode)) throw protocolError(`CONNACK reason code 0x${reasonCode.toString(16)} is not valid`);
  const packet: ConnackPacket = { type: 'connack', sessionPresent: (flags & 1) === 1, reasonCode };
  if (version === 5) {
    const props = readProperties(r, 'connack');
    if (props !== undefined) packet.properties = props;
  }
  if (r.remaining() !== 0) throw malformed('CONNACK has trailing bytes');
  return packet;
}

export function encodeConnack(p: ConnackPacket, version: ProtocolVersion): Buffer {
  validReasonCode('connack', p.reasonCode, version, invalidPacket);
  const propsSize = version === 5 ? propertiesBodySize(p.properties ?? {}, 'connack') : 0;
  const w = packetWriter(0x20, 2 + (version === 5 ? varintSize(propsSize) + propsSize : 0));
  w.u8(p.sessionPresent ? 1 : 0);
  w.u8(p.reasonCode);
  if (version === 5) writeProperties(w, p.properties, propsSize);
  return w.buf;
}
