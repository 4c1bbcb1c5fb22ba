/**
 * Malformed packets and protocol errors reaching the broker over a real socket (spec 4.13). The bytes
 * are written by hand (the encoder refuses to produce most of them). Reason codes are the codec's
 * (src/codec: `malformed` 0x81, `protocolError` 0x82, topic alias 0x94). For each case:
 * an MQTT 5 client gets DISCONNECT with that reason code and the connection closes [MQTT-4.13.1-1];
 * a 3.1.1 client sees the connection closed without a packet; and another client connected to the
 * same broker keeps publishing and receiving.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSIONS, assertWorks, env, expectServerClose, hex, pkt, rawStr, str, subscribe, tag, type V } from './conformance-util.js';

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;

/** The property-length byte(s) a v5 packet carries and a 3.1.1 one does not. */
const props = (v: V, body = ''): string => (v === 5 ? `${(hex(body).length).toString(16).padStart(2, '0')} ${body}` : '');

/** PUBLISH bytes: flags nibble, topic field (hex), packet id (hex, for QoS > 0), v5 properties, payload. */
const publishBytes = (v: V, flags: number, topicField: string, id = '', propsBody = ''): Buffer =>
  pkt(0x30 | flags, `${topicField} ${id} ${props(v, propsBody)} ${Buffer.from('payload').toString('hex')}`);

/** SUBSCRIBE bytes with one filter field (hex) and options byte; `first` lets a test break the flags. */
const subscribeBytes = (v: V, filterField: string, options = '01', first = 0x82, id = '0001'): Buffer =>
  pkt(first, `${id} ${props(v)} ${filterField} ${options}`);

interface Case {
  name: string;
  bytes: (v: V) => Buffer;
  code: number;
  only?: V;
}

