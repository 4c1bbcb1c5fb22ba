import { isValidTopicFilter } from '../../codec/index.js';
import { preview } from '../broker-adapter.js';
import { usageError, type Command } from './types.js';

export const tail: Command = {
  name: 'tail', usage: 'tail FILTER [--json]', admin: false,
  summary: 'print messages matching FILTER as they are published, until Ctrl-C',
  async run(ctx) {
    if (ctx.args.length !== 1) return usageError(ctx, tail, 'one topic filter expected');
    const filter = ctx.args[0]!;
    if (!isValidTopicFilter(filter)) return usageError(ctx, tail, `"${filter}" is not a valid topic filter`);
    if (ctx.signal.aborted) return 0;
    const off = ctx.port.onMessage(filter, (m) => {
      if (ctx.json) {
        const text = m.payload.toString('utf8');
        const utf8 = Buffer.from(text, 'utf8').equals(m.payload);
        ctx.out(`${JSON.stringify({ time: new Date().toISOString(), topic: m.topic, qos: m.qos, retain: m.retain, ...(utf8 ? { payload: text } : { payloadBase64: m.payload.toString('base64') }) })}\n`);
      } else {
        ctx.out(`${new Date().toISOString().slice(11, 23)}  ${m.topic}  q${m.qos}${m.retain ? ' r' : ''}  ${preview(m.payload)}\n`);
      }
    });
    if (!ctx.json) ctx.out(`tailing ${filter} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    off();
    return 0;
  },
};
