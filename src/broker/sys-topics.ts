/**
 * `$SYS/broker/...` (Mosquitto's names): uptime, clients, messages and bytes, subscriptions, retained
 * count and 1/5/15-minute load averages, published retained every `interval` seconds.
 */
import type { Broker } from './broker.js';

const WINDOWS = [1, 5, 15] as const;
type Rate = 'messages/received' | 'messages/sent' | 'bytes/received' | 'bytes/sent' | 'connections';

/** `extra` adds counters of other parts under $SYS/broker/ (e.g. `tls/handshakes/full`). */
export function startSysTopics(broker: Broker, intervalSec: number, version: string, extra?: () => Record<string, number>): () => void {
  if (intervalSec <= 0) return () => {};
  const clock = broker.clock;
  const load = new Map<string, number>();
  let last = snapshot(broker);
  let timer: unknown;
  const publish = (topic: string, value: string | number): void => {
    broker.publishInternal({ topic: `$SYS/broker/${topic}`, payload: Buffer.from(String(value)), qos: 0, retain: true });
  };
  const tick = (): void => {
    const s = broker.stats;
    const now = snapshot(broker);
    // Exponentially weighted per-minute rates, as Mosquitto's $SYS/broker/load/... do.
    for (const key of Object.keys(now) as Rate[]) {
      const perMinute = ((now[key] - last[key]) * 60) / intervalSec;
      for (const w of WINDOWS) {
        const name = `load/${key}/${w}min`;
        const k = Math.exp(-intervalSec / (w * 60));
        const next = (load.get(name) ?? perMinute) * k + perMinute * (1 - k);
        load.set(name, next);
        publish(name, next.toFixed(2));
      }
    }
    last = now;
    publish('version', `moat ${version}`);
    publish('uptime', `${Math.floor((clock.now() - s.startedAt) / 1000)} seconds`);
    let connected = 0;
    for (const session of broker.sessions.values()) if (session.link) connected++;
    publish('clients/connected', connected);
    publish('clients/total', broker.sessions.size);
    publish('clients/disconnected', broker.sessions.size - connected);
    publish('messages/received', s.messagesIn);
    publish('messages/sent', s.messagesOut);
    publish('messages/dropped', s.droppedQos0 + s.droppedTooLarge + s.droppedExpired);
    publish('bytes/received', s.bytesIn);
    publish('bytes/sent', s.bytesOut);
    publish('subscriptions/count', broker.tree.size);
    publish('retained messages/count', broker.retained.size);
    if (extra) for (const [name, value] of Object.entries(extra())) publish(name, value);
    timer = clock.setTimeout(tick, intervalSec * 1000);
  };
  tick();
  return () => clock.clearTimeout(timer);
}

function snapshot(b: Broker): Record<Rate, number> {
  return {
    'messages/received': b.stats.messagesIn, 'messages/sent': b.stats.messagesOut,
    'bytes/received': b.stats.bytesIn, 'bytes/sent': b.stats.bytesOut, connections: b.stats.connectionsTotal,
  };
}
