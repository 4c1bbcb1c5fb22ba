/** Turns a received PUBLISH or will into the broker's Message. */
import type { PublishProperties, QoS } from '../../codec/index.js';
import type { Connection } from '../connection.js';
import type { Message } from '../types.js';

/**
 * A decoded payload is a view into the socket chunk it arrived in; a message that may wait in queues
 * should not pin a much larger chunk, so it gets its own copy then.
 */
export function ownPayload(payload: Buffer): Buffer {
  return payload.buffer.byteLength > payload.length * 2 + 1024 ? Buffer.from(payload) : payload;
}

export function toMessage(
  c: Connection, topic: string, payload: Buffer, qos: QoS, retain: boolean, properties: PublishProperties | undefined,
): Message {
  const message: Message = { topic, payload: ownPayload(payload), qos, retain, publisherId: c.clientId };
  if (properties) {
    const { topicAlias: _alias, subscriptionIdentifiers: _ids, ...own } = properties;
    if (Object.keys(own).length > 0) message.properties = own;
    if (own.messageExpiryInterval !== undefined) {
      message.expiresAt = c.broker.clock.now() + own.messageExpiryInterval * 1000;
    }
  }
  return message;
}
