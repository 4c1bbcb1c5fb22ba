import { isValidTopicFilter, isValidTopicName } from '../../codec/index.js';
import { formatTable } from '../table.js';
import { EXIT_DENIED, EXIT_FAILED, json, usageError, type Command } from './types.js';

export const retained: Command = {
  name: 'retained', usage: 'retained [FILTER] [--json] | retained clear TOPIC', admin: false,
  summary: 'retained messages (default filter #); "clear TOPIC" deletes one (admin)',
  run(ctx) {
    if (ctx.args[0] === 'clear') return clear(ctx);
    if (ctx.args.length > 1) return usageError(ctx, retained, 'one filter at most');
    const filter = ctx.args[0] ?? '#';
    if (!isValidTopicFilter(filter)) return usageError(ctx, retained, `"${filter}" is not a valid topic filter`);
    const rows = ctx.port.retained(filter);
    if (ctx.json) return json(ctx, rows);
    ctx.out(formatTable(['TOPIC', 'QOS', 'BYTES', 'PAYLOAD'], rows.map((r) => [r.topic, r.qos, r.bytes, r.preview])));
    return 0;
  },
  complete: (_port, index) => (index === 0 ? ['clear'] : []),
};

/** `retained clear` is the one admin action behind a read command: checked here, not by the dispatcher. */
function clear(ctx: Parameters<Command['run']>[0]): number {
  const topic = ctx.args[1];
  if (ctx.identity.role !== 'admin') {
    ctx.audit({ action: 'retained clear', detail: { topic }, outcome: 'denied' });
    ctx.out('error: permission denied: "retained clear" needs an admin key\n');
    return EXIT_DENIED;
  }
  if (ctx.args.length !== 2 || topic === undefined) return usageError(ctx, retained, 'retained clear TOPIC');
  if (!isValidTopicName(topic)) return usageError(ctx, retained, `"${topic}" is not a valid topic name`);
  const done = ctx.port.clearRetained(topic);
  ctx.audit({ action: 'retained clear', detail: { topic }, outcome: done ? 'ok' : 'failed' });
  if (ctx.json) return json(ctx, { topic, cleared: done }, done ? 0 : EXIT_FAILED);
  ctx.out(done ? `cleared ${topic}\n` : `error: nothing retained on "${topic}"\n`);
  return done ? 0 : EXIT_FAILED;
}

/** Whether a command line needs an admin key: `retained clear …` does, plain `retained` does not. */
export function retainedIsAdmin(args: string[]): boolean {
  return args[0] === 'clear';
}
