/**
 * The delay proxy: bytes pass unchanged and in order, each direction is held rttMs/2, a new connection's
 * client bytes wait one RTT after accept (the simulated TCP handshake) (checked loosely with the real
 * clock: this is a functional test, not a benchmark), and the log records each chunk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { startDelayProxy } from '../../src/lab/delay-proxy.js';

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => s.write(d));
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('echo through the proxy at 100 ms RTT: order kept, the first exchange after TCP\'s round trip, then one RTT per exchange, every chunk logged', async () => {
  const echo = await echoServer();
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: echo.port }, rttMs: 100, keepData: true });
  const client = connect({ host: '127.0.0.1', port: proxy.port, noDelay: true });
  try {
    const connected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const tConnect = performance.now();
    await connected;
    const received: Buffer[] = [];
    let total = 0;
    const want = 3 * 1000;
    const done = new Promise<void>((resolve) => client.on('data', (d: Buffer) => {
      received.push(d);
      total += d.length;
      if (total >= want) resolve();
    }));
    const t0 = performance.now();
    // Three writes in a row, each with distinct bytes: they must come back in this order.
    const sent = [0x41, 0x42, 0x43].map((b) => Buffer.alloc(1000, b));
    for (const s of sent) client.write(s);
    await done;
    const elapsed = performance.now() - t0;
    assert.deepEqual(Buffer.concat(received), Buffer.concat(sent));
    // The local connect completes at once, but the bytes leave only when a real link's SYN-ACK would be
    // back (100 ms after connect), then 50 ms there and 50 ms back; loose upper bound for a loaded machine.
    const sinceConnect = performance.now() - tConnect;
    assert.ok(sinceConnect >= 195, `echo came ${sinceConnect.toFixed(1)} ms after connect(), less than TCP's RTT + one RTT`);
    assert.ok(elapsed < 500, `echo took ${elapsed.toFixed(1)} ms`);
    // Later bytes on the same connection pay only the RTT.
    const again = new Promise<Buffer>((resolve) => client.once('data', resolve));
    const t1 = performance.now();
    client.write('D');
    assert.equal((await again).toString(), 'D');
    const second = performance.now() - t1;
    assert.ok(second >= 95 && second < 190, `second echo took ${second.toFixed(1)} ms, expected one RTT`);

    const log = proxy.connections[0]!;
    const c2s = log.chunks.filter((c) => c.dir === 'c2s');
    const s2c = log.chunks.filter((c) => c.dir === 's2c');
    assert.equal(c2s.reduce((n, c) => n + c.bytes, 0), want + 1);
    assert.equal(s2c.reduce((n, c) => n + c.bytes, 0), want + 1);
    // Offsets are contiguous per direction, and the server's echo is read ≥ 50 ms after the client's bytes.
    let off = 0;
    for (const c of c2s) {
      assert.equal(c.offset, off);
      off += c.bytes;
    }
    assert.ok(s2c[0]!.at - c2s[0]!.at >= 45, 'the server saw the bytes only after half the RTT');
    assert.deepEqual(Buffer.concat(c2s.map((c) => c.data!)), Buffer.concat([...sent, Buffer.from('D')]));
  } finally {
    client.destroy();
    await proxy.close();
    await echo.close();
  }
});

test('at 0 ms RTT the proxy passes bytes through at once, and keeps no data unless asked', async () => {
  const echo = await echoServer();
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: echo.port }, rttMs: 0 });
  const client = connect({ host: '127.0.0.1', port: proxy.port, noDelay: true });
  try {
    const got = new Promise<Buffer>((resolve) => client.once('data', resolve));
    const t0 = performance.now();
    client.write('ping');
    assert.equal((await got).toString(), 'ping');
    assert.ok(performance.now() - t0 < 100);
    assert.equal(proxy.connections[0]!.chunks[0]!.data, undefined, 'no data kept without keepData');
  } finally {
    client.destroy();
    await proxy.close();
    await echo.close();
  }
});
