/** Routes a decoded packet to its handler according to the connection state. */
import { MoatError, protocolError, type Packet } from '../../codec/index.js';
import { ConnState, type Connection } from '../connection.js';
import { handleConnect } from './connect.js';
import { handleAuth } from './auth.js';
import { handlePublish } from './publish.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './acks.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe } from './unsubscribe.js';
import { handleDisconnect } from './disconnect.js';

export function dispatch(c: Connection, p: Packet): void | Promise<void> {
  if (c.state === ConnState.AwaitConnect) {
    // [MQTT-3.1.0-1] the first packet from the client must be CONNECT.
    if (p.type !== 'connect') throw protocolError(`${p.type.toUpperCase()} before CONNECT [MQTT-3.1.0-1]`);
    return handleConnect(c, p);
  }
  if (c.state === ConnState.Authenticating) {
    if (p.type === 'auth') return handleAuth(c, p);
    if (p.type === 'disconnect') return handleDisconnect(c, p);
    throw protocolError(`${p.type.toUpperCase()} during authentication [MQTT-3.1.2-30]`);
  }
  switch (p.type) {
    case 'connect': throw protocolError('second CONNECT [MQTT-3.1.0-2]');
    case 'publish': return handlePublish(c, p);
    case 'puback': return handlePuback(c, p);
    case 'pubrec': return handlePubrec(c, p);
    case 'pubrel': return handlePubrel(c, p);
    case 'pubcomp': return handlePubcomp(c, p);
    case 'subscribe': return handleSubscribe(c, p);
    case 'unsubscribe': return handleUnsubscribe(c, p);
    case 'pingreq': c.send({ type: 'pingresp' }); return;
    case 'disconnect': return handleDisconnect(c, p);
    case 'auth': return handleAuth(c, p);
    default:
      throw new MoatError('MOAT_ERR_PROTOCOL_ERROR', `a client may not send ${p.type.toUpperCase()}`, { reasonCode: 0x82 });
  }
}
