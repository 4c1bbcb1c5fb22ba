import { formatPairs, formatTable } from '../table.js';
import { json, type Command } from './types.js';

export const status: Command = {
  name: 'status', usage: 'status [--json]', admin: false,
  summary: 'uptime, listeners, connections, message rates, store, TLS handshakes',
  run(ctx) {
    const s = ctx.port.status();
    if (ctx.json) return json(ctx, s);
    ctx.out(formatPairs([
      ['started', s.startedAt], ['uptime', duration(s.uptimeSeconds)], ['listeners', s.listeners.join(' ')],
      ['connections', s.connections], ['sessions', s.sessions], ['subscriptions', s.subscriptions], ['retained', s.retained],
      ['messages in', `${s.messagesIn} (${s.rateIn}/s)`], ['messages out', `${s.messagesOut} (${s.rateOut}/s)`],
      ['bytes in/out', `${s.bytesIn} / ${s.bytesOut}`], ['dropped', s.dropped], ['store', s.store],
    ]));
    const tls = Object.entries(s.tls);
    if (tls.length > 0) ctx.out(`\n${formatTable(['TLS HANDSHAKES', 'COUNT'], tls.map(([k, v]) => [k.replace(/^tls\/handshakes\//, ''), v]))}`);
    return 0;
  },
};

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${d > 0 ? `${d}d ` : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}
