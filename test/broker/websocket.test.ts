/** MQTT over WebSocket (spec 6): binary frames only, packets not aligned with frames, subprotocol "mqtt". */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { encodePacket, PacketDecoder, type Packet } from '../../src/codec/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';

let broker: Broker;
let ws: RunningListener;
before(async () => {
  broker = new Broker({ sysInterval: 0 });
  ws = await startListener(broker, { url: 'ws://127.0.0.1:0/mqtt' });
});
after(async () => {
  broker.shutdown();
  await ws.close();
});

async function open(protocols: string[] = ['mqtt']): Promise<{ socket: WebSocket; packets: Packet[]; closed: Promise<void> }> {
  const socket = new WebSocket(`ws://127.0.0.1:${ws.address.port}/mqtt`, protocols);
  const packets: Packet[] = [];
  const decoder = new PacketDecoder({ protocolVersion: 5 });
  socket.on('message', (data: Buffer) => decoder.write(data, (p) => packets.push(p)));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return { socket, packets, closed };
}

const connect = encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'ws-client' });
const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
};

test('[MQTT-6.0.0-3] [MQTT-6.0.0-4] the broker selects the subprotocol "mqtt" offered by the client', async () => {
  const c = await open(['mqttv3.1', 'mqtt']);
  assert.equal(c.socket.protocol, 'mqtt');
  c.socket.close();
});

test('[MQTT-6.0.0-2] packets split across frames and several packets in one frame are both understood', async () => {
  const c = await open();
  // CONNECT in three frames, then SUBSCRIBE + PUBLISH in one frame.
  c.socket.send(connect.subarray(0, 3));
  c.socket.send(connect.subarray(3, 10));
  c.socket.send(connect.subarray(10));
  await until(() => c.packets.length === 1);
  assert.equal(c.packets[0]!.type, 'connack');
  const sub = encodePacket({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'ws/t', qos: 0 }] });
  const pub = encodePacket({ type: 'publish', topic: 'ws/t', payload: Buffer.from('framed'), qos: 0, retain: false, dup: false });
  c.socket.send(Buffer.concat([sub, pub]));
  await until(() => c.packets.length === 3);
  assert.deepEqual(c.packets.map((p) => p.type), ['connack', 'suback', 'publish']);
  assert.equal((c.packets[2] as Extract<Packet, { type: 'publish' }>).payload.toString(), 'framed');
  c.socket.close();
});

test('[MQTT-6.0.0-1] a text frame closes the network connection', async () => {
  const c = await open();
  c.socket.send(connect);
  await until(() => c.packets.length === 1);
  c.socket.send('not binary');
  await c.closed;
});
