/** PINGREQ, PINGRESP (3.12, 3.13), DISCONNECT (3.14) and AUTH (3.15). */
import { malformed, protocolError } from './errors.js';
import type { AuthPacket, DisconnectPacket, ProtocolVersion } from './packets.js';
import { propertiesBodySize, readProperties, writeProperties } from './properties.js';
import { VALID_REASON_CODES, validReasonCode } from './reason-codes.js';
import { type Reader, invalidPacket, packetWriter, varintSize } from './wire.js';

export const PINGREQ_BYTES: Buffer = Buffer.from([0xc0, 0x00]);
export const PINGRESP_BYTES: Buffer = Buffer.from([0xd0, 0x00]);

/** DISCONNECT and AUTH share a layout: optional reason code, then optional properties. */
function readReasonAndProps(r: Reader, type: 'disconnect' | 'auth'): { reasonCode: number; properties?: object } {
  const reasonCode = r.remaining() > 0 ? r.u8() : 0;
  if (!VALID_REASON_CODES[type].has(reasonCode)) {
    throw protocolError(`${type.toUpperCase()} reason code 0x${reasonCode.toString(16)} is not valid`);
  }
  const out: { reasonCode: number; properties?: { authenticationMethod?: string } } = { reasonCode };
  // "If the Remaining Length is less than 2, a value of 0 is used" for the property length.
  if (r.remaining() > 0) {
    const props = readProperties(r, type);
    if (props !== undefined) out.properties = props;
    if (r.remaining() !== 0) throw malformed(`${type.toUpperCase()} has trailing bytes`);
  }
  // [3.15.2.2.2] "It is a Protocol Error to omit the Authentication Method"; only the 0-length
  // Success form may leave it out.
  if (type === 'auth' && (reasonCode !== 0 || out.properties) && out.properties?.authenticationMethod === undefined) {
    throw protocolError('AUTH without Authentication Method [3.15.2.2.2]');
  }
  return out;
}

export function decodeDisconnect(r: Reader, version: ProtocolVersion): DisconnectPacket {
  if (version < 5) {
    if (r.remaining() !== 0) throw malformed('3.1.1 DISCONNECT remaining length must be 0');
    return { type: 'disconnect' };
  }
  return { type: 'disconnect', ...readReasonAndProps(r, 'disconnect') };
}

export function decodeAuth(r: Reader): AuthPacket {
  return { type: 'auth', ...readReasonAndProps(r, 'auth') };
}

function encodeReasonAndProps(first: number, p: DisconnectPacket | AuthPacket): Buffer {
  validReasonCode(p.type, p.reasonCode ?? 0, 5, invalidPacket);
  if (p.type === 'auth' && (p.reasonCode !== 0 || p.properties) && p.properties?.authenticationMethod === undefined) {
    throw invalidPacket('AUTH needs an Authentication Method [3.15.2.2.2]');
  }
  const reasonCode = p.reasonCode ?? 0;
  const propsSize = p.properties !== undefined ? propertiesBodySize(p.properties, p.type) : 0;
  if (reasonCode === 0 && propsSize === 0) return packetWriter(first, 0).buf;
  const w = packetWriter(first, 1 + (propsSize > 0 ? varintSize(propsSize) + propsSize : 0));
  w.u8(reasonCode);
  if (propsSize > 0) writeProperties(w, p.properties, propsSize);
  return w.buf;
}

export function encodeDisconnect(p: DisconnectPacket, version: ProtocolVersion): Buffer {
  if (version < 5) return packetWriter(0xe0, 0).buf;
  return encodeReasonAndProps(0xe0, p);
}

export function encodeAuth(p: AuthPacket): Buffer {
  return encodeReasonAndProps(0xf0, p);
}
