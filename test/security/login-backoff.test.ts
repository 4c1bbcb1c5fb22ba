/** Login backoff with a manual clock: growth, cap, success, forgetting, bounded memory, address keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginBackoff, backoffKey } from '../../src/security/login-backoff.js';
import { ManualClock } from '../support/manual-clock.js';

test('the first two failures are free; from the third the wait doubles from 1 s up to 60 s', () => {
  const clock = new ManualClock();
  const b = new LoginBackoff(clock);
  const waits: number[] = [];
  for (let i = 0; i < 10; i++) {
    b.failed('10.0.0.1');
    waits.push(b.check('10.0.0.1'));
    clock.advance(b.check('10.0.0.1')); // the client waits out its delay, then fails again
  }
  assert.deepEqual(waits, [0, 0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  assert.equal(b.check('10.0.0.2'), 0, 'other addresses are not affected');
});

test('check counts down with the clock and reaches 0 at the end of the delay', () => {
  const clock = new ManualClock();
  const b = new LoginBackoff(clock, { freeFailures: 1, baseMs: 1000 });
  b.failed('a');
  assert.equal(b.check('a'), 1000);
  clock.advance(400);
  assert.equal(b.check('a'), 600);
  clock.advance(600);
  assert.equal(b.check('a'), 0);
  b.failed('a');
  assert.equal(b.check('a'), 2000, 'the count is kept after the delay ends');
});

test('a success forgets the address at once', () => {
  const clock = new ManualClock();
  const b = new LoginBackoff(clock);
  for (let i = 0; i < 5; i++) b.failed('a');
  assert.ok(b.check('a') > 0);
  b.succeeded('a');
  assert.equal(b.check('a'), 0);
  assert.equal(b.size, 0);
  b.failed('a');
  assert.equal(b.check('a'), 0, 'counting starts afresh');
});

test('an address quiet for forgetAfterMs starts afresh; one failing now and then does not', () => {
  const clock = new ManualClock();
  const b = new LoginBackoff(clock, { forgetAfterMs: 300_000 });
  for (let i = 0; i < 6; i++) b.failed('a');
  assert.equal(b.check('a'), 8000);
  clock.advance(299_999);
  b.failed('a');
  assert.equal(b.check('a'), 16000, 'a failure within the quiet period keeps growing the delay');
  clock.advance(300_000);
  assert.equal(b.check('a'), 0);
  assert.equal(b.size, 0, 'checked and forgotten');
  b.failed('a');
  b.failed('a');
  assert.equal(b.check('a'), 0, 'free failures again');
  // forgetAfterMs shorter than the cap would end a block early: it is raised to the cap.
  const c = new LoginBackoff(clock, { freeFailures: 1, maxMs: 60_000, forgetAfterMs: 1000 });
  for (let i = 0; i < 10; i++) c.failed('x');
  clock.advance(30_000);
  assert.equal(c.check('x'), 30_000);
});

test('memory is bounded: the address with the oldest failure is evicted first, expired ones are swept', () => {
  const clock = new ManualClock();
  const b = new LoginBackoff(clock, { maxAddresses: 3, freeFailures: 1, forgetAfterMs: 120_000 });
  b.failed('a');
  clock.advance(1);
  b.failed('b');
  clock.advance(1);
  b.failed('c');
  clock.advance(1);
  b.failed('a'); // a is now the most recent
  b.failed('d'); // evicts b, the oldest
  assert.equal(b.size, 3);
  assert.equal(b.check('b'), 0);
  assert.ok(b.check('a') > 0 && b.check('c') > 0 && b.check('d') > 0);
  for (let i = 0; i < 10_000; i++) b.failed(`10.1.${i >> 8}.${i & 255}`);
  assert.equal(b.size, 3, 'a flood of addresses stays within the bound');
  clock.advance(120_000);
  b.failed('e');
  assert.equal(b.size, 1, 'expired entries are dropped as new ones arrive');
});

test('IPv6 is tracked per /64 and IPv4-mapped addresses as IPv4', () => {
  assert.equal(backoffKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(backoffKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(backoffKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(backoffKey('::1'), '0:0:0:0::/64');
  assert.equal(backoffKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(backoffKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(backoffKey('192.0.2.7'), '192.0.2.7');
  const clock = new ManualClock();
  const b = new LoginBackoff(clock, { freeFailures: 1 });
  b.failed('2001:db8:1:2::1');
  assert.equal(b.check('2001:db8:1:2::99'), 1000, 'a neighbour in the same /64 shares the backoff');
  assert.equal(b.check('2001:db8:1:3::1'), 0);
  b.failed('::ffff:192.0.2.7');
  assert.equal(b.check('192.0.2.7'), 1000);
});
