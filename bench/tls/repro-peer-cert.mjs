#!/usr/bin/env node
/**
 * What Moat's listener does per admitted TLS connection, timed call by call on one real connection
 * (mutual TLS, ECDSA client certificate from the benchmark's dev PKI): getPeerCertificate() (what
 * admit() in src/security/tls-listener.ts calls for every client certificate) against
 * getPeerX509Certificate() (lazy: parses only what is asked), and the small getters that
 * admit() and tlsInfo() (src/broker/transport.ts) both call.
 *
 *   node bench/tls/repro-peer-cert.mjs [DIST]     (DIST: a Moat build, default ./dist)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import tls from 'node:tls';

const dist = resolve(process.argv[2] ?? 'dist');
const { initDevPki } = await import(pathToFileURL(join(dist, 'security', 'dev-pki.js')).href);
const tmp = mkdtempSync(join(tmpdir(), 'moat-peer-cert-'));
const server = await initDevPki(join(tmp, 'server'), { keyType: 'ecdsa' });
const devices = await initDevPki(join(tmp, 'devices'), { keyType: 'ecdsa' });

const srv = tls.createServer({
  cert: server.cert, key: server.key, ca: devices.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3',
});
const socket = await new Promise((res) => {
  srv.on('secureConnection', res);
  srv.listen(0, '127.0.0.1', () => {
    tls.connect({ port: srv.address().port, host: '127.0.0.1', rejectUnauthorized: false, cert: devices.device.cert, key: devices.device.key });
  });
});

function time(label, fn, n = 5000) {
  for (let i = 0; i < 500; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  process.stdout.write(`${label.padEnd(58)} ${us.toFixed(2).padStart(7)} µs per call\n`);
}
time('getPeerCertificate() (admit: subject.CN, subjectaltname, raw)', () => {
  const c = socket.getPeerCertificate();
  return [c.subject?.CN, c.subjectaltname, c.raw];
});
time('getPeerX509Certificate() (subject, subjectAltName, raw)', () => {
  const c = socket.getPeerX509Certificate();
  return [c.subject, c.subjectAltName, c.raw];
});
time('isSessionReused() + getCipher() + getProtocol()', () => [socket.isSessionReused(), socket.getCipher(), socket.getProtocol()]);
socket.destroy();
srv.close();
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
