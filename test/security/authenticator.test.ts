/**
 * The authenticator: password file, JWT and backoff combined, with real components (a password table,
 * a JWT verifier with a generated key, a backoff on a manual clock), and once end to end through a
 * broker on a real socket with mosquitto_pub as the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { AuthenticateHook } from '../../src/broker/hooks.js';
import { MoatError } from '../../src/codec/index.js';
import { createAuthenticator, redactedReason, AUTH_REASONS, type AuthEvent, type AuthRequest, type AuthenticatorOptions } from '../../src/security/authenticator.js';
import { JwtVerifier } from '../../src/security/jwt.js';
import { LoginBackoff } from '../../src/security/login-backoff.js';
import { PasswordFile, hashPassword } from '../../src/security/password-file.js';
import { startBroker } from '../broker/helpers.js';
import { ManualClock } from '../support/manual-clock.js';

const run = promisify(execFile);
const FAST = { N: 1024, r: 8, p: 1 };
const secret = randomBytes(32);
const clock = new ManualClock(1_700_000_000_000);

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A token valid for 10 minutes from `now` (the manual clock unless a test needs wall-clock time). */
function token(claims: Record<string, unknown>, now = clock.now()): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ aud: 'mqtt', exp: Math.floor(now / 1000) + 600, ...claims })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const passwords = PasswordFile.fromText(
  `alice:${await hashPassword('alice-pw', FAST)}\nbob:${await hashPassword('bob-pw', FAST)}\n`);

/** The real table, counting how often it is asked (to show backoff skips the check). */
function counted(file: PasswordFile): { verify: PasswordFile['verify']; calls: number } {
  const c = { calls: 0, verify: (u: string, p: Buffer | string) => { c.calls++; return file.verify(u, p); } };
  return c;
}

function setup(o: Partial<AuthenticatorOptions> = {}) {
  const events: AuthEvent[] = [];
  const checker = counted(passwords);
  const backoff = new LoginBackoff(clock);
  const auth = createAuthenticator({
    passwords: checker, backoff, onEvent: (e) => events.push(e),
    jwt: { verifier: new JwtVerifier({ secret, audience: 'mqtt', clock }) }, ...o,
  });
  return { auth, events, checker, backoff };
}

const req = (r: Partial<AuthRequest> & { pw?: string }): AuthRequest => ({
  clientId: 'c1', username: undefined, remoteAddress: '192.0.2.1', ...r,
  password: r.pw === undefined ? r.password : Buffer.from(r.pw),
});
const DENY = { verdict: 'deny', reasonCode: 0x86 };
const ALLOW = { verdict: 'allow' };

test('it has the shape of the broker\'s AuthenticateHook', () => {
  const { auth } = setup();
  const hook: AuthenticateHook = auth; // compile-time check; src/security cannot import it
  assert.equal(typeof hook, 'function');
});

test('passwords: right password allows; wrong password, unknown user and no username deny with 0x86', async () => {
  const { auth, events } = setup();
  assert.deepEqual(await auth(req({ username: 'alice', pw: 'alice-pw' })), ALLOW);
  assert.deepEqual(await auth(req({ username: 'alice', pw: 'bob-pw' })), DENY);
  assert.deepEqual(await auth(req({ username: 'mallory', pw: 'alice-pw' })), DENY);
  assert.deepEqual(await auth(req({ pw: 'alice-pw' })), DENY);
  assert.deepEqual(events.map((e) => [e.outcome, e.method, e.reason]), [
    ['allow', 'password', undefined],
    ['deny', 'password', AUTH_REASONS.wrongPassword],
    ['deny', 'password', AUTH_REASONS.wrongPassword],
    ['deny', 'none', AUTH_REASONS.noMethod],
  ]);
});

test('no credentials: no opinion; a username without a password: denied unless TLS or enhanced auth vouches', async () => {
  const { auth } = setup();
  assert.equal(await auth(req({})), undefined);
  assert.deepEqual(await auth(req({ username: 'alice' })), DENY);
  assert.equal(await auth(req({ username: 'alice', tls: { peerCertificate: Buffer.from([0x30]) } })), undefined);
  assert.equal(await auth(req({ username: 'alice', tls: { pskIdentity: 'alice' } })), undefined);
  assert.equal(await auth(req({ username: 'alice', authenticationMethod: 'SCRAM-SHA-256' })), undefined);
});

