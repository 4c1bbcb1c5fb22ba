/** The will of a CONNECT (3.1.3.2–3.1.3.4), kept on the connection until it closes. */
import { MoatError, type Will as WillPacket } from '../../codec/index.js';
import type { Connection } from '../connection.js';
import type { Will } from '../ports.js';
import { toMessage } from './message.js';
import { checkTopic } from './publish.js';

export function willFrom(c: Connection, w: WillPacket): Will {
  checkTopic(c, w.topic);
  const { options } = c.broker;
  if (w.qos > options.maximumQoS) {
    throw new MoatError('MOAT_ERR_QOS_NOT_SUPPORTED', 'will QoS above the maximum QoS [MQTT-3.2.2-12]', { reasonCode: 0x9b });
  }
  if (w.retain && !options.retainAvailable) {
    throw new MoatError('MOAT_ERR_RETAIN_NOT_SUPPORTED', 'retained will not supported [MQTT-3.2.2-13]', { reasonCode: 0x9a });
  }
  const { willDelayInterval, ...props } = w.properties ?? {};
  const message = toMessage(c, w.topic, Buffer.from(w.payload), w.qos, w.retain, props);
  // Its expiry counts from when it is published, not from CONNECT: the broker sets it then.
  delete message.expiresAt;
  return { message, delay: willDelayInterval ?? 0 };
}
