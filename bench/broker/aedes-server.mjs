#!/usr/bin/env node
/**
 * Aedes as the benchmark's Node.js baseline: one process, a plain TCP and a TLS 1.3 listener on
 * 127.0.0.1 (ports chosen by the OS), default in-memory persistence, Nagle off like the other brokers.
 *
 *   node bench/broker/aedes-server.mjs CERT.pem KEY.pem
 *
 * Prints one JSON line {"tcp":PORT,"tls":PORT} on stdout when both listen; SIGTERM stops it.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes } from 'aedes';

const [certPath, keyPath] = process.argv.slice(2);
if (!certPath || !keyPath) {
  process.stderr.write('usage: aedes-server.mjs CERT KEY\n');
  process.exit(2);
}
const aedes = await Aedes.createBroker();
const handle = (socket) => {
  socket.setNoDelay(true);
  aedes.handle(socket);
};
const plain = net.createServer(handle);
const secure = tls.createServer(
  { cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.3' },
  handle,
);
secure.on('tlsClientError', () => {});
const listen = (srv) => new Promise((resolve, reject) => {
  srv.once('error', reject);
  srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
});
const ports = { tcp: await listen(plain), tls: await listen(secure) };
process.stdout.write(`${JSON.stringify(ports)}\n`);

process.once('SIGTERM', () => {
  plain.close();
  secure.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
