/**
 * A stored message as bytes, the same for every store: a version byte, the expiry time, the publisher's
 * client id, then the message as an MQTT 5 PUBLISH (topic, QoS, retain, payload and properties), so the
 * codec that checks what arrives on the wire also checks what comes back from disk.
 */
import { MQTT_MAX_PACKET_SIZE, MoatError, decodeAll, encodePacket, type PublishPacket } from '../codec/index.js';
import type { Message } from './types.js';

const FORMAT = 1;

export function encodeMessage(m: Message): Buffer {
  const packet: PublishPacket = { type: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: false };
  if (m.qos > 0) packet.packetId = 1;
  if (m.properties) packet.properties = m.properties;
  const body = encodePacket(packet, 5);
  const publisher = Buffer.from(m.publisherId ?? '', 'utf8');
  const head = Buffer.allocUnsafe(1 + 8 + 2 + publisher.length);
  head.writeUInt8(FORMAT, 0);
  head.writeDoubleBE(m.expiresAt ?? Number.NaN, 1);
  head.writeUInt16BE(publisher.length, 9);
  publisher.copy(head, 11);
  return Buffer.concat([head, body]);
}

export function decodeMessage(bytes: Buffer): Message {
  try {
    if (bytes.readUInt8(0) !== FORMAT) throw new Error(`unknown stored message format ${bytes.readUInt8(0)}`);
    const expiresAt = bytes.readDoubleBE(1);
    const publisherLength = bytes.readUInt16BE(9);
    const publisherId = bytes.toString('utf8', 11, 11 + publisherLength);
    const [packet] = decodeAll(bytes.subarray(11 + publisherLength), { protocolVersion: 5, maxPacketSize: MQTT_MAX_PACKET_SIZE });
    if (packet?.type !== 'publish') throw new Error('stored message is not a PUBLISH');
    const m: Message = { topic: packet.topic, payload: Buffer.from(packet.payload), qos: packet.qos, retain: packet.retain };
    if (packet.properties) m.properties = packet.properties;
    if (!Number.isNaN(expiresAt)) m.expiresAt = expiresAt;
    if (publisherLength > 0) m.publisherId = publisherId;
    return m;
  } catch (cause) {
    throw new MoatError('MOAT_ERR_STORE_CORRUPT', 'a stored message could not be decoded', { cause });
  }
}
