/** Encodes any packet into one exactly-sized buffer. Invalid input throws MOAT_ERR_INVALID_PACKET. */
import type { Packet, ProtocolVersion } from './packets.js';
import { encodeConnack, encodeConnect } from './connect.js';
import { encodePublish } from './publish.js';
import { encodeAck } from './acks.js';
import { encodeSubscribe, encodeSuback, encodeUnsubscribe, encodeUnsuback } from './subscribe.js';
import { PINGREQ_BYTES, PINGRESP_BYTES, encodeAuth, encodeDisconnect } from './control.js';
import { invalidPacket } from './wire.js';

/** `version` is the connection's; CONNECT carries its own. The returned buffer is the caller's. */
export function encodePacket(packet: Packet, version: ProtocolVersion = 5): Buffer {
  switch (packet.type) {
    case 'connect': return encodeConnect(packet);
    case 'connack': return encodeConnack(packet, version);
    case 'publish': return encodePublish(packet, version);
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': return encodeAck(packet, version);
    case 'subscribe': return encodeSubscribe(packet, version);
    case 'suback': return encodeSuback(packet, version);
    case 'unsubscribe': return encodeUnsubscribe(packet, version);
    case 'unsuback': return encodeUnsuback(packet, version);
    case 'pingreq': return Buffer.from(PINGREQ_BYTES);
    case 'pingresp': return Buffer.from(PINGRESP_BYTES);
    case 'disconnect': return encodeDisconnect(packet, version);
    case 'auth':
      if (version < 5) throw invalidPacket('AUTH exists only in MQTT 5');
      return encodeAuth(packet);
  }
}
