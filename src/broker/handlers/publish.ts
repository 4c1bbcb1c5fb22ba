/** PUBLISH from a client (3.3.4): topic alias, limits, authorization, routing, retain, acknowledgement. */
import { MoatError, protocolError, type PublishPacket } from '../../codec/index.js';
import type { Connection } from '../connection.js';
import { askAll } from '../hooks.js';
import { PublishOutcome } from '../ports.js';
import type { Message } from '../types.js';
import { toMessage } from './message.js';

export function handlePublish(c: Connection, p: PublishPacket): void | Promise<void> {
  const { options, hooks } = c.broker;
  c.broker.count('messagesIn');
  const topic = resolveTopic(c, p);
  if (p.properties?.subscriptionIdentifiers !== undefined) {
    throw protocolError('a client may not send Subscription Identifiers [MQTT-3.3.4-6]');
  }
  if (p.qos > options.maximumQoS) {
    throw new MoatError('MOAT_ERR_QOS_NOT_SUPPORTED', `QoS ${p.qos} above Maximum QoS [MQTT-3.2.2-11]`, { reasonCode: 0x9b });
  }
  if (p.retain && !options.retainAvailable) {
    throw new MoatError('MOAT_ERR_RETAIN_NOT_SUPPORTED', 'retain not available [MQTT-3.2.2-14]', { reasonCode: 0x9a });
  }
  const session = c.session!;
  if (p.qos === 2 && session.incomingQos2.has(p.packetId!)) {
    // A resent QoS 2 PUBLISH already taken: acknowledge again, deliver once [MQTT-4.3.3-9].
    c.afterCommit(() => c.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 }));
    return;
  }
  if (p.qos > 0) {
    // [MQTT-3.3.4-7] [3.3.4] a client past our Receive Maximum gets DISCONNECT 0x93.
    if (c.inboundInFlight >= options.limits.receiveMaximum) {
      throw new MoatError('MOAT_ERR_RECEIVE_MAXIMUM_EXCEEDED', 'Receive Maximum exceeded [MQTT-3.3.4-7]', { reasonCode: 0x93 });
    }
    c.inboundInFlight++;
  }
  checkTopic(c, topic);
  const message = toMessage(c, topic, p.payload, p.qos, p.retain, p.properties);
  // Invariant outside the hooks: no client publishes into $SYS.
  if (topic === '$SYS' || topic.startsWith('$SYS/')) return refuse(c, p, 0x87, 'publish to $SYS refused');
  if (hooks.authorizePublish.length === 0) return route(c, p, message); // the common, allocation-free path
  const client = c.info();
  const request = { topic, qos: p.qos, retain: p.retain, payload: message.payload };
  const answers = askAll(hooks.authorizePublish.map((h) => h(client, request, c.signal)));
  const decide = (verdicts: Array<boolean | undefined>): void => {
    if (verdicts.includes(false)) return refuse(c, p, 0x87, 'publish not authorized');
    route(c, p, message);
  };
  return answers instanceof Promise ? answers.then(decide) : decide(answers);
}

function route(c: Connection, p: PublishPacket, message: Message): void {
  const outcome = c.broker.publish(message, c);
  if (outcome === PublishOutcome.QuotaExceeded) {
    // Nothing was routed: the publisher keeps the message and may retry [no acknowledged loss].
    if (p.qos === 0 || c.version < 5) {
      c.broker.log.warn({ clientId: c.clientId, topic: message.topic, qos: p.qos },
        p.qos === 0 ? 'QoS 0 message dropped: a subscriber queue is full' : 'subscriber queue full: closing 3.1.1 publisher without acknowledgement');
      if (p.qos === 0) return;
      return c.disconnect(0x97);
    }
    return ack(c, p, 0x97);
  }
  if (message.retain) c.broker.retain(message);
  if (p.qos > 0) ack(c, p, outcome === PublishOutcome.NoSubscribers && c.version === 5 ? 0x10 : 0);
}

function refuse(c: Connection, p: PublishPacket, reasonCode: number, why: string): void {
  c.broker.log.info({ clientId: c.clientId, topic: p.topic }, why);
  // 3.1.1 [MQTT-3.3.5-2]: no negative acknowledgement exists; a positive one is allowed.
  if (p.qos > 0) ack(c, p, c.version === 5 ? reasonCode : 0);
}

/**
 * PUBACK / PUBREC once what the message did is durable: a publisher that holds an acknowledgement can
 * count on the message surviving a crash. Acknowledgements keep their order [MQTT-4.6.0-2] [MQTT-4.6.0-3].
 */
function ack(c: Connection, p: PublishPacket, reasonCode: number): void {
  const packetId = p.packetId!;
  // A QoS 1 flow, or a failed QoS 2 flow, ends here [MQTT-4.3.3-4]: its packet id is free again.
  const done = p.qos === 1 || reasonCode >= 0x80;
  if (!done) {
    // Taken now, so a resend before the PUBREC goes out is not routed twice; stored with the message.
    const session = c.session!;
    session.incomingQos2.add(packetId);
    session.journal?.incoming(c.clientId, packetId, true);
  }
  c.afterCommit(() => {
    if (done) c.inboundInFlight--;
    c.send({ type: p.qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode });
  });
}

/** v5 Topic Alias (3.3.2.3.4): 0 or above our maximum is 0x94; an unknown alias with no topic 0x82. */
function resolveTopic(c: Connection, p: PublishPacket): string {
  const alias = p.properties?.topicAlias;
  if (alias === undefined) return p.topic;
  if (alias > c.broker.options.limits.topicAliasMaximum) {
    throw new MoatError('MOAT_ERR_TOPIC_ALIAS_INVALID', `topic alias ${alias} above Topic Alias Maximum [MQTT-3.3.2-12]`, { reasonCode: 0x94 });
  }
  if (p.topic.length > 0) {
    (c.inboundAliases ??= new Map()).set(alias, p.topic);
    return p.topic;
  }
  const topic = c.inboundAliases?.get(alias);
  if (topic === undefined) throw protocolError(`unknown topic alias ${alias} [MQTT-3.3.4-7]`);
  return topic;
}

/** Topic length and depth limits: 0x90 Topic Name invalid. */
export function checkTopic(c: Connection, topic: string): void {
  const { limits } = c.broker.options;
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++;
  if (levels > limits.maxTopicLevels || topic.length > limits.maxTopicLength) {
    throw new MoatError('MOAT_ERR_TOPIC_TOO_LONG', `topic exceeds ${limits.maxTopicLevels} levels or ${limits.maxTopicLength} characters`, { reasonCode: 0x90 });
  }
}
