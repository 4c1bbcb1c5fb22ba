/** Building raw MQTT bytes in tests. */

/** Hex (whitespace and `|` ignored) to bytes. */
export function hex(s: string): Buffer {
  const clean = s.replace(/[\s|]+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${s}`);
  return Buffer.from(clean, 'hex');
}

/** A whole packet from its first byte and body (hex); the Remaining Length is computed. */
export function pkt(first: number, body: string): Buffer {
  const b = hex(body);
  const len: number[] = [];
  let n = b.length;
  do {
    let x = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) x |= 0x80;
    len.push(x);
  } while (n > 0);
  return Buffer.concat([Buffer.from([first, ...len]), b]);
}
