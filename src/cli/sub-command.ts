/** `moat sub`: subscribe and print messages (mosquitto_sub style), with `--format line|raw|json`. */
import { stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { MoatError, isMoatError } from '../codec/index.js';
import { connect, type Message } from '../client/index.js';
import type { Io } from './broker-command.js';
import { COMMON_HELP, COMMON_OPTIONS, INSECURE_WARNING, clientSetup, intFlag, qosFlag } from './client-args.js';
import { extractProperties } from './client-properties.js';

export const SUB_HELP = `moat sub — subscribe and print messages

Usage: moat sub -t FILTER [-t FILTER …] [options]

Subscription:
  -t FILTER                 topic filter, repeatable
  -q 0|1|2                  QoS (default 0)
  -C COUNT                  exit after COUNT messages
  -W SECONDS                exit after SECONDS (status 27 if -C was given and not reached)
  -v                        print the topic before the payload (line format)
  --format line|raw|json    line (default): payload and a newline; raw: payload bytes only;
                            json: one object per line {topic, payload | payloadBase64, qos, retain, properties}
  -D COMMAND PROPERTY VALUE v5 property: connect user-property K V | session-expiry-interval S;
                            subscribe user-property K V | subscription-identifier N
${COMMON_HELP}`;

export function formatMessage(m: Message, format: string, verbose: boolean): string | Buffer {
  if (format === 'raw') return m.payload;
  if (format === 'json') {
    const text = m.payload.toString('utf8');
    const utf8 = Buffer.from(text, 'utf8').equals(m.payload);
    const props = m.properties ? {
      ...m.properties,
      ...(m.properties.correlationData ? { correlationData: m.properties.correlationData.toString('base64') } : {}),
    } : undefined;
    return `${JSON.stringify({ topic: m.topic, ...(utf8 ? { payload: text } : { payloadBase64: m.payload.toString('base64') }),
      qos: m.qos, retain: m.retain, ...(props ? { properties: props } : {}) })}\n`;
  }
  return `${verbose ? `${m.topic} ` : ''}${m.payload.toString('utf8')}\n`;
}

export async function subCommand(argv: string[], io: Io): Promise<number> {
  const { rest: args, props } = extractProperties(argv, ['connect', 'subscribe']);
  const { values: v } = parseArgs({
    args, allowPositionals: false, strict: true,
    options: {
      ...COMMON_OPTIONS, topic: { type: 'string', short: 't', multiple: true }, count: { type: 'string', short: 'C' },
      timeout: { type: 'string', short: 'W' }, verbose: { type: 'boolean', short: 'v' }, format: { type: 'string' },
    },
  });
  if (v.help) {
    io.out(SUB_HELP);
    return 0;
  }
  if (!v.topic?.length) throw new MoatError('MOAT_ERR_CONFIG', 'moat sub needs at least one topic filter (-t)');
  const format = v.format ?? 'line';
  if (!['line', 'raw', 'json'].includes(format)) throw new MoatError('MOAT_ERR_CONFIG', `--format must be line, raw or json, not "${format}"`);
  const count = intFlag('-C', v.count, 1, Number.MAX_SAFE_INTEGER);
  const seconds = intFlag('-W', v.timeout, 1, 86_400);
  const qos = qosFlag('-q', v.qos);
  const { url, options } = clientSetup(v);
  if (v.insecure) io.err(INSECURE_WARNING);
  // Like mosquitto_sub, keep listening across broker restarts (the first connection must succeed).
  options.reconnect = {};
  if (props.connect.userProperties) options.userProperties = props.connect.userProperties;
  if (props.connect.sessionExpiry !== undefined) options.sessionExpiry = props.connect.sessionExpiry;
  try {
    const client = await connect(url, options);
    const sub = await client.subscribe(v.topic, { qos, ...props.subscribe });
    let seen = 0;
    let status = 0;
    /** -W or a signal ended the loop (not the client closing): end the client, even while it is offline. */
    let stopped = false;
    const stop = (code: number): void => {
      stopped = true;
      status = code;
      sub.close();
    };
    const timer = seconds !== undefined ? setTimeout(() => stop(count !== undefined ? 27 : 0), seconds * 1000) : undefined;
    io.onSignal('SIGINT', () => stop(0));
    io.onSignal('SIGTERM', () => stop(0));
    const closed = new Promise<MoatError | undefined>((resolve) => client.once('close', resolve));
    void closed.then(() => sub.close());
    for await (const m of sub) {
      const out = formatMessage(m, format, v.verbose ?? false);
      if (typeof out === 'string') io.out(out);
      else stdout.write(out);
      if (count !== undefined && ++seen >= count) break;
    }
    if (timer) clearTimeout(timer);
    if (!stopped && !client.connected && (count === undefined || seen < count)) {
      const reason = await closed;
      if (reason) {
        io.err(`moat sub: ${reason.message} (${reason.code})\n`);
        return 1;
      }
    }
    await client.end();
    return status;
  } catch (err) {
    if (!isMoatError(err)) throw err;
    io.err(`moat sub: ${err.message} (${err.code})\n`);
    return 1;
  }
}
