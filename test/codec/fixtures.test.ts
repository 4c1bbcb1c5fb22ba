/**
 * Tier-1 codec tests: hand-written hex fixtures (test/codec/fixtures.ts) for every packet type of MQTT
 * 3.1, 3.1.1 and 5.0. Each fixture must decode to its packet, encode back to the same bytes, and decode
 * the same whether it arrives whole, one byte at a time, in random splits, or inside a stream of
 * every fixture of its version.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PacketDecoder, PacketType, decodeAll, encodePacket, type Packet, type PacketTypeName, type ProtocolVersion,
} from '../../src/codec/index.js';
import {
  ALL_FIXTURES, V3_FIXTURES, V4_FIXTURES, V5_FIXTURES, byteChunks, hex, randomChunks, type Fixture,
} from './fixtures.js';

const SEEDS = [1, 2, 3, 42, 1337, 0xdecaf];

/** Feeds the chunks in order to one decoder; returns what came out and checks nothing is left over. */
function decodeChunks(chunks: Buffer[], version: ProtocolVersion): Packet[] {
  const d = new PacketDecoder({ protocolVersion: version });
  const out: Packet[] = [];
  for (const c of chunks) d.write(c, (p) => out.push(p));
  assert.equal(d.bufferedBytes, 0, 'bytes left buffered after the last packet');
  return out;
}

const toHex = (b: Buffer): string => b.toString('hex');

/** 3.1.1 fixtures other than CONNECT have the same wire format in 3.1: run them as 3.1 too. */
const V4_AS_V3: Fixture[] = V4_FIXTURES
  .filter((f) => f.packet.type !== 'connect')
  .map((f) => ({ ...f, name: `${f.name} [as MQTT 3.1]`, version: 3 as const }));

const EVERY: Fixture[] = [...ALL_FIXTURES, ...V4_AS_V3];

describe('hex fixtures: decode and encode', () => {
  for (const f of EVERY) {
    test(`v${f.version} ${f.name}`, () => {
      const bytes = hex(f.hex);
      const decoded = decodeAll(bytes, { protocolVersion: f.version });
      assert.deepStrictEqual(decoded, [f.packet]);
      assert.equal(toHex(encodePacket(decoded[0]!, f.version)), toHex(bytes), 'encode(decoded)');
      assert.equal(toHex(encodePacket(f.packet, f.version)), toHex(bytes), 'encode(expected)');
    });
  }
});

describe('hex fixtures: one byte at a time', () => {
  for (const f of EVERY) {
    test(`v${f.version} ${f.name}`, () => {
      assert.deepStrictEqual(decodeChunks(byteChunks(hex(f.hex)), f.version), [f.packet]);
    });
  }
});

describe('hex fixtures: random splits', () => {
  for (const f of EVERY) {
    test(`v${f.version} ${f.name} (seeds ${SEEDS.join(', ')})`, () => {
      const bytes = hex(f.hex);
      for (const seed of SEEDS) {
        assert.deepStrictEqual(decodeChunks(randomChunks(bytes, seed), f.version), [f.packet], `seed ${seed}`);
      }
    });
  }
});

describe('hex fixtures: every fixture of a version in one stream', () => {
  const streams: Array<[string, ProtocolVersion, Fixture[]]> = [
    ['MQTT 3.1', 3, [...V3_FIXTURES, ...V4_AS_V3]],
    ['MQTT 3.1.1', 4, V4_FIXTURES],
    ['MQTT 5.0', 5, V5_FIXTURES],
  ];
  for (const [label, version, fixtures] of streams) {
    const stream = Buffer.concat(fixtures.map((f) => hex(f.hex)));
    const expected = fixtures.map((f) => f.packet);

    test(`${label}: ${fixtures.length} packets (${stream.length} bytes) in one chunk`, () => {
      assert.deepStrictEqual(decodeAll(stream, { protocolVersion: version }), expected);
    });
    test(`${label}: one byte at a time`, () => {
      assert.deepStrictEqual(decodeChunks(byteChunks(stream), version), expected);
    });
    for (const seed of SEEDS) {
      test(`${label}: random split, seed ${seed}`, () => {
        assert.deepStrictEqual(decodeChunks(randomChunks(stream, seed), version), expected);
      });
    }
    test(`${label}: split at every offset into two chunks`, () => {
      for (let i = 0; i <= stream.length; i++) {
        assert.deepStrictEqual(decodeChunks([stream.subarray(0, i), stream.subarray(i)], version), expected, `split at ${i}`);
      }
    });
    test(`${label}: encoding the decoded stream gives the stream back`, () => {
      const decoded = decodeAll(stream, { protocolVersion: version });
      assert.equal(toHex(Buffer.concat(decoded.map((p) => encodePacket(p, version)))), toHex(stream));
    });
  }

  test('a 3.1.1 stream needs no protocolVersion option: the CONNECT in front sets it', () => {
    // A decoder that starts at its default (5) switches to 4 on the 3.1.1 CONNECT, so the 3.1.1 PUBACK,
    // UNSUBACK and DISCONNECT after it decode in their 3.1.1 forms.
    const fixtures = V4_FIXTURES;
    assert.equal(fixtures[0]!.packet.type, 'connect');
    const d = new PacketDecoder();
    const out: Packet[] = [];
    for (const c of randomChunks(Buffer.concat(fixtures.map((f) => hex(f.hex))), 7)) d.write(c, (p) => out.push(p));
    assert.deepStrictEqual(out, fixtures.map((f) => f.packet));
    assert.equal(d.protocolVersion, 4);
  });
});

describe('hex fixtures: coverage', () => {
  const types = Object.keys(PacketType) as PacketTypeName[];
  test('3.1.1 fixtures cover every packet type but AUTH', () => {
    const have = new Set(V4_FIXTURES.map((f) => f.packet.type));
    assert.deepStrictEqual(types.filter((t) => !have.has(t)), ['auth']);
  });
  test('5.0 fixtures cover every packet type', () => {
    const have = new Set(V5_FIXTURES.map((f) => f.packet.type));
    assert.deepStrictEqual(types.filter((t) => !have.has(t)), []);
  });
  test('fixture hex is unique (no fixture is a copy of another in the same version)', () => {
    for (const fixtures of [V3_FIXTURES, V4_FIXTURES, V5_FIXTURES]) {
      const seen = new Set<string>();
      for (const f of fixtures) {
        const h = toHex(hex(f.hex));
        assert.ok(!seen.has(h), `duplicate fixture ${f.name}`);
        seen.add(h);
      }
    }
  });
  test('every fixture announces the Remaining Length it has', () => {
    // Guards the hand-written lengths themselves: a wrong length would make every other test fail
    // confusingly. Remaining Length here is at most two bytes.
    for (const f of ALL_FIXTURES) {
      const bytes = hex(f.hex);
      const b1 = bytes[1]!;
      const [len, header] = b1 < 0x80 ? [b1, 2] : [(b1 & 0x7f) + bytes[2]! * 128, 3];
      assert.equal(bytes.length - header, len, f.name);
    }
  });
});
