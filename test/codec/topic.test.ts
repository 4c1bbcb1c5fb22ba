/**
 * Topic names and filters (spec 4.7) and shared subscription filters (spec 4.8.2): every example of
 * the spec text, then a differential property test of `topicMatches` against a plain reference matcher.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  hasWildcard, isValidTopicFilter, isValidTopicName, parseSharedFilter, topicFilterError, topicMatches,
  topicNameError,
} from '../../src/codec/topic.js';

/**
 * The oracle: split both on '/', compare level by level. `#` matches the rest including the parent
 * level, `+` exactly one level (possibly empty), and a filter starting with a wildcard never matches
 * a topic starting with `$` [MQTT-4.7.2-1].
 */
function referenceMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The grammar of [MQTT-4.7.1-1] and [MQTT-4.7.1-2], level by level. */
function referenceFilterValid(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => (l === '#' ? i === levels.length - 1 : l === '+' || !/[+#]/.test(l)));
}

function yes(filter: string, ...topics: string[]): void {
  for (const topic of topics) assert.equal(topicMatches(filter, topic), true, `"${filter}" should match "${topic}"`);
}

function no(filter: string, ...topics: string[]): void {
  for (const topic of topics) assert.equal(topicMatches(filter, topic), false, `"${filter}" should not match "${topic}"`);
}

function validFilters(...filters: string[]): void {
  for (const f of filters) assert.equal(topicFilterError(f), undefined, `"${f}" should be a valid filter`);
}

function invalidFilters(statement: string, ...filters: string[]): void {
  for (const f of filters) {
    const err = topicFilterError(f);
    assert.ok(err !== undefined, `"${f}" should be an invalid filter`);
    assert.ok(err.includes(statement), `error for "${f}" should cite ${statement}: ${err}`);
    assert.equal(isValidTopicFilter(f), false);
  }
}

// 4.7.1.2 Multi-level wildcard

test('4.7.1.2 "sport/tennis/player1/#" matches sport/tennis/player1, .../ranking, .../score/wimbledon', () => {
  yes('sport/tennis/player1/#', 'sport/tennis/player1', 'sport/tennis/player1/ranking',
    'sport/tennis/player1/score/wimbledon', 'sport/tennis/player1/');
  no('sport/tennis/player1/#', 'sport/tennis', 'sport/tennis/player2', 'sport/tennis/player10', 'sport/tennis/player');
});

test('4.7.1.2 "sport/#" also matches the singular "sport", since # includes the parent level', () => {
  yes('sport/#', 'sport', 'sport/', 'sport/tennis', 'sport/tennis/player1');
  no('sport/#', 'sports', 'spor', 'Sport', '/sport', 'tennis/sport');
  // The parent is exactly one level up: "a/b/#" does not match "a".
  no('a/b/#', 'a', 'a/');
  yes('a/+/#', 'a/b', 'a/', 'a/b/c/d');
  no('a/+/#', 'a');
});

test('4.7.1.2 "#" alone is valid and matches every topic not starting with $', () => {
  validFilters('#');
  yes('#', 'a', 'sport/tennis/player1', '/', '//', '/finance', 'finance/', 'a/$SYS', ' ', 'sport/');
  no('#', '$SYS', '$SYS/monitor/Clients', '$', '$share/g/x');
});

test('[MQTT-4.7.1-1] "sport/tennis/#" is valid; "sport/tennis#" and "sport/tennis/#/ranking" are not', () => {
  validFilters('sport/tennis/#', '#', '/#', '+/#', '$SYS/#', 'a//#');
  invalidFilters('[MQTT-4.7.1-1]', 'sport/tennis#', 'sport/tennis/#/ranking', '#/', '#/a', '##', 'a#', '#a', 'a/#b',
    'a/b#/c', 'a/#/', '#/#', '+#', '#+');
});

// 4.7.1.3 Single-level wildcard

test('4.7.1.3 "sport/tennis/+" matches player1 and player2 but not sport/tennis/player1/ranking', () => {
  yes('sport/tennis/+', 'sport/tennis/player1', 'sport/tennis/player2', 'sport/tennis/');
  no('sport/tennis/+', 'sport/tennis/player1/ranking', 'sport/tennis', 'sport/tennis/player1/');
});

test('4.7.1.3 "sport/+" does not match "sport" but does match "sport/"', () => {
  no('sport/+', 'sport', 'sport/a/b', 'sport//');
  yes('sport/+', 'sport/', 'sport/tennis');
});

test('4.7.1.3 "/finance" matches "+/+" and "/+", but not "+"', () => {
  yes('+/+', '/finance');
  yes('/+', '/finance');
  no('+', '/finance');
  // And the other way round: "+" matches one level, empty or not.
  yes('+', 'finance', 'sport', ' ');
  no('+', 'sport/', '/', 'a/b');
});

test('[MQTT-4.7.1-2] "+", "+/tennis/#" and "sport/+/player1" are valid; "sport+" is not', () => {
  validFilters('+', '+/tennis/#', 'sport/+/player1', '+/+', '/+', '+/', '+//+', 'a/+/+/#');
  invalidFilters('[MQTT-4.7.1-2]', 'sport+', '+sport', 'sport/+a/player1', 'a/b+c', '++', '+/++', '+ ');
  yes('sport/+/player1', 'sport/tennis/player1', 'sport//player1');
  no('sport/+/player1', 'sport/player1', 'sport/tennis/x/player1');
  yes('+/tennis/#', 'sport/tennis', 'sport/tennis/player1', '/tennis');
  no('+/tennis/#', 'tennis', 'sport/badminton');
});

// 4.7.2 Topics beginning with $

test('[MQTT-4.7.2-1] a subscription to "#" does not receive topics beginning with $', () => {
  no('#', '$SYS', '$SYS/', '$SYS/monitor/Clients', '$', '$/x', '$foo');
});

test('[MQTT-4.7.2-1] "+/monitor/Clients" does not match "$SYS/monitor/Clients"', () => {
  no('+/monitor/Clients', '$SYS/monitor/Clients');
  yes('+/monitor/Clients', 'SYS/monitor/Clients', '/monitor/Clients');
  no('+', '$SYS', '$');
  no('+/#', '$SYS', '$SYS/x');
  no('+/+', '$SYS/x');
});

test('[MQTT-4.7.2-1] "$SYS/#" receives topics beginning with "$SYS/", "$SYS/monitor/+" matches "$SYS/monitor/Clients"', () => {
  yes('$SYS/#', '$SYS/', '$SYS/monitor/Clients', '$SYS/broker/uptime', '$SYS');
  no('$SYS/#', 'SYS/x', '$sys/x', '$SYSX/x', 'a/$SYS/x');
  yes('$SYS/monitor/+', '$SYS/monitor/Clients');
  no('$SYS/monitor/+', '$SYS/monitor', '$SYS/monitor/Clients/x');
  // Only the first character counts: a filter not starting with a wildcard matches $ topics as usual.
  yes('$SYS', '$SYS');
  yes('$', '$');
  yes('$foo/+/#', '$foo/a', '$foo/a/b');
  yes('/#', '/$SYS');
  yes('a/+', 'a/$SYS');
  yes('#', 'a/$SYS');
  yes('+/$SYS', 'x/$SYS');
});

test('[MQTT-4.7.2-1] both "#" and "$SYS/#" are needed to receive $SYS/ topics and the others', () => {
  const filters = ['#', '$SYS/#'];
  for (const topic of ['$SYS/monitor/Clients', 'sport/tennis', '/', 'a']) {
    assert.ok(filters.some((f) => topicMatches(f, topic)), topic);
  }
  assert.equal(topicMatches('#', '$SYS/monitor/Clients'), false);
  assert.equal(topicMatches('$SYS/#', 'sport/tennis'), false);
});

// 4.7.3 Topic semantic and usage

test('[MQTT-4.7.3-1] topic names and topic filters must be at least one character long', () => {
  assert.ok(topicNameError('')?.includes('[MQTT-4.7.3-1]'));
  assert.equal(isValidTopicName(''), false);
  assert.ok(topicFilterError('')?.includes('[MQTT-4.7.3-1]'));
  assert.equal(isValidTopicFilter(''), false);
  for (const one of ['a', '/', ' ', '$', 'é']) assert.equal(isValidTopicName(one), true, one);
  for (const one of ['a', '/', ' ', '$', '+', '#']) assert.equal(isValidTopicFilter(one), true, one);
});

test('[MQTT-4.7.0-1] wildcards are not allowed in topic names', () => {
  for (const name of ['+', '#', 'a/+', 'a/#', 'sport+', 'a#b', '+/x', '$SYS/#']) {
    assert.ok(topicNameError(name) !== undefined, name);
    assert.equal(isValidTopicName(name), false, name);
  }
  for (const name of ['sport/tennis/player1', '/', '//', '/finance', 'finance/', '$SYS/monitor/Clients', 'a b']) {
    assert.equal(topicNameError(name), undefined, name);
  }
  assert.equal(hasWildcard('sport/+'), true);
  assert.equal(hasWildcard('sport/#'), true);
  assert.equal(hasWildcard('sport/tennis'), false);
});

test('4.7.3 topic names and filters are case sensitive: "ACCOUNTS" and "Accounts" differ', () => {
  no('ACCOUNTS', 'Accounts', 'accounts');
  no('Accounts', 'ACCOUNTS');
  yes('Accounts', 'Accounts');
  no('Sport/+', 'sport/tennis');
  no('sport/Tennis/#', 'sport/tennis/player1');
  no('$sys/#', '$SYS/x');
});

test('4.7.3 "Accounts payable" is a valid topic name: spaces are ordinary characters', () => {
  assert.equal(isValidTopicName('Accounts payable'), true);
  assert.equal(isValidTopicFilter('Accounts payable/+'), true);
  yes('Accounts payable', 'Accounts payable');
  yes('+', 'Accounts payable', ' ');
  yes('Accounts payable/+', 'Accounts payable/2024');
  no('Accounts payable', 'Accounts  payable', 'Accounts payable ', 'Accountspayable');
});

test('4.7.3 a leading or trailing "/" creates a distinct topic: "/finance" differs from "finance"', () => {
  no('/finance', 'finance', 'finance/');
  no('finance', '/finance', 'finance/');
  no('finance/', 'finance', '/finance');
  yes('finance/', 'finance/');
  yes('/finance', '/finance');
  yes('finance/+', 'finance/');
  yes('+/finance', '/finance');
});

test('4.7.3 "/" alone is a valid topic name and filter, made of two empty levels', () => {
  assert.equal(isValidTopicName('/'), true);
  assert.equal(isValidTopicFilter('/'), true);
  yes('/', '/');
  yes('+/+', '/');
  yes('#', '/');
  yes('/#', '/', '//');
  yes('+/#', '/');
  no('+', '/');
  no('/', '//', 'a/', '/a');
  no('+/+', '//');
});

test('4.7.1.1 adjacent separators make zero-length levels that match literally or by "+"', () => {
  yes('a//b', 'a//b');
  no('a//b', 'a/b', 'a/x/b', 'a///b');
  yes('a/+/b', 'a//b', 'a/x/b');
  no('a/b', 'a//b');
  yes('+/+/+', '//', 'a//', '/b/', '//c');
  no('+/+/+', '/', '///');
  yes('//', '//');
  yes('a//#', 'a/', 'a//', 'a//b/c');
  no('a//#', 'a', 'a/b', 'a/b/c');
});

test('[MQTT-4.7.3-4] no normalization: unicode levels match character for character', () => {
  const nfc = 'caf\u00e9';
  const nfd = 'cafe\u0301';
  assert.equal(isValidTopicName(nfc), true);
  assert.equal(isValidTopicName(nfd), true);
  yes(nfc, nfc);
  yes(nfd, nfd);
  no(nfc, nfd);
  no(nfd, nfc);
  yes(`${nfc}/+`, `${nfc}/menu`);
  no(`${nfc}/+`, `${nfd}/menu`);
  yes('日本/+/#', '日本/東京', '日本/東京/渋谷');
  no('日本/+', '日本', '本/東京');
  // Astral characters (surrogate pairs in UTF-16) are one level like any other.
  yes('+/🌡', '🏠/🌡');
  yes('🏠/+', '🏠/🌡', '🏠/');
  no('🏠/+', '🏠', '🏡/🌡');
  yes('+', '🌡', '\u{10FFFF}', '\uFEFF');
  // Characters near '/' (U+002F) and the wildcards are not separators.
  // Look-alikes of the wildcards ('＋' U+FF0B, '＃' U+FF03) are ordinary characters.
  assert.equal(isValidTopicName('a\uFF0B/\uFF03'), true);
  yes('\uFF0B/\uFF03', '\uFF0B/\uFF03');
  no('\uFF0B/\uFF03', 'a/b', 'a');
  no('a/b', 'a\u2215b', 'a\uFF0Fb');
  yes('+', 'a\u2215b', 'a\uFF0Fb', 'a.b', 'a\\b');
});

test('4.7.3 literal levels must match whole levels, not prefixes', () => {
  no('sport', 'sports', 'spor', 'sport/');
  no('sport/tennis', 'sport/tennisball', 'sport/tenni', 'sports/tennis', 'sport/tennis/x');
  no('sport/tennis/+', 'sport/tennisball/x');
  no('a/b/c', 'a/b', 'a/b/', 'a/bc', 'a');
});

// 4.8.2 Shared Subscriptions

test('4.8.2 "$share/consumer1/sport/tennis/+" and "$share/consumer2/sport/tennis/+" are distinct, same filter', () => {
  const one = parseSharedFilter('$share/consumer1/sport/tennis/+');
  const two = parseSharedFilter('$share/consumer2/sport/tennis/+');
  assert.deepEqual(one, { group: 'consumer1', filter: 'sport/tennis/+' });
  assert.deepEqual(two, { group: 'consumer2', filter: 'sport/tennis/+' });
  validFilters('$share/consumer1/sport/tennis/+', '$share/consumer2/sport/tennis/+');
  yes(one!.filter, 'sport/tennis/player1');
  no(one!.filter, 'sport/tennis/player1/ranking');
});

test('4.8.2 {filter} keeps its own syntax: wildcards, $ levels, empty levels, more "$share/"', () => {
  assert.deepEqual(parseSharedFilter('$share/g/#'), { group: 'g', filter: '#' });
  assert.deepEqual(parseSharedFilter('$share/g/+'), { group: 'g', filter: '+' });
  assert.deepEqual(parseSharedFilter('$share/g//'), { group: 'g', filter: '/' });
  assert.deepEqual(parseSharedFilter('$share/g//finance'), { group: 'g', filter: '/finance' });
  assert.deepEqual(parseSharedFilter('$share/g/$SYS/#'), { group: 'g', filter: '$SYS/#' });
  assert.deepEqual(parseSharedFilter('$share/g/$share/h/x'), { group: 'g', filter: '$share/h/x' });
  assert.deepEqual(parseSharedFilter('$share/$/a'), { group: '$', filter: 'a' });
  assert.deepEqual(parseSharedFilter('$share/gr oup/a'), { group: 'gr oup', filter: 'a' });
  assert.deepEqual(parseSharedFilter('$share/日本/a'), { group: '日本', filter: 'a' });
  validFilters('$share/g/#', '$share/g/+', '$share/g//', '$share/g/$SYS/#', '$share/g/+/tennis/#');
  // The $ rule applies to {filter} once the share part is stripped [MQTT-4.7.2-1].
  const shared = parseSharedFilter('$share/g/#');
  no(shared!.filter, '$SYS/monitor/Clients');
  yes(shared!.filter, 'sport/tennis');
});

test('4.8.2 filters that do not start with "$share/" are not shared', () => {
  for (const f of ['sport/tennis/+', '#', '$SYS/#', '$share', '$shared/g/x', '$sharex/g', 'share/g/x', '$SHARE/g/x',
    '/$share/g/x', '+/share/g']) {
    assert.equal(parseSharedFilter(f), undefined, f);
  }
});

test('[MQTT-4.8.2-1] a shared filter needs a ShareName at least one character long', () => {
  for (const f of ['$share/', '$share//', '$share//x', '$share//sport/tennis/+']) {
    assert.equal(parseSharedFilter(f), null, f);
    assert.ok(topicFilterError(f)?.includes('[MQTT-4.8.2-1]'), f);
  }
});

test('[MQTT-4.8.2-2] the ShareName has no "+" or "#" and is followed by "/" and a topic filter', () => {
  const malformed = [
    '$share/g', '$share/consumer1', // no "/" after the ShareName
    '$share/g/', '$share/consumer1/', // "/" not followed by a filter
    '$share/+/x', '$share/#/x', '$share/g+/x', '$share/g#/x', '$share/+g/x', '$share/+', '$share/#',
  ];
  for (const f of malformed) {
    assert.equal(parseSharedFilter(f), null, f);
    assert.ok(topicFilterError(f) !== undefined, f);
    assert.equal(isValidTopicFilter(f), false, f);
  }
});

test('[MQTT-4.8.2-2] the {filter} after the ShareName follows the rules of 4.7', () => {
  invalidFilters('[MQTT-4.7.1-1]', '$share/g/sport/tennis#', '$share/g/#/x', '$share/g/a/#/');
  invalidFilters('[MQTT-4.7.1-2]', '$share/g/sport+', '$share/g/a/+b');
});

// Differential property tests

/** A small alphabet, so that random filters and topics often collide on the same levels. */
const NAME_LEVELS = ['', 'a', 'b', 'A', 'sport', '$SYS', '$', 'caf\u00e9', 'cafe\u0301', 'a b', '🌡'];
const nameLevel = fc.constantFrom(...NAME_LEVELS);
const filterLevel = fc.oneof(nameLevel, fc.constant('+'));
const nameLevels = fc.array(nameLevel, { minLength: 1, maxLength: 5 });

const topicArb = nameLevels.map((l) => l.join('/')).filter((t) => t.length > 0);
const filterLevelsArb = fc.tuple(fc.array(filterLevel, { maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels))
  .filter((levels) => levels.length > 0 && levels.join('/').length > 0);

/** A topic built from the filter itself, filling `+` and `#` with random levels, so most pairs match. */
const derivedPair = fc.tuple(filterLevelsArb, fc.array(nameLevel, { minLength: 6, maxLength: 6 }),
  fc.array(nameLevel, { maxLength: 3 }), fc.boolean())
  .map(([levels, fills, tail, perturb]) => {
    const topic: string[] = [];
    levels.forEach((l, i) => {
      if (l === '#') topic.push(...tail);
      else topic.push(l === '+' ? fills[i]! : l);
    });
    // Sometimes change one level, or drop the last one, to probe near misses.
    if (perturb && topic.length > 0) {
      const i = fills[5]!.length % topic.length;
      if (fills[4] === 'a') topic.pop();
      else topic[i] = fills[4]!;
    }
    return { filter: levels.join('/'), topic: topic.join('/') };
  })
  .filter(({ topic }) => topic.length > 0);

const independentPair = fc.record({ filter: filterLevelsArb.map((l) => l.join('/')), topic: topicArb });

test('property: topicMatches agrees with the level-by-level reference matcher, $ rule included', () => {
  let matched = 0;
  let unmatched = 0;
  let dollarBlocked = 0;
  fc.assert(fc.property(fc.oneof(derivedPair, independentPair), ({ filter, topic }) => {
    assert.equal(isValidTopicFilter(filter), true, filter);
    assert.equal(isValidTopicName(topic), true, topic);
    const expected = referenceMatches(filter, topic);
    assert.equal(topicMatches(filter, topic), expected, `filter "${filter}", topic "${topic}"`);
    // Shared subscriptions match as their {filter} does.
    const shared = parseSharedFilter(`$share/g/${filter}`);
    assert.deepEqual(shared, { group: 'g', filter });
    if (expected) matched++;
    else unmatched++;
    if (topic.startsWith('$') && /^[+#]/.test(filter) && referenceMatches(`x${filter.slice(1)}`, `x${topic.slice(1)}`)) {
      dollarBlocked++;
    }
  }), {
    numRuns: 20_000,
    examples: [
      // The spec's edge cases, checked first on every run.
      [{ filter: 'sport/+', topic: 'sport' }], [{ filter: 'sport/+', topic: 'sport/' }],
      [{ filter: 'sport/#', topic: 'sport' }], [{ filter: '+', topic: '/finance' }],
      [{ filter: '+/+', topic: '/finance' }], [{ filter: '/+', topic: '/finance' }],
      [{ filter: '#', topic: '$SYS/x' }], [{ filter: '+/monitor/Clients', topic: '$SYS/monitor/Clients' }],
      [{ filter: '$SYS/#', topic: '$SYS' }], [{ filter: '/', topic: '/' }], [{ filter: 'a/', topic: 'a' }],
      [{ filter: '+/#', topic: '$' }], [{ filter: 'a//#', topic: 'a/' }],
    ],
  });
  // The generators must exercise both outcomes and the $ rule, or the agreement proves little.
  assert.ok(matched > 2_000, `only ${matched} matching pairs`);
  assert.ok(unmatched > 2_000, `only ${unmatched} non-matching pairs`);
  assert.ok(dollarBlocked > 100, `only ${dollarBlocked} pairs decided by the $ rule`);
});

test('property: topicFilterError accepts exactly the filters of the 4.7.1 grammar', () => {
  const level = fc.constantFrom('', 'a', '$SYS', '+', '#', 'a+', '+a', 'a#', '#a', '++', '##', '+#');
  fc.assert(fc.property(fc.array(level, { minLength: 1, maxLength: 5 }), (levels) => {
    const filter = levels.join('/');
    assert.equal(isValidTopicFilter(filter), referenceFilterValid(filter), filter);
    if (filter.length > 0) assert.equal(isValidTopicName(filter), !/[+#]/.test(filter), filter);
  }), { numRuns: 5_000 });
});

test('the reference matcher itself agrees with the spec examples', () => {
  const cases: [string, string, boolean][] = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true], ['sport/#', 'sport', true],
    ['sport/+', 'sport', false], ['sport/+', 'sport/', true], ['+', '/finance', false], ['+/+', '/finance', true],
    ['/+', '/finance', true], ['#', '$SYS/x', false], ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true], ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ];
  for (const [filter, topic, expected] of cases) {
    assert.equal(referenceMatches(filter, topic), expected, `${filter} ${topic}`);
    assert.equal(topicMatches(filter, topic), expected, `${filter} ${topic}`);
  }
});
