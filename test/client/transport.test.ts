/** Links still opening are closed when the client gives up on them (connect timeout, end()). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { MqttClient } from '../../src/client/index.js';

/** Accepts TCP and never answers the TLS handshake; resolves `closed` when the accepted socket closes. */
async function silentServer(): Promise<{ server: Server; port: number; closed: Promise<void> }> {
  let onClose!: () => void;
  const closed = new Promise<void>((r) => { onClose = r; });
  const server = createServer((s: Socket) => {
    s.on('error', () => {});
    s.on('close', onClose);
    s.resume(); // read (and drop) the handshake, so the FIN is seen
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return { server, port: addr.port, closed };
}

const within = (p: Promise<void>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);

for (const scheme of ['mqtts', 'wss'] as const) {
  test(`${scheme}: the connect timeout closes the socket still in its handshake`, async () => {
    const { server, port, closed } = await silentServer();
    const c = new MqttClient(`${scheme}://127.0.0.1:${port}`, { connectTimeout: 200, reconnect: false });
    await assert.rejects(c.start(), (e: unknown) => (e as { code: string }).code === 'MOAT_ERR_CONNECT_TIMEOUT');
    assert.ok(await within(closed, 2000), 'the server saw the socket close');
    server.close();
  });

  test(`${scheme}: end() while the link is opening closes the socket`, async () => {
    const { server, port, closed } = await silentServer();
    const c = new MqttClient(`${scheme}://127.0.0.1:${port}`, { connectTimeout: 10_000, reconnect: false });
    const started = c.start().catch(() => {});
    await new Promise((r) => setTimeout(r, 150));
    await c.end();
    await started;
    assert.ok(await within(closed, 2000), 'the server saw the socket close');
    server.close();
  });
}

test('[MQTT-6.0.0-1] ws: a text frame from the server closes the connection', { timeout: 10_000 }, async () => {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'mqtt' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const addr = wss.address();
  assert.ok(addr && typeof addr === 'object');
  // A CONNACK (0x20 0x02 0x00 0x00) in a text frame: valid UTF-8, valid MQTT bytes, wrong frame type.
  wss.on('connection', (ws) => ws.once('message', () => ws.send(Buffer.from([0x20, 0x02, 0x00, 0x00]).toString('latin1'))));
  const c = new MqttClient(`ws://127.0.0.1:${addr.port}/mqtt`, { connectTimeout: 5000, reconnect: false });
  await assert.rejects(c.start(), (e: unknown) => (e as { code: string }).code === 'MOAT_ERR_PROTOCOL_ERROR');
  await c.end();
  await new Promise<void>((r) => wss.close(() => r()));
});
