/**
 * Filter-against-filter relations, checked against brute force: over a small universe of topics (levels
 * a, b, $s, empty; up to two levels past the longest filter), `filterWithin` must equal "every topic
 * the inner filter matches, the outer matches too" and `filtersOverlap` "some topic matches both",
 * with the codec's topicMatches as the judge.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { topicMatches } from '../../src/codec/index.js';
import { filterWithin, filtersOverlap } from '../../src/security/acl-filters.js';

const LEVELS = ['a', 'b', '$s', ''];

function topics(maxDepth: number): string[] {
  let layer = LEVELS.map((l) => [l]);
  const out: string[][] = [...layer];
  for (let d = 2; d <= maxDepth; d++) {
    layer = layer.flatMap((t) => LEVELS.map((l) => [...t, l]));
    out.push(...layer);
  }
  // '$s' only makes sense as a first level ($-topics); an empty topic is not a topic.
  return out.filter((t) => !t.slice(1).includes('$s')).map((t) => t.join('/')).filter((t) => t !== '');
}

const filter = fc.tuple(fc.array(fc.constantFrom('a', 'b', '$s', '', '+'), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([levels, hash]) => {
    const l = levels.map((x, i) => (x === '$s' && i > 0 ? 'a' : x));
    return (hash ? [...l, '#'] : l).join('/');
  })
  .filter((f) => f !== ''); // the empty filter is invalid and never reaches the ACL
const anyFilter = fc.oneof(filter, fc.constant('#'), fc.constant('+'));
const universe = topics(5);

test('filterWithin(inner, outer) ⇔ every topic inner matches, outer matches', () => {
  fc.assert(fc.property(anyFilter, anyFilter, (inner, outer) => {
    const brute = universe.every((t) => !topicMatches(inner, t) || topicMatches(outer, t));
    return filterWithin(inner.split('/'), outer.split('/')) === brute;
  }), { numRuns: 4000 });
});

test('filtersOverlap(a, b) ⇔ some topic matches both', () => {
  fc.assert(fc.property(anyFilter, anyFilter, (a, b) => {
    const brute = universe.some((t) => topicMatches(a, t) && topicMatches(b, t));
    return filtersOverlap(a.split('/'), b.split('/')) === brute && filtersOverlap(b.split('/'), a.split('/')) === brute;
  }), { numRuns: 4000 });
});

test('the cases of the ACL brief', () => {
  const within = (i: string, o: string): boolean => filterWithin(i.split('/'), o.split('/'));
  assert.equal(within('a/x/c', 'a/+/c'), true);
  assert.equal(within('a/+/c', 'a/+/c'), true);
  assert.equal(within('a/#', 'a/+/c'), false);
  assert.equal(within('a', 'a/#'), true);
  assert.equal(within('$SYS/x', '#'), false);
  assert.equal(within('#', '+/#'), true);
  assert.equal(within('a/#', 'a/+/#'), false);
  assert.equal(within('/#', '/+/#'), true);
  assert.equal(filtersOverlap(['#'], ['$SYS', 'x']), false);
  assert.equal(filtersOverlap(['home', '+'], ['home', 'secret', '#']), true);
});
