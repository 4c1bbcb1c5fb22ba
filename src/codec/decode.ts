/** Decodes one complete packet whose fixed header has been read. */
import { MoatError, malformed } from './errors.js';
import type { Packet, ProtocolVersion } from './packets.js';
import { decodeConnack, decodeConnect } from './connect.js';
import { decodePublish } from './publish.js';
import { decodeAck } from './acks.js';
import { decodeSubscribe, decodeSuback, decodeUnsubscribe, decodeUnsuback } from './subscribe.js';
import { decodeAuth, decodeDisconnect } from './control.js';
import { Reader } from './wire.js';

/** PUBREL, SUBSCRIBE and UNSUBSCRIBE carry flags 0b0010; all others but PUBLISH 0 [MQTT-2.1.3-1]. */
const REQUIRED_FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];

/**
 * `buf[start..end)` is the variable header and payload of a packet whose first byte is `firstByte`.
 * Throws only MoatError.
 */
export function decodePacket(firstByte: number, buf: Buffer, start: number, end: number, version: ProtocolVersion): Packet {
  const type = firstByte >> 4;
  const flags = firstByte & 0x0f;
  const required = REQUIRED_FLAGS[type]!;
  if (required >= 0 && flags !== required) throw malformed(`reserved flags 0x${flags.toString(16)} on packet type ${type} [MQTT-2.1.3-1]`);
  const r = new Reader(buf, start, end);
  try {
    return decodeBody(r, type, flags, version);
  } catch (err) {
    if (err instanceof MoatError) throw err;
    throw new MoatError('MOAT_ERR_MALFORMED_PACKET', 'packet could not be decoded', { reasonCode: 0x81, cause: err });
  }
}

function decodeBody(r: Reader, type: number, flags: number, version: ProtocolVersion): Packet {
  switch (type) {
    case 1: return decodeConnect(r);
    case 2: return decodeConnack(r, version);
    case 3: return decodePublish(r, flags, version);
    case 4: return decodeAck(r, 'puback', version);
    case 5: return decodeAck(r, 'pubrec', version);
    case 6: return decodeAck(r, 'pubrel', version);
    case 7: return decodeAck(r, 'pubcomp', version);
    case 8: return decodeSubscribe(r, version);
    case 9: return decodeSuback(r, version);
    case 10: return decodeUnsubscribe(r, version);
    case 11: return decodeUnsuback(r, version);
    case 12:
    case 13:
      if (r.remaining() !== 0) throw malformed('PINGREQ/PINGRESP remaining length must be 0');
      return { type: type === 12 ? 'pingreq' : 'pingresp' };
    case 14: return decodeDisconnect(r, version);
    case 15:
      if (version < 5) throw malformed('AUTH exists only in MQTT 5');
      return decodeAuth(r);
    default:
      throw malformed('packet type 0 is reserved');
  }
}