const CASES: Case[] = [
  { name: '[MQTT-1.5.5-1] a Remaining Length longer than four bytes', code: MALFORMED, bytes: () => hex('30 ff ff ff ff 7f') },
  { name: '[MQTT-1.5.5-1] a Remaining Length not in its minimal form', code: MALFORMED, bytes: () => hex('c0 80 00') },
  { name: '[MQTT-2.1.3-1] PINGREQ with a reserved flag bit set', code: MALFORMED, bytes: () => hex('c1 00') },
  { name: '[MQTT-3.8.1-1] SUBSCRIBE with fixed-header flags 0000 instead of 0010', code: MALFORMED, bytes: (v) => subscribeBytes(v, str('a'), '01', 0x80) },
  { name: '[MQTT-3.6.1-1] PUBREL with fixed-header flags 0000 instead of 0010', code: MALFORMED, bytes: () => hex('60 02 00 01') },
  { name: '[MQTT-3.10.1-1] UNSUBSCRIBE with fixed-header flags 0011', code: MALFORMED, bytes: (v) => pkt(0xa3, `0001 ${props(v)} ${str('a')}`) },
  { name: '[2.1.2] packet type 0 (reserved)', code: MALFORMED, bytes: () => hex('00 00') },
  { name: '[MQTT-3.3.1-4] PUBLISH with QoS 3', code: MALFORMED, bytes: (v) => publishBytes(v, 0x06, str('a'), '0001') },
  { name: '[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP set', code: MALFORMED, bytes: (v) => publishBytes(v, 0x08, str('a')) },
  { name: '[MQTT-3.3.2-2] PUBLISH topic name with a + wildcard', code: PROTOCOL_ERROR, bytes: (v) => publishBytes(v, 0, str('a/+/c')) },
  { name: '[MQTT-3.3.2-2] PUBLISH topic name with a # wildcard', code: PROTOCOL_ERROR, bytes: (v) => publishBytes(v, 0x02, str('a/#'), '0001') },
  { name: '[MQTT-4.7.3-1] PUBLISH with an empty topic name and no Topic Alias', code: PROTOCOL_ERROR, bytes: (v) => publishBytes(v, 0, str('')) },
  { name: '[MQTT-4.7.1-1] SUBSCRIBE to the filter "a/#/b"', code: MALFORMED, bytes: (v) => subscribeBytes(v, str('a/#/b')) },
  { name: '[MQTT-4.7.1-2] SUBSCRIBE to the filter "a/b+"', code: MALFORMED, bytes: (v) => subscribeBytes(v, str('a/b+')) },
  { name: '[MQTT-4.7.1-1] UNSUBSCRIBE from the filter "#/a"', code: MALFORMED, bytes: (v) => pkt(0xa2, `0001 ${props(v)} ${str('#/a')}`) },
  { name: '[MQTT-4.8.2-1] SUBSCRIBE to a shared filter with an empty share name "$share//a"', code: MALFORMED, bytes: (v) => subscribeBytes(v, str('$share//a')) },
  { name: '[MQTT-3.8.3-2] SUBSCRIBE without any topic filter', code: PROTOCOL_ERROR, bytes: (v) => pkt(0x82, `0001 ${props(v)}`) },
  { name: '[MQTT-1.5.4-1] [MQTT-3.3.2-1] PUBLISH topic that is not well-formed UTF-8 (0xFF)', code: MALFORMED, bytes: (v) => publishBytes(v, 0, rawStr('61 2f ff')) },
  { name: '[MQTT-1.5.4-1] PUBLISH topic with an encoded surrogate U+D800', code: MALFORMED, bytes: (v) => publishBytes(v, 0, rawStr('61 ed a0 80')) },
  { name: '[MQTT-1.5.4-1] [MQTT-3.8.3-1] SUBSCRIBE filter with an overlong UTF-8 encoding of "/"', code: MALFORMED, bytes: (v) => subscribeBytes(v, rawStr('61 c0 af 62')) },
  { name: '[MQTT-1.5.4-2] PUBLISH topic containing U+0000', code: MALFORMED, bytes: (v) => publishBytes(v, 0, rawStr('61 00 62')) },
  { name: '[MQTT-2.2.1-3] PUBLISH QoS 1 with packet identifier 0', code: PROTOCOL_ERROR, bytes: (v) => publishBytes(v, 0x02, str('a'), '0000') },
  { name: '[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0', code: PROTOCOL_ERROR, bytes: (v) => subscribeBytes(v, str('a'), '01', 0x82, '0000') },
  { name: '[MQTT-3.8.3-5] SUBSCRIBE with reserved Subscription Options bits set', code: MALFORMED, bytes: (v) => subscribeBytes(v, str('a'), v === 5 ? 'c1' : '05') },
  { name: '[MQTT-3.10.3-1] UNSUBSCRIBE filter that is not well-formed UTF-8 (0xFF)', code: MALFORMED, bytes: (v) => pkt(0xa2, `0001 ${props(v)} ${rawStr('61 ff')}`) },
  { name: '[MQTT-4.7.3-2] SUBSCRIBE to an empty topic filter', code: MALFORMED, bytes: (v) => subscribeBytes(v, str('')) },
  { name: '[MQTT-3.14.1-1] DISCONNECT with a reserved flag bit set', code: MALFORMED, bytes: () => hex('e1 00') },
  { name: '[MQTT-3.1.0-2] a second CONNECT', code: PROTOCOL_ERROR, bytes: (v) => pkt(0x10, `${str('MQTT')} 0${v} 02 0000 ${props(v)} ${str('again')}`) },
  // MQTT 5 only: properties.
  { name: '[3.3.2.3.3] PUBLISH with the Message Expiry Interval property twice', code: PROTOCOL_ERROR, only: 5, bytes: (v) => publishBytes(v, 0, str('a'), '', '02 0000000a 02 0000000a') },
  { name: '[2.2.2.2] PUBLISH with a property not allowed in PUBLISH (Session Expiry Interval)', code: MALFORMED, only: 5, bytes: (v) => publishBytes(v, 0, str('a'), '', '11 0000000a') },
  { name: '[3.3.2.3.2] PUBLISH with a Payload Format Indicator of 2', code: PROTOCOL_ERROR, only: 5, bytes: (v) => publishBytes(v, 0, str('a'), '', '01 02') },
  { name: '[MQTT-3.3.4-6] PUBLISH from a client carrying a Subscription Identifier', code: PROTOCOL_ERROR, only: 5, bytes: (v) => publishBytes(v, 0, str('a'), '', '0b 01') },
  { name: '[MQTT-3.8.3-4] No Local on a shared subscription', code: PROTOCOL_ERROR, only: 5, bytes: (v) => subscribeBytes(v, str('$share/g/a'), '05') },
  { name: '[3.8.3.1] SUBSCRIBE with Retain Handling 3', code: PROTOCOL_ERROR, only: 5, bytes: (v) => subscribeBytes(v, str('a'), '31') },
  { name: '[MQTT-3.4.2-1] PUBACK with a reason code PUBACK may not carry (0x05)', code: PROTOCOL_ERROR, only: 5, bytes: () => hex('40 03 0001 05') },
  { name: '[MQTT-3.5.2-1] PUBREC with a reason code PUBREC may not carry (0x05)', code: PROTOCOL_ERROR, only: 5, bytes: () => hex('50 03 0001 05') },
  { name: '[MQTT-3.6.2-1] PUBREL with a reason code PUBREL may not carry (0x05)', code: PROTOCOL_ERROR, only: 5, bytes: () => hex('62 03 0001 05') },
  { name: '[MQTT-3.7.2-1] PUBCOMP with a reason code PUBCOMP may not carry (0x05)', code: PROTOCOL_ERROR, only: 5, bytes: () => hex('70 03 0001 05') },
  { name: '[MQTT-3.15.1-1] AUTH with a reserved flag bit set', code: MALFORMED, only: 5, bytes: () => hex('f1 00') },
];

