/** PUBACK, PUBREC, PUBREL, PUBCOMP from a client (4.3.2, 4.3.3): both directions of the QoS flows. */
import type { PubackPacket, PubcompPacket, PubrecPacket, PubrelPacket } from '../../codec/index.js';
import type { Connection } from '../connection.js';

/** Outbound QoS 1 done. An unknown id is ignored: it may be a late ack of a discarded message. */
export function handlePuback(c: Connection, p: PubackPacket): void {
  c.session!.complete(p.packetId);
}

/** Outbound QoS 2 step 1: success → send PUBREL [MQTT-4.3.3-5]; a failure code ends the flow. */
export function handlePubrec(c: Connection, p: PubrecPacket): void {
  const session = c.session!;
  if ((p.reasonCode ?? 0) >= 0x80) {
    session.complete(p.packetId);
    return;
  }
  if (!session.received(p.packetId)) {
    // [MQTT-4.3.3-8]-style answer to an id we do not hold: PUBREL "not found" keeps the client's state sane.
    c.send({ type: 'pubrel', packetId: p.packetId, reasonCode: c.version === 5 ? 0x92 : 0 });
  }
}

/** Outbound QoS 2 done. */
export function handlePubcomp(c: Connection, p: PubcompPacket): void {
  c.session!.complete(p.packetId);
}

/** Inbound QoS 2 step 2: forget the packet id, answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(c: Connection, p: PubrelPacket): void {
  const session = c.session!;
  const known = session.incomingQos2.delete(p.packetId);
  if (known) session.journal?.incoming(c.clientId, p.packetId, false);
  // The id is forgotten on disk before the client may reuse it for a new message.
  c.afterCommit(() => {
    if (known) c.inboundInFlight--;
    c.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: known || c.version < 5 ? 0 : 0x92 });
  });
}
