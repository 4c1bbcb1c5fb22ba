/** The ACL file format: what each line means, and every malformed line refused with its line number. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMoatError } from '../../src/codec/index.js';
import { AclParseError, parseAclDocument } from '../../src/security/acl-parse.js';
import { parseAcl } from '../../src/security/acl.js';

test('a Mosquitto-style file: anonymous topic lines, user blocks, patterns anywhere, readwrite by default', () => {
  const doc = parseAclDocument([
    '# Mosquitto acl_file, unchanged',
    'topic read public/#',
    '',
    'user alice',
    'topic readwrite home/alice/#',
    'topic deny home/alice/secret',
    'pattern write devices/%c/status',
    '   ',
    'user bob smith',
    'topic shared/+/x',
  ].join('\n'), 'test.acl');
  assert.equal(doc.source, 'test.acl');
  assert.deepEqual(doc.anonymous, [{ access: 'read', filter: 'public/#', line: 2 }]);
  assert.deepEqual(doc.patterns, [{ access: 'write', filter: 'devices/%c/status', line: 7 }]);
  assert.deepEqual(doc.blocks.map((b) => [b.kind, b.name, b.admin, b.rules.map((r) => `${r.access} ${r.filter}`)]), [
    ['user', 'alice', false, ['readwrite home/alice/#', 'deny home/alice/secret']],
    // Names may hold spaces (as in Mosquitto); an access word left out means readwrite.
    ['user', 'bob smith', false, ['readwrite shared/+/x']],
  ]);
});

test('client and cert blocks, the admin marker, the Moat access words, CRLF line ends, a BOM', () => {
  const doc = parseAclDocument('\uFEFFclient sensor-1\r\ntopic subscribe a/#\r\ntopic receive a/b\r\ncert dev.example\r\nadmin\r\ntopic write up/#\r\n');
  assert.deepEqual(doc.blocks.map((b) => [b.kind, b.name, b.admin, b.rules.map((r) => `${r.access} ${r.filter}`)]), [
    ['client', 'sensor-1', false, ['subscribe a/#', 'receive a/b']],
    ['cert', 'dev.example', true, ['write up/#']],
  ]);
});

test('tabs separate the words; a filter may hold spaces', () => {
  const doc = parseAclDocument('topic deny\ttab\ntopic read a b/c');
  assert.deepEqual(doc.anonymous.map((r) => [r.access, r.filter]), [['deny', 'tab'], ['read', 'a b/c']]);
});

const BAD: Array<[string, string, number]> = [
  ['unknown keyword', 'user a\ntopic read a\nallow read b', 3],
  ['user without a name', '# c\nuser', 2],
  ['client without an id', 'client   ', 1],
  ['cert without a CN', '\n\ncert', 3],
  ['topic without a filter', 'user a\ntopic', 2],
  ['access word without a filter', 'user a\ntopic read', 2],
  ['pattern access without a filter', 'pattern deny   ', 1],
  ['# not alone in its level', 'user a\n\ntopic read a/b#', 3],
  ['# not last', 'topic read a/#/b', 1],
  ['+ sharing a level', 'pattern read a/%u+', 1],
  ['%u in a topic line', 'user a\ntopic read home/%u/#', 2],
  ['%c in an anonymous topic line', 'topic read x/%c', 1],
  ['a $share rule', 'user a\ntopic read x\ntopic read $share/g/x', 3],
  ['a malformed $share rule', 'topic read $share/g', 1],
  ['admin before any block', 'admin', 1],
  ['admin with an argument', 'user a\nadmin yes', 2],
  ['keywords are case-sensitive', 'User a', 1],
];

for (const [what, text, line] of BAD) {
  test(`refused with MOAT_ERR_ACL at line ${line}: ${what}`, () => {
    assert.throws(() => parseAcl(text, 'bad.acl'), (err: unknown) => {
      assert.ok(isMoatError(err, 'MOAT_ERR_ACL'));
      assert.ok(err instanceof AclParseError);
      assert.equal(err.line, line);
      assert.equal(err.source, 'bad.acl');
      return true;
    });
  });
}

test('an empty file or one with only comments parses to an ACL that allows nothing', () => {
  for (const text of ['', '# nothing\n\n']) {
    const acl = parseAcl(text);
    assert.equal(acl.canPublish({ clientId: 'c' }, 'a'), false);
    assert.equal(acl.canSubscribe({ clientId: 'c' }, '#'), false);
    assert.equal(acl.canReceive({ clientId: 'c', username: 'u' }, 'a'), false);
  }
});
