/** CONNECT (3.1.4): client identifier, keep alive, authentication, session, CONNACK. */
import { randomBytes } from 'node:crypto';
import type { ConnackProperties, ConnectPacket } from '../../codec/index.js';
import { ConnState, type Connection } from '../connection.js';
import type { Session } from '../session.js';
import { askAll, type AuthenticateVerdict } from '../hooks.js';
import { startEnhancedAuth } from './auth.js';
import { willFrom } from './will.js';

export function handleConnect(c: Connection, p: ConnectPacket): void | Promise<void> {
  const { limits } = c.broker.options;
  c.version = p.protocolVersion;
  const props = p.properties;
  let clientId = p.clientId;
  let assigned = false;
  const tls = c.transport.tls;
  const { identityFromTls } = c.broker.options;
  const forcedId = identityFromTls.forceClientIdFromCert ? tls?.certIdentity : undefined;
  if (forcedId !== undefined && clientId !== forcedId) {
    if (clientId.length > 0) {
      c.broker.log.info({ clientId, certIdentity: forcedId, remote: c.transport.remoteAddress }, 'client id differs from the certificate identity: connection refused');
      return c.refuseConnect(0x85);
    }
    clientId = forcedId; // an empty id gets the certificate's: assigned, so v5 is told
    assigned = c.version === 5;
  }
  if (clientId.length === 0) {
    // 3.1.1 [MQTT-3.1.3-8]: an empty id needs Clean Session 1; 3.1 requires an id at all.
    if (c.version === 3 || (c.version === 4 && !p.clean)) return c.refuseConnect(0x85);
    clientId = `moat-${randomBytes(9).toString('base64url')}`; // [MQTT-3.1.3-6] unique, assigned
    assigned = true;
  }
  if (Buffer.byteLength(clientId) > limits.maxClientIdLength) return c.refuseConnect(0x85);
  c.clientId = clientId;
  // A verified TLS identity replaces the CONNECT username (identityFromTls in config.ts).
  const tlsUser = (identityFromTls.certUsername ? tls?.certIdentity : undefined)
    ?? (identityFromTls.pskUsername ? tls?.pskIdentity : undefined);
  c.username = tlsUser ?? p.username;
  let serverKeepAlive: number | undefined;
  c.keepAlive = p.keepAlive;
  if (p.keepAlive > limits.maxKeepAlive || (p.keepAlive === 0 && limits.maxKeepAlive < 65_535)) {
    // v5 gets Server Keep Alive [MQTT-3.2.2-21]; 3.1.1 cannot be told, so it is refused (as Mosquitto does).
    if (c.version < 5) return c.refuseConnect(0x85);
    serverKeepAlive = limits.maxKeepAlive;
    c.keepAlive = limits.maxKeepAlive;
  }
  if (props) {
    if (props.receiveMaximum !== undefined) c.clientReceiveMaximum = props.receiveMaximum;
    if (props.maximumPacketSize !== undefined) c.clientMaxPacketSize = props.maximumPacketSize;
    if (props.topicAliasMaximum !== undefined) c.clientTopicAliasMaximum = props.topicAliasMaximum;
    if (props.requestProblemInformation === false) c.problemInformation = false;
  }
  c.connectSessionExpiry = c.version === 5 ? props?.sessionExpiryInterval ?? 0 : p.clean ? 0 : 0xffff_ffff;
  if (p.will) c.will = willFrom(c, p.will);

  // With a TLS identity as username the CONNECT password is not checked: the handshake proved who it is.
  const credentials = tlsUser === undefined ? p.password : undefined;
  // The TLS identity vouches for the client, not for a user name it merely claims: that needs a password.
  const vouched = tlsAuthenticated(c) && (tlsUser !== undefined || p.username === undefined);
  const finish = (): void | Promise<void> => authenticate(c, p, credentials, vouched, () => accept(c, p, assigned, serverKeepAlive));
  if (props?.authenticationMethod !== undefined) {
    return startEnhancedAuth(c, props.authenticationMethod, props.authenticationData, finish);
  }
  return finish();
}

/** A client certificate verified against the device CA, or a TLS-PSK key, already authenticated the client. */
function tlsAuthenticated(c: Connection): boolean {
  const tls = c.transport.tls;
  return tls !== undefined && (tls.peerCertificate !== undefined || tls.pskIdentity !== undefined);
}

