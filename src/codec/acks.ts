/** PUBACK, PUBREC, PUBREL and PUBCOMP (3.4–3.7): a packet identifier, and in v5 a reason code. */
import { malformed, protocolError } from './errors.js';
import type { AckPacket, ProtocolVersion } from './packets.js';
import { propertiesBodySize, readProperties, writeProperties } from './properties.js';
import { VALID_REASON_CODES, validReasonCode } from './reason-codes.js';
import { type Reader, checkPacketId, invalidPacket, packetWriter, varintSize } from './wire.js';

type AckType = AckPacket['type'];
const FIRST_BYTE: Record<AckType, number> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 };

/** Packet identifier 0 is never valid: [MQTT-2.2.1-3] requests, [MQTT-2.2.1-5] [MQTT-2.2.1-6] answers. */
export function readPacketId(r: Reader, type: string): number {
  const id = r.u16();
  if (id === 0) throw protocolError(`${type.toUpperCase()} with packet identifier 0 [MQTT-2.2.1-3]`);
  return id;
}

export function decodeAck(r: Reader, type: AckType, version: ProtocolVersion): AckPacket {
  const packetId = readPacketId(r, type);
  if (version < 5) {
    if (r.remaining() !== 0) throw malformed(`${type.toUpperCase()} remaining length must be 2`);
    return { type, packetId } as AckPacket;
  }
  // A remaining length of 2 means Success with no properties [3.4.2.1].
  const reasonCode = r.remaining() > 0 ? r.u8() : 0;
  if (!VALID_REASON_CODES[type].has(reasonCode)) {
    throw protocolError(`${type.toUpperCase()} reason code 0x${reasonCode.toString(16)} is not valid`);
  }
  const packet = { type, packetId, reasonCode } as AckPacket;
  if (r.remaining() > 0) {
    const props = readProperties(r, type);
    if (props !== undefined) packet.properties = props;
    if (r.remaining() !== 0) throw malformed(`${type.toUpperCase()} has trailing bytes`);
  }
  return packet;
}

export function encodeAck(p: AckPacket, version: ProtocolVersion): Buffer {
  const first = FIRST_BYTE[p.type];
  checkPacketId(p.packetId);
  const reasonCode = version === 5 ? validReasonCode(p.type, p.reasonCode ?? 0, 5, invalidPacket) : 0;
  const propsSize = version === 5 && p.properties !== undefined ? propertiesBodySize(p.properties, p.type) : 0;
  if (version < 5 || (reasonCode === 0 && propsSize === 0)) {
    const w = packetWriter(first, 2);
    w.u16(p.packetId);
    return w.buf;
  }
  const w = packetWriter(first, 3 + (propsSize > 0 ? varintSize(propsSize) + propsSize : 0));
  w.u16(p.packetId);
  w.u8(reasonCode);
  if (propsSize > 0) writeProperties(w, p.properties, propsSize);
  return w.buf;
}
