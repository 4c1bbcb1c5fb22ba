/** v5 enhanced authentication (4.12): AUTH exchanges during CONNECT and re-authentication after it. */
import { protocolError, type AuthPacket } from '../../codec/index.js';
import { ConnState, type Connection } from '../connection.js';
import type { EnhancedAuthResult } from '../hooks.js';

type Continuation = () => void | Promise<void>;
const pending = new WeakMap<Connection, { finish: Continuation | undefined; reauth: boolean }>();

/** CONNECT carried an Authentication Method: run its handler before the CONNACK. */
export function startEnhancedAuth(c: Connection, method: string, data: Buffer | undefined, finish: Continuation): void | Promise<void> {
  const handler = c.broker.hooks.enhancedAuth.get(method);
  if (!handler) {
    c.broker.log.info({ clientId: c.clientId, method }, 'unsupported authentication method');
    return c.refuseConnect(0x8c);
  }
  c.auth = { method, state: {} };
  c.state = ConnState.Authenticating;
  pending.set(c, { finish, reauth: false });
  return step(c, data, false);
}

export function handleAuth(c: Connection, p: AuthPacket): void | Promise<void> {
  const method = p.properties?.authenticationMethod;
  // [MQTT-4.12.0-5] the method must stay the one of the CONNECT.
  if (!c.auth || method !== c.auth.method) throw protocolError('AUTH with a different or no Authentication Method [MQTT-4.12.0-5]');
  const data = p.properties?.authenticationData;
  if (c.state === ConnState.Authenticating) {
    if (p.reasonCode !== 0x18) throw protocolError('AUTH during CONNECT must be Continue Authentication');
    return step(c, data, false);
  }
  // Connected: 0x19 starts re-authentication [4.12.1]; 0x18 continues one in progress.
  const inProgress = pending.get(c)?.reauth === true;
  if (p.reasonCode === 0x19 && !inProgress) {
    pending.set(c, { finish: undefined, reauth: true });
    c.auth.state = {};
    return step(c, data, true);
  }
  if (p.reasonCode === 0x18 && inProgress) return step(c, data, true);
  throw protocolError('unexpected AUTH reason code');
}

function step(c: Connection, data: Buffer | undefined, reauthenticate: boolean): void | Promise<void> {
  const auth = c.auth!;
  const handler = c.broker.hooks.enhancedAuth.get(auth.method)!;
  const r = handler.step({ client: c.info(), data, reauthenticate, state: auth.state });
  return r instanceof Promise ? r.then((res) => apply(c, res)) : apply(c, r);
}

function apply(c: Connection, r: EnhancedAuthResult): void | Promise<void> {
  if (c.state === ConnState.Closed) return;
  const auth = c.auth!;
  const p = pending.get(c);
  if (r.result === 'continue') {
    c.send({ type: 'auth', reasonCode: 0x18, properties: withData(auth.method, r.data) });
    return;
  }
  pending.delete(c);
  if (r.result === 'fail') {
    const code = r.reasonCode ?? 0x87;
    c.broker.log.info({ clientId: c.clientId, method: auth.method }, 'enhanced authentication failed');
    if (p?.reauth) return c.disconnect(code);
    return c.refuseConnect(code);
  }
  // A token's expiry, set at CONNECT, renewed by a re-authentication [4.12.1].
  if (r.expiresAt !== undefined) c.credentialsExpire(r.expiresAt);
  if (p?.reauth) {
    c.send({ type: 'auth', reasonCode: 0x00, properties: withData(auth.method, r.data) });
    return;
  }
  if (r.username !== undefined && c.username === undefined) c.username = r.username;
  if (r.data) auth.state['successData'] = r.data;
  return p?.finish?.();
}

function withData(method: string, data: Buffer | undefined): { authenticationMethod: string; authenticationData?: Buffer } {
  return data ? { authenticationMethod: method, authenticationData: data } : { authenticationMethod: method };
}
