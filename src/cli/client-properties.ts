/**
 * `-D COMMAND IDENTIFIER VALUE` (and `-D COMMAND user-property KEY VALUE`), mosquitto's syntax for
 * MQTT 5 properties on the command line. Taken out of argv before parseArgs, which cannot read a flag
 * with three or four values.
 */
import { MoatError, type PublishProperties, type UserProperties } from '../codec/index.js';

export interface CliProperties {
  connect: { userProperties?: UserProperties; sessionExpiry?: number };
  publish: PublishProperties;
  subscribe: { userProperties?: UserProperties; subscriptionIdentifier?: number };
}

const usage = (msg: string): MoatError => new MoatError('MOAT_ERR_CONFIG', msg);

function u32(id: string, v: string, max = 0xffff_ffff): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > max) throw usage(`-D ${id}: "${v}" is not an integer from 0 to ${max}`);
  return n;
}

/** Removes the -D groups from `args`; returns the rest and the properties per packet. */
export function extractProperties(args: string[], commands: string[]): { rest: string[]; props: CliProperties } {
  const props: CliProperties = { connect: {}, publish: {}, subscribe: {} };
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '-D' && args[i] !== '--property') {
      rest.push(args[i]!);
      continue;
    }
    const command = args[i + 1]?.toLowerCase();
    const id = args[i + 2]?.toLowerCase();
    if (!command || !id) throw usage('-D needs COMMAND IDENTIFIER VALUE');
    if (!commands.includes(command)) throw usage(`-D: command must be one of ${commands.join(', ')}, not "${args[i + 1]}"`);
    const target = props[command as keyof CliProperties] as Record<string, unknown>;
    if (id === 'user-property') {
      const key = args[i + 3];
      const value = args[i + 4];
      if (key === undefined || value === undefined) throw usage('-D COMMAND user-property needs KEY VALUE');
      ((target['userProperties'] ??= []) as UserProperties).push([key, value]);
      i += 4;
      continue;
    }
    const value = args[i + 3];
    if (value === undefined) throw usage(`-D ${command} ${id} needs a value`);
    i += 3;
    const key = `${command} ${id}`;
    switch (key) {
      case 'connect session-expiry-interval': props.connect.sessionExpiry = u32(id, value); break;
      case 'publish content-type': props.publish.contentType = value; break;
      case 'publish response-topic': props.publish.responseTopic = value; break;
      case 'publish correlation-data': props.publish.correlationData = Buffer.from(value); break;
      case 'publish message-expiry-interval': props.publish.messageExpiryInterval = u32(id, value); break;
      case 'publish payload-format-indicator': props.publish.payloadFormatIndicator = u32(id, value, 1) === 1; break;
      case 'subscribe subscription-identifier': props.subscribe.subscriptionIdentifier = u32(id, value, 268_435_455); break;
      default: throw usage(`-D: property "${id}" is not supported for ${command}`);
    }
  }
  return { rest, props };
}
