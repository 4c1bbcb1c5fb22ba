import { isValidTopicName, type QoS } from '../../codec/index.js';
import { EXIT_FAILED, json, usageError, type Command } from './types.js';

export const pub: Command = {
  name: 'pub', usage: 'pub TOPIC PAYLOAD [-q 0|1|2] [-r]', admin: true,
  summary: 'publish a message as the broker (-r: retained)',
  // Never the payload: it may carry what the audit log's readers should not see.
  auditDetail: (args) => ({ topic: args.find((a) => !a.startsWith('-')) }),
  run(ctx) {
    let qos: QoS = 0;
    let retain = false;
    const words: string[] = [];
    for (let i = 0; i < ctx.args.length; i++) {
      const a = ctx.args[i]!;
      if (a === '-r' || a === '--retain') retain = true;
      else if (a === '-q' || a === '--qos') {
        const v = ctx.args[++i];
        if (v !== '0' && v !== '1' && v !== '2') return usageError(ctx, pub, '-q takes 0, 1 or 2');
        qos = Number(v) as QoS;
      } else words.push(a);
    }
    if (words.length !== 2) return usageError(ctx, pub, 'TOPIC and PAYLOAD expected');
    const [topic, text] = words as [string, string];
    if (!isValidTopicName(topic)) return usageError(ctx, pub, `"${topic}" is not a valid topic name`);
    // Same invariant as for clients: $-topics ($SYS) belong to the broker's own reporting.
    if (topic.startsWith('$')) return usageError(ctx, pub, 'topics starting with $ are reserved');
    const payload = Buffer.from(text, 'utf8');
    const result = ctx.port.publish(topic, payload, qos, retain);
    const ok = !result.startsWith('refused');
    ctx.audit({ action: 'pub', detail: { topic, qos, retain, bytes: payload.length, result }, outcome: ok ? 'ok' : 'failed' });
    if (ctx.json) return json(ctx, { topic, qos, retain, bytes: payload.length, result }, ok ? 0 : EXIT_FAILED);
    ctx.out(`${ok ? 'published' : 'error:'} ${topic} (${payload.length} bytes, qos ${qos}${retain ? ', retained' : ''}): ${result}\n`);
    return ok ? 0 : EXIT_FAILED;
  },
};
