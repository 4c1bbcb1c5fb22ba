/**
 * `ConsolePort` over a live Broker: the only file of the console that touches broker internals
 * (connections, sessions, retained index, counters, the 'messagePublished' event). What the broker
 * object does not know — listeners, store kind, TLS counters, how to reload — comes in `extras`.
 */
import { topicMatches, parseSharedFilter, type QoS } from '../codec/index.js';
import type { Broker } from '../broker/broker.js';
import { ConnState, type Connection } from '../broker/connection.js';
import { PublishOutcome } from '../broker/ports.js';
import type { Message } from '../broker/types.js';
import type { ClientDetail, ClientRow, ConsolePort, PublishResult, RetainedRow, StatusInfo, SubscriptionRow, TailMessage } from './console-port.js';

export interface ConsoleExtras {
  listeners?: () => string[];
  store?: string;
  tlsStats?: () => Record<string, number>;
  reload?: () => Promise<string[]>;
}

/** v5 reason code 0x98 Administrative action. */
export const ADMINISTRATIVE_ACTION = 0x98;
const RATE_WINDOW_MS = 60_000;
const SAMPLE_MS = 5_000;

interface Sample { at: number; in: number; out: number }

export class BrokerConsole implements ConsolePort {
  private readonly samples: Sample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly broker: Broker, private readonly extras: ConsoleExtras = {}) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private now(): number {
    return this.broker.clock.now();
  }

  private sample(): void {
    const s = this.broker.stats;
    this.samples.push({ at: this.now(), in: s.messagesIn, out: s.messagesOut });
    while (this.samples.length > 1 && this.samples[0]!.at < this.now() - RATE_WINDOW_MS) this.samples.shift();
  }

  status(): StatusInfo {
    const s = this.broker.stats;
    const now = this.now();
    const first = this.samples[0] ?? { at: s.startedAt, in: 0, out: 0 };
    const span = Math.max(1, (now - first.at) / 1000);
    let subscriptions = 0;
    for (const session of this.broker.sessions.values()) subscriptions += session.subscriptions.size;
    return {
      startedAt: new Date(s.startedAt).toISOString(),
      uptimeSeconds: Math.floor((now - s.startedAt) / 1000),
      listeners: this.extras.listeners?.() ?? [],
      connections: this.connected().length,
      sessions: this.broker.sessions.size,
      subscriptions,
      retained: this.broker.retained.size,
      messagesIn: s.messagesIn, messagesOut: s.messagesOut, bytesIn: s.bytesIn, bytesOut: s.bytesOut,
      rateIn: round((s.messagesIn - first.in) / span), rateOut: round((s.messagesOut - first.out) / span),
      dropped: s.droppedQos0 + s.droppedExpired + s.droppedTooLarge,
      store: this.extras.store ?? 'memory',
      tls: this.extras.tlsStats?.() ?? {},
    };
  }

  private connected(): Connection[] {
    return [...this.broker.connections].filter((c) => c.state === ConnState.Connected);
  }

  private row(c: Connection): ClientRow {
    const info = c.info();
    const session = c.session;
    const identity = info.username ?? info.tls?.certIdentity ?? info.tls?.pskIdentity;
    return {
      clientId: info.clientId, address: info.remoteAddress, protocolVersion: info.protocolVersion, transport: info.transport,
      ...(info.tls ? { tlsVersion: info.tls.protocol ?? undefined, tlsCipher: info.tls.cipher, tlsResumed: info.tls.resumed } : {}),
      ...(identity !== undefined ? { identity } : {}),
      subscriptions: session?.subscriptions.size ?? 0, queued: session?.queued ?? 0, inflight: session?.inflight.size ?? 0,
    };
  }

  listClients(): ClientRow[] {
    return this.connected().map((c) => this.row(c)).sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  client(clientId: string): ClientDetail | undefined {
    const c = this.connected().find((x) => x.clientId === clientId);
    if (!c) return undefined;
    const session = c.session;
    return {
      ...this.row(c), username: c.username, keepAlive: c.keepAlive, sessionExpiry: session?.expiryInterval ?? 0,
      subscriptionList: [...(session?.subscriptions ?? [])].map(([filter, o]) => ({ filter, qos: o.qos })),
      queuedBytes: session?.bytesQueued ?? 0,
    };
  }

  kick(clientId: string): boolean {
    const c = this.connected().find((x) => x.clientId === clientId);
    if (!c) return false;
    c.disconnect(ADMINISTRATIVE_ACTION, 'disconnected by an administrator');
    return true;
  }

  subscriptions(): SubscriptionRow[] {
    const rows: SubscriptionRow[] = [];
    for (const session of this.broker.sessions.values()) {
      for (const [filter, o] of session.subscriptions) {
        rows.push({ clientId: session.clientId, filter, qos: o.qos, noLocal: o.noLocal, retainAsPublished: o.retainAsPublished, online: session.link !== undefined });
      }
    }
    return rows.sort((a, b) => a.filter.localeCompare(b.filter) || a.clientId.localeCompare(b.clientId));
  }

  retained(filter: string): RetainedRow[] {
    return this.broker.retained.match(filter, this.now())
      .map((m) => ({ topic: m.topic, qos: m.qos, bytes: m.payload.length, preview: preview(m.payload) }))
      .sort((a, b) => a.topic.localeCompare(b.topic));
  }

  clearRetained(topic: string): boolean {
    if (this.broker.retained.match(topic, this.now()).length === 0) return false;
    // An empty retained payload deletes it from the index and the store [MQTT-3.3.1-6]; not routed.
    this.broker.retain({ topic, payload: Buffer.alloc(0), qos: 0, retain: true });
    return true;
  }

  publish(topic: string, payload: Buffer, qos: QoS, retain: boolean): PublishResult {
    const outcome = this.broker.publishInternal({ topic, payload, qos, retain });
    if (outcome === PublishOutcome.QuotaExceeded) return 'refused: queues full';
    return outcome === PublishOutcome.NoSubscribers ? 'no subscribers' : 'delivered';
  }

  onMessage(filter: string, fn: (m: TailMessage) => void): () => void {
    const shared = parseSharedFilter(filter);
    const match = shared ? shared.filter : filter;
    const listener = (m: Message): void => {
      if (topicMatches(match, m.topic)) fn({ topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain });
    };
    this.broker.on('messagePublished', listener);
    return () => {
      this.broker.off('messagePublished', listener);
    };
  }

  async reload(): Promise<string[]> {
    return this.extras.reload ? this.extras.reload() : [];
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function preview(payload: Buffer): string {
  const text = payload.toString('utf8');
  // eslint-disable-next-line no-control-regex
  const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text);
  if (!printable) return `<${payload.length} bytes>`;
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > 60 ? `${flat.slice(0, 57)}...` : flat;
}
