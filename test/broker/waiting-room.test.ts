/** The waiting room's one shared connect-timeout timer, under a wall clock that steps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitingRoom, type Waiter } from '../../src/broker/waiting-room.js';
import { ManualClock } from '../support/manual-clock.js';

/** Timers run on monotonic time (as Node's do); now() is the wall clock, which an admin or NTP can step. */
class SteppingClock {
  readonly mono = new ManualClock(0);
  offset = 1_000_000;
  now = (): number => this.mono.now() + this.offset;
  setTimeout = (fn: () => void, ms: number): unknown => this.mono.setTimeout(fn, ms);
  clearTimeout = (h: unknown): void => this.mono.clearTimeout(h);
}

test('held sockets close at their deadline, in order, with one timer', () => {
  const clock = new SteppingClock();
  const closed: string[] = [];
  const room = new WaitingRoom<Waiter & { id: string }>(clock, 1000, (w) => closed.push(w.id));
  room.add({ id: 'a', deadline: 0 });
  clock.mono.advance(400);
  room.add({ id: 'b', deadline: 0 });
  clock.mono.advance(599);
  assert.deepEqual(closed, []);
  clock.mono.advance(1);
  assert.deepEqual(closed, ['a']);
  clock.mono.advance(400);
  assert.deepEqual(closed, ['a', 'b']);
  assert.equal(room.size, 0);
});

test('a wall clock stepped back by an hour: every held socket is closed within two connect timeouts, not an hour', () => {
  const clock = new SteppingClock();
  const closed: string[] = [];
  const room = new WaitingRoom<Waiter & { id: string }>(clock, 1000, (w) => closed.push(w.id));
  room.add({ id: 'before', deadline: 0 });
  clock.offset -= 3_600_000; // the step
  room.add({ id: 'after', deadline: 0 });
  clock.mono.advance(999);
  assert.deepEqual(closed, [], 'none before its timeout');
  clock.mono.advance(1001);
  assert.deepEqual(closed.sort(), ['after', 'before']);
  assert.equal(room.size, 0);
});
