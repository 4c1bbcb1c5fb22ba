/** The MQTT 3.1 / 3.1.1 / 5.0 codec: pure, no I/O, nothing else of Moat's imported. */
export * from './packets.js';
export * from './properties.js';
export * from './reason-codes.js';
export * from './topic.js';
export { MoatError, isMoatError, malformed, protocolError } from './errors.js';
export { PacketDecoder, decodeAll, DEFAULT_MAX_PACKET_SIZE, MQTT_MAX_PACKET_SIZE, type DecoderOptions } from './decoder.js';
export { decodePacket } from './decode.js';
export { encodePacket } from './encode.js';
export { PublishFanout, type FanoutMessage, type PublishVariant } from './fanout.js';
