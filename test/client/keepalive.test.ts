/** Keep alive over a real socket: a server that accepts, answers CONNACK, then goes silent (half-open). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { encodePacket, isMoatError, type MoatError } from '../../src/codec/index.js';
import { connect } from '../../src/client/index.js';

test('[MQTT-3.1.2-20] a half-open link (server stops answering) is detected within 1.5 × keep alive', async () => {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    // Answer the CONNECT once, then swallow everything: PINGREQ gets no PINGRESP.
    s.once('data', () => s.write(encodePacket({ type: 'connack', sessionPresent: false, reasonCode: 0 }, 5)));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const c = await connect(`mqtt://127.0.0.1:${port}`, { keepAlive: 1, reconnect: false });
  const t0 = Date.now();
  const reason = await new Promise<MoatError | undefined>((r) => c.once('close', r));
  const elapsed = Date.now() - t0;
  assert.ok(isMoatError(reason, 'MOAT_ERR_KEEPALIVE_TIMEOUT'), String(reason));
  assert.ok(elapsed >= 1400 && elapsed <= 2000, `detected after ${elapsed} ms (keep alive 1 s)`);
  for (const s of sockets) s.destroy();
  server.close();
});
