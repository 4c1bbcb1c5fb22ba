// node:buffer in the browser bundle: the `buffer` package's Buffer (also injected as the global
// `Buffer`), and isUtf8 from the browser's strict TextDecoder, which rejects overlong forms and
// encoded surrogates as Node's does [MQTT-1.5.4-1].
import { Buffer } from 'buffer';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isUtf8(bytes) {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export { Buffer };
