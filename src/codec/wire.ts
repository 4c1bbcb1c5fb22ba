/**
 * Byte-level reading and writing of MQTT data representations (spec 1.5): integers, Variable Byte
 * Integers, UTF-8 strings and binary data. The reader throws only Malformed Packet MoatErrors.
 */
import { isUtf8 } from 'node:buffer';
import { MoatError, malformed } from './errors.js';

export const MAX_VARINT = 268_435_455;

export class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, public end: number) {
    this.pos = start;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw malformed('packet ends before its fields do');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** [MQTT-1.5.5-1] at most four bytes, and the minimum number of them. */
  varint(): number {
    const r = readVarint(this.buf, this.pos, this.end);
    if (r === undefined) throw malformed('variable byte integer ends before the packet does');
    if (r < 0) throw malformed('variable byte integer is longer than four bytes or not minimal');
    this.pos += varintSize(r);
    return r;
  }

  binary(): Buffer {
    const len = this.u16();
    this.need(len);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  /** [MQTT-1.5.4-1] well-formed, no surrogates; [MQTT-1.5.4-2] no U+0000; [MQTT-1.5.4-3] BOM kept. */
  utf8(): string {
    const len = this.u16();
    this.need(len);
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    return decodeUtf8(this.buf, start, end);
  }
}

export function decodeUtf8(buf: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === 0) throw malformed('UTF-8 string contains U+0000 [MQTT-1.5.4-2]');
    if (b >= 0x80) ascii = false;
  }
  if (ascii) return buf.toString('latin1', start, end);
  // isUtf8 rejects overlong forms and encoded surrogates (U+D800..U+DFFF) [MQTT-1.5.4-1].
  if (!isUtf8(buf.subarray(start, end))) throw malformed('ill-formed UTF-8 string [MQTT-1.5.4-1]');
  return buf.toString('utf8', start, end);
}

/**
 * Reads a Variable Byte Integer at `pos`. Returns the value, `undefined` when more bytes are needed,
 * or -1 when it is longer than four bytes or not in its minimal form [MQTT-1.5.5-1].
 */
export function readVarint(buf: Uint8Array, pos: number, end: number): number | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return undefined;
    const b = buf[pos + i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      // A last byte of zero after a first byte means a shorter encoding existed.
      if (i > 0 && b === 0) return -1;
      return value;
    }
    mul *= 128;
  }
  return -1;
}

export function varintSize(v: number): number {
  return v < 128 ? 1 : v < 16_384 ? 2 : v < 2_097_152 ? 3 : 4;
}

export function invalidPacket(message: string): MoatError {
  return new MoatError('MOAT_ERR_INVALID_PACKET', message);
}

/** Byte length of a string as an MQTT UTF-8 string field, validating what the encoder may not send. */
export function utf8Size(s: string): number {
  if (!s.isWellFormed()) throw invalidPacket('string contains a lone surrogate [MQTT-1.5.4-1]');
  if (s.includes('\0')) throw invalidPacket('string contains U+0000 [MQTT-1.5.4-2]');
  const n = Buffer.byteLength(s);
  if (n > 65_535) throw invalidPacket('UTF-8 string longer than 65535 bytes');
  return n + 2;
}

export class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  varint(v: number): void {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      this.buf[this.pos++] = b;
    } while (v > 0);
  }

  /** Caller has sized the buffer with utf8Size, so `s` fits. */
  utf8(s: string): void {
    const start = this.pos + 2;
    const n = s.length === 0 ? 0 : this.buf.write(s, start);
    this.buf.writeUInt16BE(n, this.pos);
    this.pos = start + n;
  }

  binary(b: Uint8Array): void {
    this.u16(b.length);
    this.bytes(b);
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/**
 * Allocates a packet and writes its fixed header. `bodyBytes` (default: all of it) is how much of the
 * remaining length this buffer holds; a payload written separately is left out.
 */
export function packetWriter(firstByte: number, remainingLength: number, bodyBytes = remainingLength): Writer {
  if (remainingLength > MAX_VARINT) throw invalidPacket('packet larger than the MQTT maximum of 256 MiB');
  const w = new Writer(Buffer.allocUnsafe(1 + varintSize(remainingLength) + bodyBytes));
  w.u8(firstByte);
  w.varint(remainingLength);
  return w;
}

/** Packet identifiers are 1..65535 on the wire [MQTT-2.2.1-3] [MQTT-2.2.1-5] [MQTT-2.2.1-6]. */
export function checkPacketId(id: number | undefined): number {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw invalidPacket(`packet identifier must be 1..65535, got ${String(id)}`);
  }
  return id;
}

export function checkU16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw invalidPacket(`${name} must be 0..65535, got ${v}`);
  return v;
}

export function binarySize(b: Uint8Array): number {
  if (b.length > 65_535) throw invalidPacket('binary data longer than 65535 bytes');
  return b.length + 2;
}
