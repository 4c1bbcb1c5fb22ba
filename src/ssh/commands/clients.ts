import { formatPairs, formatTable, globMatcher } from '../table.js';
import { EXIT_FAILED, json, usageError, type Command } from './types.js';

const clientIds = (port: Parameters<NonNullable<Command['complete']>>[0]): string[] => port.listClients().map((c) => c.clientId);

export const clients: Command = {
  name: 'clients', usage: 'clients [PATTERN] [--json]', admin: false,
  summary: 'connected clients (PATTERN: glob on the client id, * and ?)',
  run(ctx) {
    if (ctx.args.length > 1) return usageError(ctx, clients, 'one pattern at most');
    const match = globMatcher(ctx.args[0]);
    const rows = ctx.port.listClients().filter((c) => match(c.clientId));
    if (ctx.json) return json(ctx, rows);
    ctx.out(formatTable(
      ['CLIENT', 'ADDRESS', 'MQTT', 'TRANSPORT', 'TLS', 'CIPHER', 'RESUMED', 'IDENTITY', 'SUBS', 'QUEUED'],
      rows.map((c) => [c.clientId, c.address, version(c.protocolVersion), c.transport, c.tlsVersion, c.tlsCipher, c.tlsResumed, c.identity, c.subscriptions, c.queued]),
    ));
    return 0;
  },
  complete: (port, index) => (index === 0 ? clientIds(port) : []),
};

export const client: Command = {
  name: 'client', usage: 'client ID [--json]', admin: false,
  summary: 'one connected client in detail, with its subscriptions',
  run(ctx) {
    if (ctx.args.length !== 1) return usageError(ctx, client, 'one client id expected');
    const c = ctx.port.client(ctx.args[0]!);
    if (!c) {
      ctx.out(`error: no connected client "${ctx.args[0]}"\n`);
      return EXIT_FAILED;
    }
    if (ctx.json) return json(ctx, c);
    const { subscriptionList, ...rest } = c;
    ctx.out(formatPairs([
      ['client', rest.clientId], ['address', rest.address], ['mqtt', version(rest.protocolVersion)], ['transport', rest.transport],
      ['tls', rest.tlsVersion], ['cipher', rest.tlsCipher], ['resumed', rest.tlsResumed], ['identity', rest.identity],
      ['username', rest.username], ['keep alive', `${rest.keepAlive} s`], ['session expiry', `${rest.sessionExpiry} s`],
      ['queued', `${rest.queued} (${rest.queuedBytes} bytes)`], ['in flight', rest.inflight],
    ]));
    if (subscriptionList.length > 0) ctx.out(`\n${formatTable(['FILTER', 'QOS'], subscriptionList.map((s) => [s.filter, s.qos]))}`);
    return 0;
  },
  complete: (port, index) => (index === 0 ? clientIds(port) : []),
};

export const kick: Command = {
  name: 'kick', usage: 'kick ID', admin: true,
  summary: 'disconnect a client (v5: DISCONNECT 0x98 Administrative action)',
  auditDetail: (args) => ({ clientId: args[0] }),
  run(ctx) {
    if (ctx.args.length !== 1) return usageError(ctx, kick, 'one client id expected');
    const id = ctx.args[0]!;
    const done = ctx.port.kick(id);
    ctx.audit({ action: 'kick', detail: { clientId: id }, outcome: done ? 'ok' : 'failed' });
    if (ctx.json) return json(ctx, { clientId: id, kicked: done }, done ? 0 : EXIT_FAILED);
    ctx.out(done ? `kicked ${id}\n` : `error: no connected client "${id}"\n`);
    return done ? 0 : EXIT_FAILED;
  },
  complete: (port, index) => (index === 0 ? clientIds(port) : []),
};

function version(v: number): string {
  return v === 5 ? '5' : v === 4 ? '3.1.1' : '3.1';
}
