/** UNSUBSCRIBE (3.10.4): remove each filter, UNSUBACK with 0x00 or 0x11 per filter (v5). */
import type { UnsubscribePacket } from '../../codec/index.js';
import type { Connection } from '../connection.js';

export function handleUnsubscribe(c: Connection, p: UnsubscribePacket): void {
  const session = c.session!;
  const reasonCodes = p.topicFilters.map((f) => (c.broker.unsubscribe(session, f) ? 0x00 : 0x11));
  // [MQTT-3.10.4-4] UNSUBACK even when nothing was removed; 3.1.1 carries no codes.
  c.afterCommit(() => c.send({ type: 'unsuback', packetId: p.packetId, reasonCodes: c.version === 5 ? reasonCodes : [] }));
}