describe('malformed packets and protocol errors reaching the broker', () => {
  for (const c of CASES) {
    for (const v of VERSIONS) {
      if (c.only !== undefined && c.only !== v) continue;
      const outcome = v === 5 ? `DISCONNECT 0x${c.code.toString(16)} and close` : 'the connection closed';
      test(`${c.name}: ${outcome}; other clients unaffected ${tag(v)}`, async (t) => {
        const e = await env(t);
        const bystander = await e.client(v);
        await subscribe(bystander, 'probe/#', 1); // a subscription that must survive the other's failure
        const bad = await e.client(v);
        bad.write(c.bytes(v));
        await expectServerClose(bad, v, c.code);
        await assertWorks(bystander, `after-${v}`);
        // A new client can connect to the same broker, too.
        await assertWorks(await e.client(v), 'newcomer');
      });
    }
  }

  test('[MQTT-4.13.1-1] a malformed packet after valid ones in the same chunk: the valid ones are processed, then DISCONNECT 0x81 (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, 'chunk', 0);
    const bad = await e.client(5);
    bad.write(Buffer.concat([
      pkt(0x30, `${str('chunk')} 00 ${Buffer.from('ok').toString('hex')}`),
      hex('30 ff ff ff ff 7f'),
    ]));
    await expectServerClose(bad, 5, MALFORMED);
    const p = await sub.expect('publish');
    assert.equal(p.payload.toString(), 'ok');
  });

  test('[MQTT-4.13.1-1] a packet split across many writes is reassembled; a malformed one split the same way still gets DISCONNECT 0x81 (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, 'split', 0);
    const c = await e.client(5);
    const good = pkt(0x30, `${str('split')} 00 ${Buffer.from('whole').toString('hex')}`);
    for (const byte of good) {
      c.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal((await sub.expect('publish')).payload.toString(), 'whole');
    const bad = pkt(0x30, `${rawStr('73 ff')} 00 78`);
    for (const byte of bad) {
      c.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    await expectServerClose(c, 5, MALFORMED);
  });
});
