/**
 * Incremental decoder: bytes arrive in chunks of any size, packets come out in order. The fixed
 * header is checked against the maximum packet size before any of the body is buffered, so memory
 * stays within one maximum packet plus one chunk.
 */
import { MoatError, PACKET_TOO_LARGE, malformed } from './errors.js';
import type { Packet, ProtocolVersion } from './packets.js';
import { decodePacket } from './decode.js';
import { readVarint, varintSize } from './wire.js';

export interface DecoderOptions {
  /** Largest whole packet accepted, fixed header included. Default 1 MiB. */
  maxPacketSize?: number;
  /** Version for packets other than CONNECT; a decoded CONNECT sets it. Default 5. */
  protocolVersion?: ProtocolVersion;
}

export const DEFAULT_MAX_PACKET_SIZE = 1_048_576;
/** The largest packet MQTT can frame: 1 + 4 + 268,435,455. */
export const MQTT_MAX_PACKET_SIZE = 268_435_460;

export class PacketDecoder {
  protocolVersion: ProtocolVersion;
  maxPacketSize: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Whole size of the packet being buffered, once its fixed header is complete. */
  private needed = 0;
  private failure: MoatError | undefined;

  constructor(options: DecoderOptions = {}) {
    this.protocolVersion = options.protocolVersion ?? 5;
    this.maxPacketSize = Math.min(options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE, MQTT_MAX_PACKET_SIZE);
  }

  /** Bytes held for an incomplete packet. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Feeds a chunk; calls `onPacket` for each complete packet in order. Throws a MoatError on the
   * first bad packet (after delivering the packets before it); the decoder then stays failed.
   */
  write(chunk: Buffer, onPacket: (packet: Packet) => void): void {
    if (this.failure) throw this.failure;
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pendingBytes += chunk.length;
      this.pending.push(chunk);
      if (this.needed > 0 && this.pendingBytes < this.needed) return;
      buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.needed = 0;
    this.parse(buf, onPacket);
  }

  private parse(buf: Buffer, onPacket: (packet: Packet) => void): void {
    const len = buf.length;
    let off = 0;
    try {
      while (len - off >= 2) {
        const remaining = readVarint(buf, off + 1, len);
        if (remaining === undefined) break;
        if (remaining < 0) throw this.fail(malformed('remaining length longer than four bytes or not minimal [MQTT-1.5.5-1]'));
        const header = 1 + varintSize(remaining);
        const total = header + remaining;
        if (total > this.maxPacketSize) {
          throw this.fail(new MoatError('MOAT_ERR_PACKET_TOO_LARGE',
            `packet of ${total} bytes exceeds the maximum packet size of ${this.maxPacketSize}`,
            { reasonCode: PACKET_TOO_LARGE }));
        }
        if (len - off < total) {
          this.needed = total;
          break;
        }
        let packet: Packet;
        try {
          packet = decodePacket(buf[off]!, buf, off + header, off + total, this.protocolVersion);
        } catch (err) {
          throw this.fail(err as MoatError);
        }
        off += total;
        if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
        onPacket(packet);
      }
    } finally {
      // Keep the unparsed tail, even when onPacket threw, so the stream stays consistent.
      if (off < len && this.failure === undefined) {
        this.pending = [buf.subarray(off)];
        this.pendingBytes = len - off;
      }
    }
  }

  private fail(err: MoatError): MoatError {
    this.failure = err;
    this.pending = [];
    this.pendingBytes = 0;
    return err;
  }
}

/** Decodes a buffer holding whole packets (tests, tools). */
export function decodeAll(bytes: Buffer, options?: DecoderOptions): Packet[] {
  const out: Packet[] = [];
  const d = new PacketDecoder(options);
  d.write(bytes, (p) => out.push(p));
  if (d.bufferedBytes > 0) throw malformed('bytes end inside a packet');
  return out;
}
