/** DISCONNECT from a client (3.14.4): will handling and a last Session Expiry Interval. */
import { protocolError, type DisconnectPacket } from '../../codec/index.js';
import type { Connection } from '../connection.js';

export function handleDisconnect(c: Connection, p: DisconnectPacket): void {
  const expiry = p.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    // [3.14.2.2.2] a session that was to end with the connection may not be extended now.
    if (c.connectSessionExpiry === 0 && expiry !== 0) {
      throw protocolError('DISCONNECT sets Session Expiry Interval after CONNECT set 0 [3.14.2.2.2]');
    }
    if (c.session) c.session.expiryInterval = Math.min(expiry, c.broker.options.limits.maxSessionExpiry);
  }
  // [MQTT-3.1.2-10] only a Normal disconnection (0x00) deletes the will; 0x04 and error codes send it.
  if ((p.reasonCode ?? 0) === 0x00) c.will = undefined;
  c.close();
}
