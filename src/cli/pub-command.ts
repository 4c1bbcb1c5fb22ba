/** `moat pub`: publish one message, a file, stdin, or one message per stdin line (mosquitto_pub style). */
import { readFileSync } from 'node:fs';
import { stdin } from 'node:process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { MoatError, isMoatError } from '../codec/index.js';
import { connect } from '../client/index.js';
import type { Io } from './broker-command.js';
import { COMMON_HELP, COMMON_OPTIONS, INSECURE_WARNING, clientSetup, qosFlag } from './client-args.js';
import { extractProperties } from './client-properties.js';

export const PUB_HELP = `moat pub — publish messages

Usage: moat pub -t TOPIC (-m MSG | -f FILE | -s | -l | -n) [options]

Message:
  -t TOPIC                  topic to publish to
  -m MSG                    the message
  -f FILE                   the file's contents as one message
  -s                        all of stdin as one message
  -l                        one message per line of stdin
  -n                        an empty message
  -q 0|1|2                  QoS (default 0)
  -r                        retain
  -D COMMAND PROPERTY VALUE v5 property: connect user-property K V | session-expiry-interval S;
                            publish user-property K V | content-type | response-topic |
                            correlation-data | message-expiry-interval | payload-format-indicator
${COMMON_HELP}`;

export async function pubCommand(argv: string[], io: Io, input: Readable = stdin): Promise<number> {
  const { rest: args, props } = extractProperties(argv, ['connect', 'publish']);
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      ...COMMON_OPTIONS, topic: { type: 'string', short: 't' }, message: { type: 'string', short: 'm' },
      file: { type: 'string', short: 'f' }, stdin: { type: 'boolean', short: 's' }, lines: { type: 'boolean', short: 'l' },
      null: { type: 'boolean', short: 'n' }, retain: { type: 'boolean', short: 'r' },
    },
  });
  if (v.help) {
    io.out(PUB_HELP);
    return 0;
  }
  if (v.topic === undefined) throw new MoatError('MOAT_ERR_CONFIG', 'moat pub needs a topic (-t)');
  const sources = [v.message !== undefined, v.file !== undefined, v.stdin, v.lines, v.null].filter(Boolean).length;
  if (sources !== 1) throw new MoatError('MOAT_ERR_CONFIG', 'moat pub needs exactly one of -m, -f, -s, -l, -n');
  const qos = qosFlag('-q', v.qos);
  const { url, options } = clientSetup(v);
  if (v.insecure) io.err(INSECURE_WARNING);
  if (props.connect.userProperties) options.userProperties = props.connect.userProperties;
  if (props.connect.sessionExpiry !== undefined) options.sessionExpiry = props.connect.sessionExpiry;
  let payload: Buffer | undefined;
  if (v.message !== undefined) payload = Buffer.from(v.message);
  else if (v.null) payload = Buffer.alloc(0);
  else if (v.file !== undefined) {
    try {
      payload = readFileSync(v.file);
    } catch {
      throw new MoatError('MOAT_ERR_CONFIG', `-f: cannot read ${v.file}`);
    }
  }
  try {
    const client = await connect(url, options);
    const opts = { qos, retain: v.retain ?? false, ...(Object.keys(props.publish).length ? { properties: props.publish } : {}) };
    if (v.lines) {
      for await (const line of createInterface({ input, crlfDelay: Infinity })) await client.publish(v.topic, line, opts);
    } else {
      if (v.stdin) {
        const chunks: Buffer[] = [];
        for await (const c of input) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
        payload = Buffer.concat(chunks);
      }
      await client.publish(v.topic, payload!, opts);
    }
    await client.end();
    return 0;
  } catch (err) {
    if (!isMoatError(err)) throw err;
    io.err(`moat pub: ${err.message} (${err.code})\n`);
    return 1;
  }
}
