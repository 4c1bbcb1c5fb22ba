/**
 * One message, many subscribers: the broker encodes a PUBLISH once per distinct variant (protocol
 * version, QoS 0 or not, retain, subscription identifiers, topic alias, expiry) and every subscriber
 * with that variant gets the same bytes. QoS 1/2 copies only the small header to patch the packet
 * identifier and flags; the payload is shared, never copied, once it is large.
 */
import type { ProtocolVersion, QoS } from './packets.js';
import { type PublishProperties, propertiesBodySize, writeProperties } from './properties.js';
import { publishFlags } from './publish.js';
import { topicNameError } from './topic.js';
import { invalidPacket, packetWriter, utf8Size, varintSize } from './wire.js';

export interface FanoutMessage {
  topic: string;
  payload: Buffer;
  /** The message's own properties; per-hop ones (topic alias, subscription identifiers) are ignored. */
  properties?: PublishProperties;
}

export interface PublishVariant {
  version: ProtocolVersion;
  qos: QoS;
  /** Required when qos > 0. */
  packetId?: number;
  retain: boolean;
  dup?: boolean;
  subscriptionIdentifiers?: number[];
  topicAlias?: number;
  /** With a topic alias already known to the receiver, send an empty topic name. */
  omitTopic?: boolean;
  /** Remaining lifetime in seconds [MQTT-3.3.2-6]; replaces the message's own value. */
  messageExpiryInterval?: number;
}

interface Template {
  /** Fixed header + variable header (+ payload when small). */
  bytes: Buffer;
  /** Offset of the packet identifier in `bytes`, or -1 for QoS 0. */
  idOffset: number;
  withPayload: boolean;
  chunks: Buffer[];
  /** QoS 1/2 with a long template: everything after the packet id, shared; only the head is copied. */
  tail: Buffer | undefined;
}

/** Templates longer than this copy only their head (up to the packet id) per subscriber. */
const SPLIT_AT = 256;

/** Below this, header and payload go out as one buffer: one copy beats a second write. */
const INLINE_PAYLOAD = 2048;
const MAX_TEMPLATES = 64;

export class PublishFanout {
  private readonly templates = new Map<string | number, Template>();
  private readonly baseProps: PublishProperties | undefined;

  constructor(readonly message: FanoutMessage) {
    const err = topicNameError(message.topic);
    if (err !== undefined) throw invalidPacket(err);
    const p = message.properties;
    if (p && (p.topicAlias !== undefined || p.subscriptionIdentifiers !== undefined)) {
      const { topicAlias: _a, subscriptionIdentifiers: _s, ...rest } = p;
      this.baseProps = rest;
    } else {
      this.baseProps = p;
    }
  }

  /** The bytes for one subscriber, as chunks to write in order (shared: do not modify). */
  encode(v: PublishVariant): Buffer[] {
    const key = variantKey(v);
    let t = this.templates.get(key);
    if (t === undefined) {
      t = this.build(v);
      if (this.templates.size < MAX_TEMPLATES) this.templates.set(key, t);
    }
    if (v.qos === 0) return t.chunks;
    const id = v.packetId;
    if (id === undefined || id < 1 || id > 0xffff) throw invalidPacket('PUBLISH with QoS > 0 needs a packet identifier');
    const flags = publishFlags(v.qos, v.retain, v.dup === true);
    if (t.tail !== undefined) {
      const head = Buffer.allocUnsafe(t.idOffset + 2);
      t.bytes.copy(head, 0, 0, t.idOffset);
      head[0] = flags;
      head.writeUInt16BE(id, t.idOffset);
      return t.withPayload ? [head, t.tail] : [head, t.tail, this.message.payload];
    }
    const bytes = Buffer.from(t.bytes);
    bytes[0] = flags;
    bytes.writeUInt16BE(id, t.idOffset);
    return t.withPayload ? [bytes] : [bytes, this.message.payload];
  }

  /** Total size of what `encode(v)` returns, to check against a client's Maximum Packet Size. */
  size(v: PublishVariant): number {
    let n = 0;
    for (const c of this.encode({ ...v, packetId: v.qos > 0 ? 1 : undefined })) n += c.length;
    return n;
  }

  private build(v: PublishVariant): Template {
    if (v.qos !== 0 && v.qos !== 1 && v.qos !== 2) throw invalidPacket('PUBLISH QoS must be 0, 1 or 2');
    if (v.qos === 0 && v.dup) throw invalidPacket('DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2]');
    // v5-only fields are ignored for 3.1.1 (as encodePacket does), but an omitted topic would be invalid.
    if (v.omitTopic && (v.version < 5 || v.topicAlias === undefined)) throw invalidPacket('an empty topic name needs an MQTT 5 topic alias');
    const topic = v.omitTopic ? '' : this.message.topic;
    const payload = this.message.payload;
    const props = v.version === 5 ? this.variantProps(v) : undefined;
    const propsSize = props ? propertiesBodySize(props, 'publish') : 0;
    const head = utf8Size(topic) + (v.qos > 0 ? 2 : 0) + (v.version === 5 ? varintSize(propsSize) + propsSize : 0);
    const withPayload = payload.length < INLINE_PAYLOAD;
    const w = packetWriter(publishFlags(v.qos, v.retain, v.dup === true), head + payload.length,
      withPayload ? head + payload.length : head);
    const bytes = w.buf;
    w.utf8(topic);
    const idOffset = v.qos > 0 ? w.pos : -1;
    if (v.qos > 0) w.u16(1);
    if (v.version === 5) writeProperties(w, props, propsSize);
    if (withPayload) w.bytes(payload);
    const tail = idOffset >= 0 && bytes.length > SPLIT_AT ? bytes.subarray(idOffset + 2) : undefined;
    return { bytes, idOffset, withPayload, chunks: withPayload ? [bytes] : [bytes, payload], tail };
  }

  private variantProps(v: PublishVariant): PublishProperties | undefined {
    if (v.subscriptionIdentifiers === undefined && v.topicAlias === undefined && v.messageExpiryInterval === undefined) {
      return this.baseProps;
    }
    const p: PublishProperties = { ...this.baseProps };
    if (v.messageExpiryInterval !== undefined) p.messageExpiryInterval = v.messageExpiryInterval;
    if (v.topicAlias !== undefined) p.topicAlias = v.topicAlias;
    if (v.subscriptionIdentifiers !== undefined && v.subscriptionIdentifiers.length > 0) {
      p.subscriptionIdentifiers = v.subscriptionIdentifiers;
    }
    return p;
  }
}

function variantKey(v: PublishVariant): string | number {
  // The common variant (no per-subscriber properties) gets a small number, built without a string.
  if (v.topicAlias === undefined && v.messageExpiryInterval === undefined && !v.omitTopic
    && (v.subscriptionIdentifiers === undefined || v.subscriptionIdentifiers.length === 0)) {
    return v.version * 8 + (v.qos > 0 ? 4 : 0) + (v.retain ? 2 : 0) + (v.dup ? 1 : 0);
  }
  return `${v.version}${v.qos > 0 ? 1 : 0}${v.retain ? 1 : 0}${v.dup ? 1 : 0}|${v.subscriptionIdentifiers?.join(',') ?? ''}`
    + `|${v.topicAlias ?? ''}|${v.omitTopic ? 1 : 0}|${v.messageExpiryInterval ?? ''}`;
}