test('JWT: a valid token allows; the username must match sub; expired and forged tokens deny with their code', async () => {
  const { auth, events } = setup();
  // The token's identity comes back with the verdict: sent without a user name, it becomes the user name.
  const until = (await auth(req({ pw: token({ sub: 'dev-1' }) })) as { expiresAt?: number }).expiresAt;
  assert.equal(typeof until, 'number', 'the verdict says when the token ends');
  assert.deepEqual(await auth(req({ username: 'dev-1', pw: token({ sub: 'dev-1' }) })), { ...ALLOW, username: 'dev-1', expiresAt: until });
  assert.deepEqual(await auth(req({ pw: token({ sub: 'dev-1' }) })), { ...ALLOW, username: 'dev-1', expiresAt: until }, 'no username: the token alone');
  assert.deepEqual(await auth(req({ username: 'dev-2', pw: token({ sub: 'dev-1' }) })), DENY);
  assert.deepEqual(await auth(req({ username: 'dev-1', pw: token({ sub: 'dev-1', exp: 1 }) })), DENY);
  const [h, p, sig] = token({ sub: 'dev-1' }).split('.') as [string, string, string];
  const flipped = Buffer.from(sig, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  const forged = `${h}.${p}.${flipped.toString('base64url')}`;
  assert.deepEqual(await auth(req({ username: 'dev-1', pw: forged })), DENY);
  assert.deepEqual(events.map((e) => [e.outcome, e.method, e.reason]), [
    ['allow', 'jwt', undefined],
    ['allow', 'jwt', undefined],
    ['allow', 'jwt', undefined],
    ['deny', 'jwt', AUTH_REASONS.usernameMismatch],
    ['deny', 'jwt', 'MOAT_ERR_JWT_EXPIRED'],
    ['deny', 'jwt', 'MOAT_ERR_JWT_SIGNATURE'],
  ]);
});

test('JWT: configured username and client id claims', async () => {
  const { auth } = setup({ jwt: { verifier: new JwtVerifier({ secret, audience: 'mqtt', clock }), usernameClaim: 'name', clientIdClaim: 'cid' } });
  const v = await auth(req({ username: 'n', clientId: 'c9', pw: token({ sub: 'x', name: 'n', cid: 'c9' }) }));
  assert.deepEqual({ ...v, expiresAt: undefined }, { ...ALLOW, username: 'n', expiresAt: undefined });
  assert.deepEqual(await auth(req({ username: 'x', clientId: 'c9', pw: token({ sub: 'x', name: 'n', cid: 'c9' }) })), DENY);
  assert.deepEqual(await auth(req({ username: 'n', clientId: 'c8', pw: token({ sub: 'x', name: 'n', cid: 'c9' }) })), DENY);
  assert.deepEqual(await auth(req({ username: 'n', clientId: 'c9', pw: token({ name: 'n' }) })), DENY, 'claim missing');
});

test('without JWT configured a token-shaped password is just a (wrong) password', async () => {
  const { auth, checker } = setup({ jwt: undefined });
  assert.deepEqual(await auth(req({ username: 'alice', pw: token({ sub: 'alice' }) })), DENY);
  assert.equal(checker.calls, 1);
  const jwtOnly = setup({ passwords: undefined }).auth;
  assert.deepEqual(await jwtOnly(req({ username: 'alice', pw: 'alice-pw' })), DENY, 'a password with no password file');
});

test('backoff: after three failures the address is denied without checking, until the delay passes', async () => {
  const { auth, checker, events, backoff } = setup();
  const from = (address: string, pw: string) => auth(req({ username: 'alice', pw, remoteAddress: address }));
  for (let i = 0; i < 3; i++) assert.deepEqual(await from('198.51.100.7', 'guess'), DENY);
  assert.equal(checker.calls, 3);
  assert.equal(backoff.check('198.51.100.7'), 1000);
  assert.deepEqual(await from('198.51.100.7', 'alice-pw'), DENY, 'even the right password waits');
  assert.equal(checker.calls, 3, 'no scrypt spent while backing off');
  assert.deepEqual(events.at(-1), {
    outcome: 'backoff', method: 'none', clientId: 'c1', username: 'alice', remoteAddress: '198.51.100.7',
    reason: AUTH_REASONS.backoff, waitMs: 1000,
  });
  assert.deepEqual(await from('198.51.100.8', 'alice-pw'), ALLOW, 'another address is not affected');
  // A token is no way around it either.
  assert.deepEqual(await auth(req({ pw: token({ sub: 'x' }), remoteAddress: '198.51.100.7' })), DENY);
  clock.advance(1000);
  assert.deepEqual(await from('198.51.100.7', 'alice-pw'), ALLOW);
  assert.equal(backoff.check('198.51.100.7'), 0);
  assert.equal(backoff.size, 0, 'a success clears the address');
});

test('nothing logged holds a password or a token; redactedReason keeps only the code', async () => {
  const { auth, events } = setup();
  const t = token({ sub: 'dev-1', exp: 1 });
  await auth(req({ username: 'alice', pw: 'alice-pw' }));
  await auth(req({ username: 'alice', pw: 'hunter2-wrong' }));
  await auth(req({ username: 'dev-1', pw: t }));
  const logged = JSON.stringify(events);
  for (const s of ['alice-pw', 'hunter2-wrong', t, t.split('.')[1]!, t.split('.')[2]!]) assert.ok(!logged.includes(s));
  assert.equal(redactedReason(new MoatError('MOAT_ERR_JWT_EXPIRED', `token ${t} expired`)), 'MOAT_ERR_JWT_EXPIRED');
  assert.equal(redactedReason(new Error('secret hunter2')), 'internal error');
});

test('end to end: a broker with the authenticator as its hook, mosquitto_pub with right and wrong passwords', async () => {
  // The broker ends a connection at its token's exp on its own (system) clock, so here tokens are minted
  // and verified on that clock as in production. Minted on the manual clock (2023) they were already
  // expired to the broker: DISCONNECT 0x87 right after CONNACK, racing mosquitto_pub's PUBLISH.
  const wall = { now: () => Date.now() };
  const { auth, events } = setup({
    backoff: new LoginBackoff(clock), // two failures from 127.0.0.1 stay under the three free ones
    jwt: { verifier: new JwtVerifier({ secret, audience: 'mqtt', clock: wall }) },
  });
  const b = await startBroker({}, { hooks: { authenticate: [auth] } });
  try {
    const pub = (user: string, pw: string) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port), '-V', 'mqttv5',
      '-u', user, '-P', pw, '-t', 't', '-m', 'x']);
    const refused = (err: { stderr?: string }) => /bad user name or password/i.test(err.stderr ?? '');
    await pub('alice', 'alice-pw');
    await assert.rejects(pub('alice', 'wrong'), refused);
    await pub('dev-9', token({ sub: 'dev-9' }, wall.now()));
    await assert.rejects(pub('dev-8', token({ sub: 'dev-9' }, wall.now())), refused);
    assert.deepEqual(events.map((e) => `${e.outcome} ${e.method}`), ['allow password', 'deny password', 'allow jwt', 'deny jwt']);
  } finally {
    await b.close();
  }
});
