import { isValidTopicFilter, parseSharedFilter, topicMatches } from '../../codec/index.js';
import { formatTable } from '../table.js';
import { json, usageError, type Command } from './types.js';

export const subs: Command = {
  name: 'subs', usage: 'subs [FILTER] [--json]', admin: false,
  summary: 'subscriptions; with FILTER those that match it or that it covers',
  run(ctx) {
    if (ctx.args.length > 1) return usageError(ctx, subs, 'one filter at most');
    const filter = ctx.args[0];
    if (filter !== undefined && !isValidTopicFilter(filter)) return usageError(ctx, subs, `"${filter}" is not a valid topic filter`);
    const rows = ctx.port.subscriptions().filter((s) => filter === undefined || related(filter, s.filter));
    if (ctx.json) return json(ctx, rows);
    ctx.out(formatTable(['FILTER', 'CLIENT', 'QOS', 'NO LOCAL', 'RAP', 'ONLINE'],
      rows.map((s) => [s.filter, s.clientId, s.qos, s.noLocal, s.retainAsPublished, s.online])));
    return 0;
  },
};

/**
 * `subs sensors/1/temp` lists the subscriptions that would get that topic (sensors/+/temp, #);
 * `subs sensors/#` also lists those it covers (sensors/+/temp), read as topics.
 */
function related(query: string, subscription: string): boolean {
  const plain = (f: string): string => parseSharedFilter(f)?.filter ?? f;
  const q = plain(query);
  const s = plain(subscription);
  return q === s || topicMatches(s, q) || topicMatches(q, s);
}
