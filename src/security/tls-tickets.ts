/**
 * Session ticket keys for stateless TLS resumption. Node (OpenSSL) takes one 48-byte key set per
 * server: 16 bytes ticket name, 16 bytes HMAC secret, 16 bytes AES key. A source gives the current
 * key and makes a new one on rotation; the file source is what several brokers can share later (one
 * of them rotates, the others watch the file).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MoatError } from '../codec/index.js';

export const TICKET_KEY_BYTES = 48;

export interface TicketKeySource {
  /** Where the keys come from, for log lines (never the key). */
  readonly description: string;
  /** The current key; a file source creates the file (0600) when it does not exist. */
  load(): Promise<Buffer>;
  /** Makes, stores and returns a new key. */
  rotate(): Promise<Buffer>;
  /** The file to watch for keys written by someone else, if any. */
  readonly file?: string;
}

export function memoryTicketKeys(): TicketKeySource {
  let key = randomBytes(TICKET_KEY_BYTES);
  return {
    description: 'memory',
    load: async () => key,
    rotate: async () => (key = randomBytes(TICKET_KEY_BYTES)),
  };
}

/** Accepts the 48 raw bytes or 96 hex digits (surrounding white space ignored). */
export function parseTicketKey(data: Buffer, source: string): Buffer {
  if (data.length === TICKET_KEY_BYTES) return Buffer.from(data);
  const text = data.toString('latin1').trim();
  if (/^[0-9a-fA-F]{96}$/.test(text)) return Buffer.from(text, 'hex');
  throw new MoatError('MOAT_ERR_TLS_FILE', `${source}: a ticket key file holds ${TICKET_KEY_BYTES} bytes (raw or as 96 hex digits)`);
}

export function fileTicketKeys(path: string): TicketKeySource {
  const write = async (key: Buffer): Promise<void> => {
    // Written next to the file and renamed over it: a reader never sees half a key.
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(tmp, key.toString('hex') + '\n', { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, path);
    } catch (cause) {
      throw new MoatError('MOAT_ERR_TLS_FILE', `cannot write ticket key file ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  return {
    description: path,
    file: path,
    async load() {
      let data: Buffer;
      try {
        data = await readFile(path);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new MoatError('MOAT_ERR_TLS_FILE', `cannot read ticket key file ${path}: ${(cause as Error).message}`, { cause });
        }
        const key = randomBytes(TICKET_KEY_BYTES);
        await write(key);
        return key;
      }
      return parseTicketKey(data, `ticket key file ${path}`);
    },
    async rotate() {
      const key = randomBytes(TICKET_KEY_BYTES);
      await write(key);
      return key;
    },
  };
}
