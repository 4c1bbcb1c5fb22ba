#!/usr/bin/env node
/**
 * The reference: a Node TLS server that does nothing but the handshake, with the options Moat's
 * listener gives OpenSSL for the same row: the profile's versions, suites, groups and signature
 * algorithms (taken from Moat's own tls-profiles.js, so they cannot drift apart), the same
 * certificate and key, a 48-byte ticket key and an explicit session id context (Moat sets both), ALPN
 * "mqtt", the PSK table, and for mutual TLS the device CA with Node's own check of the client
 * certificate (requestCert + rejectUnauthorized). Accepted sockets are kept until the client closes.
 *
 *   node --import ./probe.mjs bare-server.mjs '{"dist": "...", "certFile": ..., "keyFile": ..., "profile": "modern",
 *        "caFile"?: ..., "requireClientCert"?: true, "pskFile"?: ...}'
 * Prints {"port":N} on stdout once it listens on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import tls from 'node:tls';

const spec = JSON.parse(process.argv[2]);
const { tlsProfile } = await import(pathToFileURL(join(spec.dist, 'security', 'tls-profiles.js')).href);

const options = {
  ...tlsProfile(spec.profile),
  cert: readFileSync(spec.certFile),
  key: readFileSync(spec.keyFile),
  ticketKeys: randomBytes(48),
  sessionIdContext: 'bare-bench',
  ALPNProtocols: ['mqtt'],
};
if (spec.requireClientCert) {
  options.ca = readFileSync(spec.caFile);
  options.requestCert = true;
  options.rejectUnauthorized = true;
}
if (spec.pskFile) {
  const table = new Map();
  for (const line of readFileSync(spec.pskFile, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const colon = t.indexOf(':');
    table.set(t.slice(0, colon), Buffer.from(t.slice(colon + 1), 'hex'));
  }
  options.pskCallback = (_socket, identity) => table.get(identity) ?? null;
}

const server = tls.createServer(options, (socket) => {
  socket.on('error', () => {});
});
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
