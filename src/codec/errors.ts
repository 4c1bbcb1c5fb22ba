/**
 * The one error class of Moat. `code` is a stable string programs can switch on (`MOAT_ERR_…`,
 * listed in docs/errors.md and never reused); `reasonCode` is the MQTT reason code a protocol
 * response should carry, kept apart because one code can map to different wire answers per version.
 *
 * It lives in the codec because the codec may import nothing else of ours, and every other layer
 * may import the codec.
 */
export class MoatError extends Error {
  override readonly name = 'MoatError';
  readonly code: string;
  readonly reasonCode: number | undefined;

  constructor(code: string, message: string, options: { reasonCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reasonCode = options.reasonCode;
  }
}

export function isMoatError(value: unknown, code?: string): value is MoatError {
  return value instanceof MoatError && (code === undefined || value.code === code);
}

/** MQTT 5 reason codes the codec itself produces. */
export const MALFORMED_PACKET = 0x81;
export const PROTOCOL_ERROR = 0x82;
export const UNSUPPORTED_PROTOCOL_VERSION = 0x84;
export const PACKET_TOO_LARGE = 0x95;

/** A packet that cannot be parsed: bad lengths, reserved bits, ill-formed UTF-8 [MQTT-1.5.4-1]. */
export function malformed(message: string): MoatError {
  return new MoatError('MOAT_ERR_MALFORMED_PACKET', message, { reasonCode: MALFORMED_PACKET });
}

/** A packet that parsed but breaks a protocol rule: duplicate property, zero packet id, bad filter. */
export function protocolError(message: string): MoatError {
  return new MoatError('MOAT_ERR_PROTOCOL_ERROR', message, { reasonCode: PROTOCOL_ERROR });
}