function authenticate(c: Connection, p: ConnectPacket, password: Buffer | undefined, vouched: boolean, onAllow: () => void): void | Promise<void> {
  const { hooks, options } = c.broker;
  let answers: Array<AuthenticateVerdict | undefined> | Promise<Array<AuthenticateVerdict | undefined>> = [];
  if (hooks.authenticate.length > 0) {
    const req = { ...c.info(), password, authenticationMethod: c.auth?.method };
    answers = askAll(hooks.authenticate.map((h) => h(req, c.signal)));
  }
  const decide = (verdicts: Array<AuthenticateVerdict | undefined>): void | Promise<void> => {
    if (c.state === ConnState.Closed) return;
    const deny = verdicts.find((v) => v?.verdict === 'deny');
    if (deny && deny.verdict === 'deny') return c.refuseConnect(deny.reasonCode ?? 0x86);
    const allowed = verdicts.some((v) => v?.verdict === 'allow') || c.auth !== undefined || vouched
      || options.allowAnonymous === true
      // `loopback`: only through a listener bound to loopback, whatever the client's address.
      || (options.allowAnonymous === 'loopback' && c.transport.loopbackListener);
    if (!allowed) {
      c.broker.log.info({ clientId: c.clientId, remote: c.transport.remoteAddress }, 'anonymous connection refused');
      return c.refuseConnect(p.username === undefined ? 0x87 : 0x86);
    }
    // A token that names its user (sent without a user name) makes that the identity ACLs see.
    for (const v of verdicts) {
      if (v?.verdict !== 'allow') continue;
      if (v.username !== undefined && c.username === undefined) c.username = v.username;
      if (v.expiresAt !== undefined) c.credentialsExpire(v.expiresAt);
    }
    return authorizeWill(c, onAllow);
  };
  return answers instanceof Promise ? answers.then(decide) : decide(answers);
}

/**
 * The will is a publish the client asks for now and the broker performs later: it is authorized now,
 * with the same hooks and the same $SYS invariant as a PUBLISH, so a refused will refuses the CONNECT.
 */
function authorizeWill(c: Connection, onAllow: () => void): void | Promise<void> {
  const will = c.will?.message;
  if (!will) return onAllow();
  if (will.topic === '$SYS' || will.topic.startsWith('$SYS/')) return refuseWill(c);
  const client = c.info();
  const request = { topic: will.topic, qos: will.qos, retain: will.retain, payload: will.payload };
  const answers = askAll(c.broker.hooks.authorizePublish.map((h) => h(client, request, c.signal)));
  const decide = (verdicts: Array<boolean | undefined>): void => {
    if (c.state === ConnState.Closed) return;
    if (verdicts.includes(false)) return refuseWill(c);
    onAllow();
  };
  return answers instanceof Promise ? answers.then(decide) : decide(answers);
}

function refuseWill(c: Connection): void {
  c.broker.log.info({ clientId: c.clientId, topic: c.will?.message.topic }, 'will not authorized: connection refused');
  c.refuseConnect(0x87);
}

function accept(c: Connection, p: ConnectPacket, assigned: boolean, serverKeepAlive: number | undefined): void {
  const { options } = c.broker;
  const { limits } = options;
  const expiry = Math.min(c.connectSessionExpiry, limits.maxSessionExpiry === 0xffff_ffff ? 0xffff_ffff : limits.maxSessionExpiry);
  const { session, present } = c.broker.openSession(c, c.clientId, p.clean, c.version === 5 || !p.clean ? expiry : 0, c.will);
  c.session = session;
  // QoS 2 messages received on an earlier connection and awaiting PUBREL still count against our
  // Receive Maximum on this one [MQTT-3.3.4-7] [4.9].
  c.inboundInFlight = session.incomingQos2.size;
  c.state = ConnState.Connected;
  // The session (a discarded one, [MQTT-3.1.2-4]) and the will are durable before CONNACK says so.
  c.afterCommit(() => sendConnack(c, present, expiry, assigned, serverKeepAlive, session));
}

function sendConnack(c: Connection, present: boolean, expiry: number, assigned: boolean, serverKeepAlive: number | undefined, session: Session): void {
  const { options } = c.broker;
  const { limits } = options;
  const connack = { type: 'connack' as const, sessionPresent: present, reasonCode: 0 };
  if (c.version === 5) {
    const props: ConnackProperties = {};
    if (expiry !== c.connectSessionExpiry) props.sessionExpiryInterval = expiry;
    if (limits.receiveMaximum < 65_535) props.receiveMaximum = limits.receiveMaximum;
    if (options.maximumQoS < 2) props.maximumQoS = options.maximumQoS as 0 | 1;
    if (!options.retainAvailable) props.retainAvailable = false;
    props.maximumPacketSize = limits.maxPacketSize;
    if (assigned) props.assignedClientIdentifier = c.clientId;
    if (limits.topicAliasMaximum > 0) props.topicAliasMaximum = limits.topicAliasMaximum;
    if (serverKeepAlive !== undefined) props.serverKeepAlive = serverKeepAlive;
    if (c.auth) props.authenticationMethod = c.auth.method;
    const data = c.auth?.state['successData'];
    if (data instanceof Buffer) props.authenticationData = data;
    c.send({ ...connack, properties: props });
  } else {
    c.send(connack);
  }
  c.startKeepAlive();
  session.link = c;
  c.broker.emitConnected(c.info());
  session.resume();
}
