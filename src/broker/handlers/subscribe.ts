/** SUBSCRIBE (3.8.4): per filter authorization and limits, SUBACK, then retained messages. */
import type { QoS, SubscribePacket, Subscription } from '../../codec/index.js';
import { parseSharedFilter } from '../../codec/index.js';
import type { Connection } from '../connection.js';
import { askAll } from '../hooks.js';
import type { SubscriptionOptions } from '../types.js';

export function handleSubscribe(c: Connection, p: SubscribePacket): void | Promise<void> {
  const client = c.info();
  const hooks = c.broker.hooks.authorizeSubscribe;
  const perFilter = p.subscriptions.map((s) => {
    const answers = askAll(hooks.map((h) => h(client, { topicFilter: s.topicFilter, qos: s.qos }, c.signal)));
    return answers;
  });
  const anyAsync = perFilter.some((a) => a instanceof Promise);
  if (!anyAsync) return finish(c, p, perFilter as Array<Array<boolean | QoS | undefined>>);
  return Promise.all(perFilter).then((all) => finish(c, p, all));
}

function finish(c: Connection, p: SubscribePacket, verdicts: Array<Array<boolean | QoS | undefined>>): void {
  const session = c.session!;
  const { limits, maximumQoS } = c.broker.options;
  const v5 = c.version === 5;
  const subId = p.properties?.subscriptionIdentifier;
  const reasonCodes: number[] = [];
  const granted: Array<{ s: Subscription; options: SubscriptionOptions; existed: boolean } | undefined> = [];
  p.subscriptions.forEach((s, i) => {
    const code = refusal(c, s, verdicts[i]!);
    if (code !== undefined) {
      reasonCodes.push(v5 ? code : 0x80);
      granted.push(undefined);
      return;
    }
    let qos = Math.min(s.qos, maximumQoS) as QoS;
    for (const v of verdicts[i]!) if (typeof v === 'number') qos = Math.min(qos, v) as QoS;
    const options: SubscriptionOptions = {
      qos, noLocal: s.noLocal ?? false, retainAsPublished: s.retainAsPublished ?? false,
      retainHandling: s.retainHandling ?? 0,
    };
    if (subId !== undefined) options.subscriptionIdentifier = subId;
    if (!session.subscriptions.has(s.topicFilter) && session.subscriptions.size >= limits.maxSubscriptionsPerSession) {
      c.broker.log.warn({ clientId: c.clientId, filter: s.topicFilter }, 'subscription limit reached');
      reasonCodes.push(v5 ? 0x97 : 0x80);
      granted.push(undefined);
      return;
    }
    const existed = c.broker.subscribe(session, s.topicFilter, options);
    reasonCodes.push(qos);
    granted.push({ s, options, existed });
  });
  // A persistent session's subscriptions are on disk before the SUBACK says they exist.
  c.afterCommit(() => {
    c.send({ type: 'suback', packetId: p.packetId, reasonCodes });
    // Retained messages follow the SUBACK [MQTT-3.3.1-9..11]; never for shared subscriptions [4.8.2].
    for (const g of granted) {
      if (!g || parseSharedFilter(g.s.topicFilter)) continue;
      const rh = g.options.retainHandling;
      if (rh === 2 || (rh === 1 && g.existed)) continue;
      c.broker.sendRetained(session, g.s.topicFilter, g.options);
    }
  });
}

function refusal(c: Connection, s: Subscription, verdicts: Array<boolean | QoS | undefined>): number | undefined {
  const { limits } = c.broker.options;
  const filter = parseSharedFilter(s.topicFilter)?.filter ?? s.topicFilter;
  let levels = 1;
  for (let i = 0; i < filter.length; i++) if (filter.charCodeAt(i) === 47) levels++;
  if (levels > limits.maxTopicLevels || filter.length > limits.maxTopicLength) return 0x8f;
  if (verdicts.includes(false)) {
    c.broker.log.info({ clientId: c.clientId, filter: s.topicFilter }, 'subscription not authorized');
    return 0x87;
  }
  return undefined;
}
