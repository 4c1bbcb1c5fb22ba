/**
 * SUBSCRIBE / UNSUBSCRIBE requests and the subscriptions to restore. A request made offline waits
 * for the next connection; one sent but unanswered when the link drops is sent again on the next
 * (with a new packet identifier). When the broker answers Session Present 0 on a reconnect, it lost
 * our subscriptions: they are sent again [MQTT-3.2.2-4].
 */
import {
  encodePacket, type MoatError, type ProtocolVersion, type SubackPacket, type SubscribePacket,
  type Subscription, type UnsubackPacket, type UnsubscribePacket,
} from '../codec/index.js';
import type { PacketIds } from './packet-ids.js';

export interface RequestLink {
  readonly version: ProtocolVersion;
  readonly online: boolean;
  write(bytes: Buffer): void;
}

type Body = Omit<SubscribePacket, 'packetId'> | Omit<UnsubscribePacket, 'packetId'>;
interface Request {
  body: Body;
  resolve(codes: number[]): void;
  reject(err: MoatError): void;
  /** Internal resubscription: failures are reported to `onResubscribeFailed`, not to a caller. */
  internal?: boolean;
}

export class Requests {
  private waiting: Request[] = [];
  private readonly sent = new Map<number, Request>();
  /** Filter → what to send again if the broker loses the session. */
  readonly active = new Map<string, { sub: Subscription; properties?: SubscribePacket['properties'] }>();

  constructor(private readonly link: RequestLink, private readonly ids: PacketIds,
    private readonly onResubscribeFailed: (filter: string, code: number) => void) {}

  get idle(): boolean {
    return this.waiting.length === 0 && this.sent.size === 0;
  }

  request(body: Body, resolve: (codes: number[]) => void, reject: (err: MoatError) => void, internal = false): void {
    this.waiting.push({ body, resolve, reject, internal });
    this.flush();
  }

  /** Sends waiting requests while online. */
  flush(): void {
    while (this.link.online && this.waiting.length > 0) {
      const id = this.ids.allocate();
      if (id === undefined) return;
      const req = this.waiting.shift()!;
      this.sent.set(id, req);
      this.link.write(encodePacket({ ...req.body, packetId: id } as SubscribePacket | UnsubscribePacket, this.link.version));
    }
  }

  /** SUBACK / UNSUBACK: same packet identifier as the request [MQTT-3.8.4-2]. */
  answer(packet: SubackPacket | UnsubackPacket): void {
    const req = this.sent.get(packet.packetId);
    if (!req) return;
    this.sent.delete(packet.packetId);
    this.ids.release(packet.packetId);
    if (req.body.type === 'subscribe') {
      req.body.subscriptions.forEach((s, i) => {
        const code = packet.reasonCodes[i] ?? 0x80;
        if (code < 0x80) this.active.set(s.topicFilter, { sub: s, properties: req.body.properties as SubscribePacket['properties'] });
        else {
          this.active.delete(s.topicFilter);
          if (req.internal) this.onResubscribeFailed(s.topicFilter, code);
        }
      });
    } else {
      for (const f of (req.body as UnsubscribePacket).topicFilters) this.active.delete(f);
    }
    req.resolve(packet.reasonCodes);
  }

  /** The link dropped: unanswered requests go out again on the next connection. */
  linkLost(): void {
    const again = [...this.sent.entries()].sort((a, b) => a[0] - b[0]).map(([id, r]) => {
      this.ids.release(id);
      return r;
    });
    this.sent.clear();
    this.waiting.unshift(...again);
  }

  /** Connected with no session: subscribe again to everything we had, one SUBSCRIBE per filter. */
  resubscribe(): void {
    for (const { sub, properties } of this.active.values()) {
      const body: Omit<SubscribePacket, 'packetId'> = { type: 'subscribe', subscriptions: [sub], ...(properties ? { properties } : {}) };
      this.waiting.push({ body, resolve: () => {}, reject: () => {}, internal: true });
    }
    this.flush();
  }

  rejectAll(err: MoatError): void {
    for (const r of [...this.waiting, ...this.sent.values()]) r.reject(err);
    for (const id of this.sent.keys()) this.ids.release(id);
    this.waiting = [];
    this.sent.clear();
  }
}
