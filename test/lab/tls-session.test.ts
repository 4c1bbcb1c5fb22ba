/** The ticket lifetime the lab reads from a TLS session: against real Node TLS servers with a set sessionTimeout. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:tls';
import { ticketLifetimeHint } from '../../src/lab/tls-session.js';
import { makeMaterial } from '../../src/lab/lab-broker.js';
import { readFileSync } from 'node:fs';

async function sessionFrom(sessionTimeout: number, version: 'TLSv1.2' | 'TLSv1.3', files: { certFile: string; keyFile: string }, ca: string): Promise<Buffer> {
  const server = createServer({ cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), sessionTimeout }, (s) => s.end('x'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, ca, servername: 'localhost', minVersion: version, maxVersion: version });
      c.on('session', (s: Buffer) => { resolve(s); c.destroy(); });
      c.on('data', () => undefined);
      c.on('error', reject);
    });
  } finally {
    server.close();
  }
}

test('the ticket lifetime a server announces is read from the session, TLS 1.3 and TLS 1.2', async () => {
  const m = await makeMaterial(['ecdsa-p256']);
  try {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      for (const seconds of [1234, 86_400]) {
        assert.equal(ticketLifetimeHint(await sessionFrom(seconds, version, m.servers['ecdsa-p256']!, m.ca)), seconds, `${version} ${seconds}`);
      }
    }
  } finally {
    await m.remove();
  }
});

test('not a session, or a cut one: no lifetime (undefined), never a throw', () => {
  for (const b of [Buffer.alloc(0), Buffer.from('3003020101', 'hex'), Buffer.from('30ff', 'hex'), Buffer.from('hello'), Buffer.from('3005a903020100', 'hex').subarray(0, 6)]) {
    assert.equal(ticketLifetimeHint(b), undefined, b.toString('hex'));
  }
  assert.equal(ticketLifetimeHint(Buffer.from('3005a903020178', 'hex')), 120);
});
