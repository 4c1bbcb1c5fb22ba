/**
 * Everything in memory: what a broker restarted in the same process (tests, embedding) finds again, and
 * what nothing outside the process survives. Writes apply at once; there is nothing to wait for.
 */
import type {
  Message, QueueStore, Qos2Store, RetainedStore, SessionStore, Store, StoredEntry, StoredSession, StoredWill,
  SubscriptionOptions, WillStore,
} from './types.js';

const DONE = Promise.resolve();

interface MemorySession {
  expiryInterval: number;
  expiresAt: number | undefined;
  subscriptions: Map<string, SubscriptionOptions>;
  entries: Map<number, StoredEntry>;
  incoming: Set<number>;
}

export class MemoryStore implements Store, SessionStore, QueueStore, Qos2Store, RetainedStore, WillStore {
  readonly kind = 'memory' as const;
  readonly durable = false;
  readonly sessions: SessionStore = this;
  readonly queues: QueueStore = this;
  readonly qos2: Qos2Store = this;
  readonly retained: RetainedStore = this;
  readonly wills: WillStore = this;
  private readonly bySession = new Map<string, MemorySession>();
  private readonly messages = new Map<number, Message>();
  private readonly retainedByTopic = new Map<string, Message>();
  private readonly willsByClient = new Map<string, StoredWill>();

  private session(clientId: string): MemorySession {
    let s = this.bySession.get(clientId);
    if (!s) {
      s = { expiryInterval: 0, expiresAt: undefined, subscriptions: new Map(), entries: new Map(), incoming: new Set() };
      this.bySession.set(clientId, s);
    }
    return s;
  }

  putSession(session: StoredSession): Promise<void> {
    const s = this.session(session.clientId);
    s.expiryInterval = session.expiryInterval;
    s.expiresAt = session.expiresAt;
    return DONE;
  }

  deleteSession(clientId: string): Promise<void> {
    this.bySession.delete(clientId);
    return DONE;
  }

  putSubscription(clientId: string, filter: string, options: SubscriptionOptions): Promise<void> {
    this.session(clientId).subscriptions.set(filter, { ...options });
    return DONE;
  }

  deleteSubscription(clientId: string, filter: string): Promise<void> {
    this.bySession.get(clientId)?.subscriptions.delete(filter);
    return DONE;
  }

  async loadSessions(): Promise<StoredSession[]> {
    return [...this.bySession].map(([clientId, s]) => {
      const out: StoredSession = { clientId, expiryInterval: s.expiryInterval, subscriptions: [...s.subscriptions].map(([f, o]) => [f, { ...o }]) };
      if (s.expiresAt !== undefined) out.expiresAt = s.expiresAt;
      return out;
    });
  }

  putMessage(id: number, message: Message): Promise<void> {
    this.messages.set(id, message);
    return DONE;
  }

  deleteMessage(id: number): Promise<void> {
    this.messages.delete(id);
    return DONE;
  }

  putEntry(clientId: string, entry: StoredEntry): Promise<void> {
    this.session(clientId).entries.set(entry.seq, { ...entry });
    return DONE;
  }

  deleteEntry(clientId: string, seq: number): Promise<void> {
    this.bySession.get(clientId)?.entries.delete(seq);
    return DONE;
  }

  async loadQueues(): Promise<{ messages: Map<number, Message>; entries: Map<string, StoredEntry[]> }> {
    const entries = new Map<string, StoredEntry[]>();
    for (const [clientId, s] of this.bySession) {
      if (s.entries.size > 0) entries.set(clientId, [...s.entries.values()].sort((a, b) => a.seq - b.seq).map((e) => ({ ...e })));
    }
    return { messages: new Map(this.messages), entries };
  }

  putIncoming(clientId: string, packetId: number): Promise<void> {
    this.session(clientId).incoming.add(packetId);
    return DONE;
  }

  deleteIncoming(clientId: string, packetId: number): Promise<void> {
    this.bySession.get(clientId)?.incoming.delete(packetId);
    return DONE;
  }

  async loadIncoming(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const [clientId, s] of this.bySession) if (s.incoming.size > 0) out.set(clientId, [...s.incoming]);
    return out;
  }

  putRetained(message: Message): Promise<void> {
    this.retainedByTopic.set(message.topic, message);
    return DONE;
  }

  deleteRetained(topic: string): Promise<void> {
    this.retainedByTopic.delete(topic);
    return DONE;
  }

  async loadRetained(): Promise<Message[]> {
    return [...this.retainedByTopic.values()];
  }

  putWill(clientId: string, will: StoredWill): Promise<void> {
    this.willsByClient.set(clientId, { ...will });
    return DONE;
  }

  deleteWill(clientId: string): Promise<void> {
    this.willsByClient.delete(clientId);
    return DONE;
  }

  async loadWills(): Promise<Map<string, StoredWill>> {
    return new Map([...this.willsByClient].map(([k, w]) => [k, { ...w }]));
  }

  barrier(): Promise<void> | undefined {
    return undefined;
  }

  /** Nothing is ever pending here: no caller needs to tell its writes apart. */
  readonly writes = 0;

  onFailure(): void {}

  async close(): Promise<void> {}
}
