// node:crypto in the browser bundle: the client only takes random bytes (client ids, correlation data).
import { Buffer } from 'buffer';

export function randomBytes(n) {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(n)));
}
