/**
 * v5 enhanced authentication from the client's side (spec 4.12): the Authentication Method and first
 * data go in CONNECT; each AUTH 0x18 (Continue) from the broker is answered by the application's
 * `step`; CONNACK ends the exchange. Re-authentication [4.12.1] starts with AUTH 0x19 on a connected
 * client and ends with AUTH 0x00 — or a DISCONNECT when the broker refuses.
 */
import { encodePacket, type AuthPacket, type MoatError } from '../codec/index.js';
import { ClientErr, clientError } from './errors.js';

export interface EnhancedAuth {
  /** The Authentication Method, e.g. 'SCRAM-SHA-256'. */
  method: string;
  /** Authentication Data for CONNECT, and for AUTH 0x19 when re-authenticating. */
  initialData?(reauthenticate: boolean): Buffer | undefined;
  /** Answers one challenge (the broker's Authentication Data) with the next data to send. */
  step(challenge: Buffer | undefined, reauthenticate: boolean): Buffer | undefined | Promise<Buffer | undefined>;
}

export interface AuthLink {
  /** Increments per network connection: an answer computed for an old one is not sent on a new one. */
  readonly connectionSeq: number;
  write(bytes: Buffer): void;
  fail(err: MoatError): void;
}

export class AuthExchange {
  private reauth: { resolve(): void; reject(e: MoatError): void } | undefined;

  constructor(readonly auth: EnhancedAuth, private readonly link: AuthLink) {}

  connectProperties(): { authenticationMethod: string; authenticationData?: Buffer } {
    const data = this.auth.initialData?.(false);
    return { authenticationMethod: this.auth.method, ...(data ? { authenticationData: data } : {}) };
  }

  /** AUTH from the broker, during CONNECT or re-authentication. */
  receive(p: AuthPacket): void {
    // [MQTT-4.12.0-5] the same method throughout.
    if (p.properties?.authenticationMethod !== this.auth.method) {
      throw clientError(ClientErr.protocolError, 'AUTH with a different Authentication Method [MQTT-4.12.0-5]', 0x82);
    }
    if (p.reasonCode === 0x00) {
      const r = this.reauth;
      this.reauth = undefined;
      if (!r) throw clientError(ClientErr.protocolError, 'AUTH Success without a re-authentication in progress', 0x82);
      return r.resolve();
    }
    if (p.reasonCode !== 0x18) throw clientError(ClientErr.protocolError, `unexpected AUTH reason 0x${p.reasonCode.toString(16)}`, 0x82);
    const seq = this.link.connectionSeq;
    const reauth = this.reauth !== undefined;
    const send = (data: Buffer | undefined): void => {
      if (seq !== this.link.connectionSeq) return;
      this.link.write(encodePacket({ type: 'auth', reasonCode: 0x18, properties: {
        authenticationMethod: this.auth.method, ...(data ? { authenticationData: data } : {}),
      } }, 5));
    };
    let answer: Buffer | undefined | Promise<Buffer | undefined>;
    try {
      answer = this.auth.step(p.properties.authenticationData, reauth);
    } catch (err) {
      return this.link.fail(clientError(ClientErr.authFailed, `authentication step failed: ${String(err)}`, 0x87, err));
    }
    if (answer instanceof Promise) {
      answer.then(send, (err: unknown) => this.link.fail(clientError(ClientErr.authFailed, `authentication step failed: ${String(err)}`, 0x87, err)));
    } else send(answer);
  }

  /** Starts re-authentication: AUTH 0x19 with the method and fresh data. */
  reauthenticate(): Promise<void> {
    if (this.reauth) return Promise.reject(clientError(ClientErr.config, 're-authentication already in progress'));
    return new Promise((resolve, reject) => {
      this.reauth = { resolve, reject };
      const data = this.auth.initialData?.(true);
      this.link.write(encodePacket({ type: 'auth', reasonCode: 0x19, properties: {
        authenticationMethod: this.auth.method, ...(data ? { authenticationData: data } : {}),
      } }, 5));
    });
  }

  /** The connection ended: a re-authentication in progress fails with the reason. */
  linkLost(reason: MoatError): void {
    const r = this.reauth;
    this.reauth = undefined;
    r?.reject(reason);
  }
}
