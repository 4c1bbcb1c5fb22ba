#!/usr/bin/env node
/**
 * The load generator of the TLS benchmark, a process of its own (forked with IPC) so that its CPU is
 * not the servers'. It is kept as cheap as a TLS client gets (it still costs about what a server does
 * per handshake): one client SecureContext for every connection,
 * no verification of the server's chain (rejectUnauthorized: false and no CA, so OpenSSL stops at the
 * unknown issuer and checks no certificate signature; the handshake's own CertificateVerify signature
 * is still checked, as TLS requires).
 *
 * Messages from the parent:
 *   {cmd: 'run', id, targets: [{host, port, mqtt}], client, concurrency}  start `concurrency` loops per
 *        target: connect, handshake, (mqtt: CONNECT → CONNACK → DISCONNECT), end, wait for the
 *        server's close; again. Several targets = the paired mode (both servers in one window).
 *   {cmd: 'mark', id}     counters now (handshakes done, errors, resumed, own CPU, time)
 *   {cmd: 'stop', id}     stop the loops and wait for them
 *   {cmd: 'idle', id, target, client, n, mqtt}  open n connections and keep them open
 *   {cmd: 'check-idle', id}   how many of them are still open
 *   {cmd: 'close-idle', id}
 * A handshake counts once the server has closed its side after the client's end(): the server has then
 * read every handshake byte, so its work for that connection is done (in TLS 1.3 the client is
 * "connected" before the server has checked its Finished, or its certificate).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import tls from 'node:tls';

// MQTT 3.1.1 CONNECT: clean session, keep alive 60 s, empty client id (the broker assigns one).
const CONNECT = Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

let stopRequested = false;
let loops = [];
/** One entry per target: a run drives one server, or several at once (the paired mode). */
let stats = [];
let firstError = '';
const idle = [];

/** Client options and one SecureContext, from the row's client spec. */
function clientSetup(c) {
  if (c.plain) return { plain: true };
  const ctxOpts = { minVersion: c.minVersion ?? 'TLSv1.3', maxVersion: c.maxVersion ?? 'TLSv1.3' };
  if (c.ciphers) ctxOpts.ciphers = c.ciphers;
  if (c.certFile) {
    ctxOpts.cert = readFileSync(c.certFile);
    ctxOpts.key = readFileSync(c.keyFile);
  }
  const secureContext = tls.createSecureContext(ctxOpts);
  const base = { secureContext, rejectUnauthorized: false, ALPNProtocols: ['mqtt'] };
  if (c.psk) {
    const key = Buffer.from(c.psk.keyHex, 'hex');
    base.pskCallback = () => ({ psk: key, identity: c.psk.identity });
  }
  return base;
}

/** One connection; resolves with the last session ticket when the server has closed, rejects on error. */
function once(target, base, session, mqtt, keep, wantTicket = false, st = undefined) {
  return new Promise((resolve, reject) => {
    const s = base.plain ? net.connect({ host: target.host, port: target.port })
      : tls.connect({ host: target.host, port: target.port, ...base, ...(session ? { session } : {}) });
    let ticket;
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      s.destroy();
      reject(err);
    };
    // Only a resumed row asks for tickets: the listener makes Node copy each session out of OpenSSL.
    if (wantTicket) {
      s.on('session', (t) => {
        ticket = t;
      });
    }
    s.once('error', fail);
    s.once(base.plain ? 'connect' : 'secureConnect', () => {
      if (st && !base.plain && s.isSessionReused()) st.resumed++;
      if (!mqtt) {
        if (keep) {
          settled = true;
          return resolve({ socket: s, ticket });
        }
        s.end();
        return;
      }
      let got = Buffer.alloc(0);
      const onData = (chunk) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 4) return;
        s.off('data', onData);
        if (got[0] !== 0x20 || got[3] !== 0) return fail(new Error(`no CONNACK 0: ${got.subarray(0, 4).toString('hex')}`));
        if (keep) {
          settled = true;
          return resolve({ socket: s, ticket });
        }
        s.end(DISCONNECT);
      };
      s.on('data', onData);
      s.write(CONNECT);
    });
    s.once('close', () => {
      if (settled) return;
      settled = true;
      resolve({ ticket });
    });
    // Data the server sends after the handshake (tickets are TLS records, not data) is not expected.
    if (!mqtt) s.resume();
  });
}

async function loop(target, base, resume, st) {
  let session;
  while (!stopRequested) {
    try {
      const r = await once(target, base, resume ? session : undefined, target.mqtt, false, resume, st);
      if (resume && r.ticket) session = r.ticket;
      st.done++;
    } catch (err) {
      st.errors++;
      if (!firstError) firstError = `${target.port}: ${err.code ?? ''} ${err.message}`;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function mark() {
  return { per: stats.map((st) => ({ ...st })), firstError, cpu: process.cpuUsage(), t: performance.now() };
}

process.on('message', async (m) => {
  const reply = (body) => process.send({ id: m.id, ...body });
  try {
    if (m.cmd === 'run') {
      stopRequested = false;
      stats = m.targets.map(() => ({ done: 0, errors: 0, resumed: 0 }));
      firstError = '';
      const base = clientSetup(m.client);
      // `concurrency` loops per target. A resumed row first gets a ticket with one full handshake per
      // loop, outside any window.
      loops = m.targets.flatMap((target, i) => Array.from({ length: m.concurrency },
        () => loop(target, base, m.client.resume === true, stats[i])));
      reply({ ok: true });
    } else if (m.cmd === 'mark') {
      reply(mark());
    } else if (m.cmd === 'stop') {
      stopRequested = true;
      await Promise.all(loops);
      loops = [];
      reply(mark());
    } else if (m.cmd === 'idle') {
      const base = clientSetup(m.client);
      let next = 0;
      let errors = 0;
      let firstError = '';
      const worker = async () => {
        while (next < m.n) {
          next++;
          try {
            const r = await once(m.target, base, undefined, m.mqtt, true);
            if (!r.socket) throw new Error('closed by the server');
            r.socket.on('error', () => {});
            idle.push(r.socket);
          } catch (err) {
            errors++;
            firstError ||= err.message;
          }
        }
      };
      await Promise.all(Array.from({ length: m.concurrency ?? 20 }, worker));
      const open = idle.filter((s) => !s.destroyed).length;
      reply({ open, errors, firstError });
    } else if (m.cmd === 'check-idle') {
      reply({ open: idle.filter((s) => !s.destroyed && s.readyState === 'open').length });
    } else if (m.cmd === 'close-idle') {
      for (const s of idle.splice(0)) s.destroy();
      reply({ ok: true });
    }
  } catch (err) {
    reply({ error: err.message });
  }
});
process.send({ ready: true });
