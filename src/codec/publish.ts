/** PUBLISH (3.3). The fan-out encoder for one message to many subscribers is in fanout.ts. */
import { malformed, protocolError } from './errors.js';
import type { ProtocolVersion, PublishPacket, QoS } from './packets.js';
import { propertiesBodySize, readProperties, writeProperties } from './properties.js';
import { topicNameError } from './topic.js';
import { type Reader, checkPacketId, invalidPacket, packetWriter, utf8Size, varintSize } from './wire.js';

export function decodePublish(r: Reader, flags: number, version: ProtocolVersion): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) throw malformed('PUBLISH with QoS 3 [MQTT-3.3.1-4]');
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) throw malformed('DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]');
  const topic = r.utf8();
  const packet: PublishPacket = {
    type: 'publish', topic, payload: EMPTY, qos: qos as QoS, retain: (flags & 0x01) !== 0, dup,
  };
  if (qos > 0) {
    const id = r.u16();
    if (id === 0) throw protocolError('PUBLISH QoS > 0 with packet identifier 0 [MQTT-2.2.1-3]');
    packet.packetId = id;
  }
  if (version === 5) {
    const props = readProperties(r, 'publish');
    if (props !== undefined) {
      packet.properties = props;
      if (props.responseTopic !== undefined && topicNameError(props.responseTopic) !== undefined) {
        throw protocolError('response topic is not a valid topic name [MQTT-3.3.2-14]');
      }
    }
  }
  // v5: an empty topic stands for the one a Topic Alias maps to [MQTT-3.3.2-1]; the engine resolves it.
  if (topic.length > 0 || version < 5 || packet.properties?.topicAlias === undefined) {
    const err = topicNameError(topic);
    if (err !== undefined) throw protocolError(err);
  }
  packet.payload = r.buf.subarray(r.pos, r.end);
  r.pos = r.end;
  return packet;
}

const EMPTY = Buffer.alloc(0);

export function publishFlags(qos: number, retain: boolean, dup: boolean): number {
  return 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
}

/** Checks what the encoder must never put on the wire. */
export function checkOutgoingPublish(p: PublishPacket, version: ProtocolVersion): void {
  if (p.qos !== 0 && p.qos !== 1 && p.qos !== 2) throw invalidPacket('PUBLISH QoS must be 0, 1 or 2 [MQTT-3.3.1-4]');
  if (p.qos > 0) checkPacketId(p.packetId);
  if (p.qos === 0 && p.dup) throw invalidPacket('DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2]');
  if (p.topic.length === 0 && (version < 5 || p.properties?.topicAlias === undefined)) {
    throw invalidPacket('PUBLISH needs a topic name or a topic alias');
  }
  if (p.topic.includes('+') || p.topic.includes('#')) throw invalidPacket('topic name contains a wildcard [MQTT-3.3.2-2]');
}

export function encodePublish(p: PublishPacket, version: ProtocolVersion): Buffer {
  checkOutgoingPublish(p, version);
  const propsSize = version === 5 ? propertiesBodySize(p.properties ?? {}, 'publish') : 0;
  const len = utf8Size(p.topic) + (p.qos > 0 ? 2 : 0)
    + (version === 5 ? varintSize(propsSize) + propsSize : 0) + p.payload.length;
  const w = packetWriter(publishFlags(p.qos, p.retain, p.dup), len);
  w.utf8(p.topic);
  if (p.qos > 0) w.u16(p.packetId!);
  if (version === 5) writeProperties(w, p.properties, propsSize);
  w.bytes(p.payload);
  return w.buf;
}
