/**
 * What a TLS session (Node's `session` event: OpenSSL's DER-encoded SSL_SESSION) says about its ticket.
 * The lab reads the ticket lifetime the server announced from it — measured, not assumed: whether a
 * device that reconnects every N seconds can resume depends on it (the listener's sessionTimeout).
 */

/** SSL_SESSION_ASN1's `tlsext_tick_lifetime_hint [9] EXPLICIT ZUINT64` (OpenSSL ssl/ssl_asn1.c). */
const TICK_LIFETIME_HINT = 0xa9;

interface Tlv {
  tag: number;
  body: Buffer;
}

/** The DER elements directly inside `buf`; undefined when they do not frame exactly. */
function elements(buf: Buffer): Tlv[] | undefined {
  const out: Tlv[] = [];
  for (let i = 0; i < buf.length;) {
    if (i + 2 > buf.length) return undefined;
    const tag = buf[i]!;
    let len = buf[i + 1]!;
    let head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || i + 2 + n > buf.length) return undefined;
      len = buf.readUIntBE(i + 2, n);
      head += n;
    }
    if (i + head + len > buf.length) return undefined;
    out.push({ tag, body: buf.subarray(i + head, i + head + len) });
    i += head + len;
  }
  return out;
}

/** Seconds the server said its ticket may be used for; undefined when the session carries no hint (or is not DER). */
export function ticketLifetimeHint(session: Buffer): number | undefined {
  const top = elements(session);
  if (top?.length !== 1 || top[0]!.tag !== 0x30) return undefined;
  const field = elements(top[0]!.body)?.find((e) => e.tag === TICK_LIFETIME_HINT);
  const int = field && elements(field.body)?.[0];
  if (!int || int.tag !== 0x02 || int.body.length === 0 || int.body.length > 6) return undefined;
  return int.body.readUIntBE(0, int.body.length);
}
