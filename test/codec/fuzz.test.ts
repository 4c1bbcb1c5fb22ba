/**
 * Tier-2 property-based tests of the codec (fast-check): round trip of every valid packet, chunked
 * input, hostile input (only packets or MoatErrors, bounded buffering), re-encoding whatever the
 * decoder accepts, the encoder refusing out-of-range fields, and PublishFanout against encodePacket.
 *
 * On failure fast-check prints the seed and path of the shrunk counterexample. Replay it with
 *   FC_SEED=<seed> FC_PATH=<path> node --test --test-name-pattern='<test name>' .build/test/codec/fuzz.test.js
 * FC_RUNS=<factor> multiplies every numRuns, for a longer fuzzing session (FC_RUNS=20: about a minute).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MQTT_MAX_PACKET_SIZE, MoatError, PacketDecoder, PublishFanout, decodeAll, encodePacket,
  type FanoutMessage, type Packet, type ProtocolVersion, type PublishPacket, type PublishProperties,
  type PublishVariant, type QoS,
} from '../../src/codec/index.js';
import {
  binary, compact, connectArb, packetArb, packetId, propertiesArb, publishArb, qos, subscribeArb, subscriptionId,
  topicName, u32, version,
} from './arbitraries.js';

const SCALE = Number(process.env.FC_RUNS ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns: runs(numRuns),
  ...(process.env.FC_SEED !== undefined ? { seed: Number(process.env.FC_SEED) } : {}),
  ...(process.env.FC_PATH !== undefined ? { path: process.env.FC_PATH } : {}),
});

const LARGE = { maxPacketSize: MQTT_MAX_PACKET_SIZE };
const SMALL_MAX = 512;
const PACKET_TYPES = new Set([
  'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback',
  'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth',
]);

/** Cuts `bytes` at the given points (taken modulo length + 1, repeats give empty chunks). */
function split(bytes: Buffer, cuts: number[] | 'bytewise'): Buffer[] {
  if (cuts === 'bytewise') return [...bytes].map((_, i) => bytes.subarray(i, i + 1));
  const at = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const cutsArb: fc.Arbitrary<number[] | 'bytewise'> = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.nat(), { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant('bytewise' as const) },
);

function assertMoatError(err: unknown): asserts err is MoatError {
  if (!(err instanceof MoatError)) assert.fail(`decoder threw a non-MoatError: ${String((err as Error)?.stack ?? err)}`);
  assert.match(err.code, /^MOAT_ERR_[A-Z0-9_]+$/);
  assert.equal(typeof err.reasonCode, 'number', `${err.code} without a numeric reasonCode`);
}

// ------------------------------------------------------------------------------------- 1. round trip

for (const v of [3, 4, 5] as const) {
  test(`fuzz: every valid v${v} packet survives encode → decode unchanged`, () => {
    fc.assert(fc.property(packetArb(v), (p) => {
      const bytes = encodePacket(p, v);
      assert.deepStrictEqual(decodeAll(bytes, { ...LARGE, protocolVersion: v }), [p]);
    }), params(v === 3 ? 500 : 2000));
  });
}

// --------------------------------------------------------------------------------- 2. chunked input

test('fuzz: a packet stream split at any points decodes to the same packets as one write', () => {
  const arb = version.chain((v) => fc.tuple(
    fc.constant(v), fc.array(packetArb(v), { minLength: 1, maxLength: 6 }), cutsArb));
  fc.assert(fc.property(arb, ([v, packets, cuts]) => {
    const bytes = Buffer.concat(packets.map((p) => encodePacket(p, v)));
    const whole = decodeAll(bytes, { ...LARGE, protocolVersion: v });
    assert.deepStrictEqual(whole, packets);
    const d = new PacketDecoder({ ...LARGE, protocolVersion: v });
    const got: Packet[] = [];
    for (const chunk of split(bytes, cuts)) d.write(chunk, (p) => got.push(p));
    assert.equal(d.bufferedBytes, 0);
    assert.deepStrictEqual(got, whole);
  }), params(800));
});

// ------------------------------------------------------------------------- 3, 4. hostile input

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'zero'; at: number; count: number };

/** Mostly near the start of the packet (fixed header, ids, flags, reason codes, first fields), else anywhere. */
const at = fc.oneof(fc.nat({ max: 12 }), fc.nat());
/** Bytes that mean something: 0 (empty, id 0), 1, wildcards and separator, varint edges. */
const meaningful = fc.constantFrom(0, 1, 2, 3, 0x23, 0x2b, 0x2f, 0x7f, 0x80, 0xff);

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({
    op: fc.constant('set' as const), at, byte: fc.oneof(meaningful, fc.integer({ min: 0, max: 255 })),
  }) },
  { weight: 2, arbitrary: fc.record({
    op: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
  }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at }) },
  // Zeroes a run of bytes: turns small integers (ids, Topic Alias, Receive Maximum, …) into 0.
  { weight: 2, arbitrary: fc.record({ op: fc.constant('zero' as const), at, count: fc.integer({ min: 1, max: 2 }) }) },
);

function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = m.at % (b.length + 1);
    switch (m.op) {
      case 'flip': if (at < b.length) b[at]! ^= 1 << m.bit; break;
      case 'set': if (at < b.length) b[at] = m.byte; break;
      case 'insert': b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]); break;
      case 'truncate': b = b.subarray(0, at); break;
      case 'zero': b.fill(0, at, Math.min(b.length, at + m.count)); break;
    }
  }
  return b;
}

/**
 * Field-aware damage, so the decoder's semantic checks get exercised and not only its framing: the
 * numbers and strings of the target packet are looked up in its body and changed there, and the
 * Remaining Length is then rewritten to fit the new body.
 */
type Width = 1 | 2 | 4 | 'varint';
type Edit =
  | { op: 'first'; bit: number } // type and flags
  | { op: 'number'; pick: number; width: Width; to: number } // an id, alias, interval, reason code …
  | { op: 'text'; pick: number; at: number; byte: number } // one byte inside a string
  | { op: 'empty'; pick: number } // a string made empty
  | { op: 'after'; pick: number; bit: number } // the byte after a string: subscription options
  | { op: 'raw'; m: Mutation };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('first' as const), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 4, arbitrary: fc.record({
    op: fc.constant('number' as const), pick: fc.nat(),
    width: fc.oneof({ weight: 2, arbitrary: fc.constant(2 as const) }, fc.constantFrom<Width>(1, 4, 'varint')),
    to: fc.oneof(
      { weight: 2, arbitrary: fc.constant(0) },
      fc.constantFrom(1, 2, 3, 0x7f, 0x80, 0xff, 0xffff, 0xffff_ffff),
      fc.nat(),
    ),
  }) },
  { weight: 2, arbitrary: fc.record({
    op: fc.constant('text' as const), pick: fc.nat(), at: fc.nat(),
    byte: fc.oneof(meaningful, fc.constantFrom(0x24, 0xc0, 0xed, 0xef)), // '$', bad UTF-8 lead bytes
  }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('empty' as const), pick: fc.nat() }) },
  // Mostly No Local (bit 2) and Retain As Published (bit 3).
  { weight: 1, arbitrary: fc.record({
    op: fc.constant('after' as const), pick: fc.nat(), bit: fc.constantFrom(0, 1, 2, 2, 2, 3, 4, 5, 6, 7),
  }) },
  { weight: 2, arbitrary: mutationArb.map((m) => ({ op: 'raw' as const, m })) },
);

function varintBytes(n: number): number[] {
  const out: number[] = [];
  do { out.push((n % 128) | (n >= 128 ? 0x80 : 0)); n = Math.floor(n / 128); } while (n > 0);
  return out;
}

/** Every number (booleans as 0/1) and string in a packet, at any depth. */
function fieldsOf(value: unknown, nums: number[] = [], strs: string[] = []): { nums: number[]; strs: string[] } {
  if (typeof value === 'number') nums.push(value);
  else if (typeof value === 'boolean') nums.push(value ? 1 : 0);
  else if (typeof value === 'string') strs.push(value);
  else if (Array.isArray(value)) for (const x of value) fieldsOf(x, nums, strs);
  else if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const x of Object.values(value)) fieldsOf(x, nums, strs);
  }
  return { nums, strs };
}

function occurrences(hay: Buffer, needle: Buffer): number[] {
  const out: number[] = [];
  if (needle.length === 0) return out;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) out.push(i);
  return out;
}

function encodeNumber(n: number, width: Width): Buffer {
  if (width === 'varint') return Buffer.from(varintBytes(Math.min(n, 268_435_455)));
  const b = Buffer.alloc(width);
  b.writeUIntBE(width === 4 ? n >>> 0 : n % 2 ** (8 * width), 0, width);
  return b;
}

/** Applies `edits` to the body of the encoded `packet` and frames the result with a fitting Remaining Length. */
function edit(packet: Packet, encoded: Buffer, edits: Edit[]): Buffer {
  let h = 1;
  while (encoded[h]! & 0x80) h++;
  let first = encoded[0]!;
  let body: Buffer = Buffer.from(encoded.subarray(h + 1));
  const { nums, strs } = fieldsOf(packet);
  const strings = strs.map((x) => Buffer.from(x, 'utf8')).filter((x) => x.length > 0);
  for (const e of edits) {
    switch (e.op) {
      case 'first': first ^= 1 << e.bit; break;
      case 'number': {
        // Every place where one of the packet's numbers is written with this width.
        const spots: Array<[at: number, length: number]> = [];
        for (const n of new Set(nums)) {
          if (e.width !== 'varint' && n >= 2 ** (8 * e.width)) continue;
          const from = encodeNumber(n, e.width);
          for (const i of occurrences(body, from)) spots.push([i, from.length]);
        }
        const spot = spots[e.pick % Math.max(1, spots.length)];
        if (spot !== undefined) {
          body = Buffer.concat([body.subarray(0, spot[0]), encodeNumber(e.to, e.width), body.subarray(spot[0] + spot[1])]);
        }
        break;
      }
      case 'text': case 'empty': case 'after': {
        const str = strings[e.pick % Math.max(1, strings.length)];
        if (str === undefined) break;
        const at = occurrences(body, str);
        const i = at[e.pick % Math.max(1, at.length)];
        if (i === undefined) break;
        if (e.op === 'text') body[i + (e.at % str.length)] = e.byte;
        else if (e.op === 'after') { if (i + str.length < body.length) body[i + str.length]! ^= 1 << e.bit; }
        else if (i >= 2 && body.readUInt16BE(i - 2) === str.length) {
          body = Buffer.concat([body.subarray(0, i - 2), Buffer.from([0, 0]), body.subarray(i + str.length)]);
        }
        break;
      }
      case 'raw': body = mutate(body, [e.m]); break;
    }
  }
  return Buffer.concat([Buffer.from([first, ...varintBytes(body.length)]), body]);
}

interface Hostile { decoderVersion: ProtocolVersion; bytes: Buffer; cuts: number[] | 'bytewise' }

/** The packets with the most rules to break come up more often as the damaged one. */
const targetArb = (v: ProtocolVersion): fc.Arbitrary<Packet> => fc.oneof(
  { weight: 4, arbitrary: packetArb(v) },
  { weight: 1, arbitrary: publishArb(v) },
  { weight: 1, arbitrary: connectArb(v) },
  { weight: 1, arbitrary: subscribeArb(v) },
);

/** Valid packets of one version, encoded, one of them damaged; sometimes read with another version. */
const mutatedArb: fc.Arbitrary<Hostile> = fc.constantFrom<ProtocolVersion>(3, 4, 5, 5, 5).chain((v) => fc.record({
  decoderVersion: fc.oneof({ weight: 4, arbitrary: fc.constant(v) }, { weight: 1, arbitrary: version }),
  // One packet is damaged; valid ones may come before and after it.
  bytes: fc.tuple(
    fc.array(packetArb(v), { maxLength: 2 }),
    targetArb(v),
    fc.oneof(
      // Field-aware edits, Remaining Length kept consistent.
      fc.array(editArb, { minLength: 1, maxLength: 3 }),
      // Blind byte damage to the whole packet, header included.
      fc.array(mutationArb, { minLength: 1, maxLength: 3 }).map((m) => ({ blind: m })),
    ),
    fc.array(packetArb(v), { maxLength: 2 }),
  ).map(([before, target, damage, after]) => {
    const enc = encodePacket(target, v);
    const damaged = Array.isArray(damage) ? edit(target, enc, damage) : mutate(enc, damage.blind);
    return Buffer.concat([...before.map((p) => encodePacket(p, v)), damaged, ...after.map((p) => encodePacket(p, v))]);
  }),
  cuts: cutsArb,
}));

/** A plausible fixed header (any type and flags, minimal length) followed by random body bytes. */
const framedNoiseArb: fc.Arbitrary<Buffer> = fc.array(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }))
    .map(([first, body]) => Buffer.concat([Buffer.from([first, ...varintBytes(body.length)]), body])),
  { minLength: 1, maxLength: 4 }).map((parts) => Buffer.concat(parts));

/** A fixed header announcing more than the maximum packet size, then up to twice that many bytes. */
const oversizedArb: fc.Arbitrary<Buffer> = fc.tuple(
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: SMALL_MAX - 1, max: 4 * SMALL_MAX }),
  fc.integer({ min: 0, max: 2 * SMALL_MAX }),
).map(([first, length, have]) => {
  return Buffer.concat([Buffer.from([first, ...varintBytes(length)]), Buffer.alloc(have, 0x41)]);
});

const hostileArb: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ decoderVersion: version, bytes: oversizedArb, cuts: cutsArb }) },
  { weight: 1, arbitrary: fc.record({
    decoderVersion: version, bytes: fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), cuts: cutsArb,
  }) },
  { weight: 1, arbitrary: fc.record({ decoderVersion: version, bytes: framedNoiseArb, cuts: cutsArb }) },
  { weight: 4, arbitrary: mutatedArb },
);

interface Fed { packets: Packet[]; versions: ProtocolVersion[]; error: MoatError | undefined }

/**
 * Feeds `h` to a decoder with a small maximum packet size, checking on the way that it only delivers
 * packets or throws a MoatError (and then stays failed), and never buffers more than the maximum.
 */
function feed(h: Hostile): Fed {
  const d = new PacketDecoder({ maxPacketSize: SMALL_MAX, protocolVersion: h.decoderVersion });
  const fed: Fed = { packets: [], versions: [], error: undefined };
  for (const chunk of split(h.bytes, h.cuts)) {
    try {
      d.write(chunk, (p) => {
        assert.ok(typeof p === 'object' && p !== null && PACKET_TYPES.has(p.type), `onPacket got ${String(p)}`);
        fed.packets.push(p);
        fed.versions.push(p.type === 'connect' ? p.protocolVersion : d.protocolVersion);
      });
    } catch (err) {
      assertMoatError(err);
      fed.error = err;
      assert.throws(() => d.write(Buffer.from([0xc0, 0x00]), () => assert.fail('packet after failure')),
        (again) => again === err, 'a failed decoder must keep throwing its error');
      break;
    }
    assert.ok(d.bufferedBytes <= SMALL_MAX, `bufferedBytes ${d.bufferedBytes} > maxPacketSize ${SMALL_MAX}`);
  }
  return fed;
}

test('fuzz: random and damaged bytes give packets or a MoatError, and stay within maxPacketSize', () => {
  fc.assert(fc.property(hostileArb, (h) => { feed(h); }), params(2000));
});

test('fuzz: whatever the decoder accepts from damaged input re-encodes to the same packets', () => {
  fc.assert(fc.property(mutatedArb, (h) => {
    const { packets, versions } = feed(h);
    if (packets.length === 0) return;
    const again = Buffer.concat(packets.map((p, i) => encodePacket(p, versions[i])));
    assert.deepStrictEqual(decodeAll(again, { ...LARGE, protocolVersion: h.decoderVersion }), packets);
  }), params(4000));
});

// -------------------------------------------------------------- 6. the encoder refuses or round-trips

type Leaf = Array<string | number>;

/** Paths to every number and string in a packet, except its type and protocol name and version. */
function leafPaths(value: unknown, path: Leaf = [], out: Leaf[] = []): Leaf[] {
  if (typeof value === 'number' || typeof value === 'string') {
    if (!['type', 'protocolName', 'protocolVersion'].includes(String(path[0]))) out.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((x, i) => leafPaths(x, [...path, i], out));
  } else if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const [k, x] of Object.entries(value)) leafPaths(x, [...path, k], out);
  }
  return out;
}

/** Deep copy that keeps Buffers shared. */
function clone<T>(v: T): T {
  if (Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
  return v;
}


const fieldName = (path: Leaf): string => path.filter((k) => typeof k === 'string').join('.');

const badNumber = fc.constantFrom(0, -1, 1.5, 3, 255, 256, 0xffff, 0x1_0000, 2 ** 32, 268_435_456, Number.NaN);
const badString = fc.constantFrom(
  '', '+', '#', 'a/+', 'a/#/b', 'a\0', '\uD800', '\uDC00x', '$share/g/', '$share//a', 'x'.repeat(65_536),
);

test('fuzz: encodePacket refuses a packet with one field out of range (MOAT_ERR_INVALID_PACKET) or writes it faithfully', () => {
  const arb = version.chain((v) => fc.tuple(fc.constant(v), packetArb(v), fc.nat(), badNumber, badString));
  fc.assert(fc.property(arb, ([v, valid, pick, n, str]) => {
    const paths = leafPaths(valid);
    const path = paths[pick % Math.max(1, paths.length)];
    if (path === undefined) return;
    const p = clone(valid);
    let holder = p as unknown as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) holder = holder[k] as Record<string | number, unknown>;
    const key = path[path.length - 1]!;
    holder[key] = typeof holder[key] === 'number' ? n : str;
    // A PUBLISH whose QoS drops to 0 keeps a stray packetId the encoder rightly leaves out.
    fc.pre(!(p.type === 'publish' && key === 'qos' && p.qos === 0));
    let bytes: Buffer;
    try {
      bytes = encodePacket(p, v);
    } catch (err) {
      assert.ok(err instanceof MoatError, `encodePacket threw a non-MoatError: ${String(err)}`);
      assert.equal(err.code, 'MOAT_ERR_INVALID_PACKET', err.message);
      return;
    }
    const shown = typeof holder[key] === 'string' ? JSON.stringify(holder[key]).slice(0, 20) : String(holder[key]);
    assert.deepStrictEqual(decodeAll(bytes, { ...LARGE, protocolVersion: v }), [p],
      `encodePacket wrote ${fieldName(path)} = ${shown} as ${bytes.toString('hex').slice(0, 80)}`);
  }), params(3000));
});

// ----------------------------------------------------------------------------------------- 5. fan-out

const messageArb: fc.Arbitrary<FanoutMessage> = fc.record({
  topic: topicName,
  payload: fc.oneof({ weight: 3, arbitrary: binary(64) }, { weight: 1, arbitrary: binary(2100, 2040) }),
  properties: propertiesArb<PublishProperties>('publish'),
}).map((m) => compact<FanoutMessage>(m));

/** Either a value from a small pool (so variants often differ in one field only) or any value. */
const pooled = <T>(pool: T[], any: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<T | undefined>(undefined, ...pool) },
  { weight: 1, arbitrary: any },
);

/** Valid variants only: QoS > 0 with a packet id, DUP only with QoS > 0, an empty topic only with an alias in v5. */
const variantArb: fc.Arbitrary<PublishVariant> = fc.record({
  version,
  qos,
  packetId,
  retain: fc.boolean(),
  dup: fc.option(fc.boolean(), { nil: undefined }),
  subscriptionIdentifiers: pooled([[], [1], [1, 2], [2, 1]], fc.array(subscriptionId, { maxLength: 3 })),
  topicAlias: pooled([1, 2], fc.integer({ min: 1, max: 0xffff })),
  omitTopic: fc.option(fc.boolean(), { nil: undefined }),
  messageExpiryInterval: pooled([0, 60], u32),
}).map((v) => compact<PublishVariant>({
  ...v,
  packetId: v.qos > 0 ? v.packetId : undefined,
  dup: v.qos > 0 ? v.dup : undefined,
  omitTopic: v.version === 5 && v.topicAlias !== undefined ? v.omitTopic : undefined,
}));

/**
 * A neighbour of `v` differing in one field (kept valid), so that a cache key forgetting a field
 * hands one subscriber another's bytes.
 */
function tweak(v: PublishVariant, field: number, n: number): PublishVariant {
  const w: PublishVariant = { ...v };
  switch (field % 8) {
    case 0: w.retain = !w.retain; break;
    case 1: w.version = ([3, 4, 5] as const)[n % 3]!; break;
    case 2: w.qos = ([0, 1, 2] as const)[n % 3]!; break;
    case 3: w.dup = !w.dup; break;
    case 4: w.topicAlias = w.topicAlias === undefined ? 1 + (n % 0xffff) : undefined; break;
    case 5: w.omitTopic = !w.omitTopic; break;
    case 6: w.messageExpiryInterval = w.messageExpiryInterval === undefined ? n : undefined; break;
    case 7: w.subscriptionIdentifiers = [...(w.subscriptionIdentifiers ?? []), 1 + (n % 1000)]; break;
  }
  return compact<PublishVariant>({
    ...w,
    packetId: w.qos > 0 ? (w.packetId ?? 1 + (n % 0xffff)) : undefined,
    dup: w.qos > 0 ? w.dup : undefined,
    omitTopic: w.version === 5 && w.topicAlias !== undefined ? w.omitTopic : undefined,
  });
}

/** The PUBLISH a subscriber with variant `v` must receive. */
function expectedPublish(m: FanoutMessage, v: PublishVariant): PublishPacket {
  let properties: PublishProperties | undefined;
  if (v.version === 5) {
    const { topicAlias: _a, subscriptionIdentifiers: _s, ...base } = m.properties ?? {};
    const p: PublishProperties = { ...base };
    if (v.messageExpiryInterval !== undefined) p.messageExpiryInterval = v.messageExpiryInterval;
    if (v.topicAlias !== undefined) p.topicAlias = v.topicAlias;
    if (v.subscriptionIdentifiers !== undefined && v.subscriptionIdentifiers.length > 0) {
      p.subscriptionIdentifiers = v.subscriptionIdentifiers;
    }
    if (Object.keys(p).length > 0) properties = p;
  }
  return compact<PublishPacket>({
    type: 'publish', topic: v.omitTopic ? '' : m.topic, payload: m.payload, qos: v.qos as QoS,
    retain: v.retain, dup: v.dup === true, packetId: v.qos > 0 ? v.packetId : undefined, properties,
  });
}

test('fuzz: PublishFanout bytes decode to the expected PUBLISH and equal encodePacket byte for byte', () => {
  const arb = fc.tuple(
    messageArb,
    fc.array(variantArb, { minLength: 1, maxLength: 8 }),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { maxLength: 8 }),
    fc.array(fc.nat(), { maxLength: 12 }),
  );
  fc.assert(fc.property(arb, ([message, base, tweaks, repeats]) => {
    const variants = [...base];
    for (const [i, field, n] of tweaks) variants.push(tweak(variants[i % variants.length]!, field, n));
    const payloadBefore = Buffer.from(message.payload);
    const fanout = new PublishFanout(message);
    // Each variant once, then some again, so templates built earlier are reused.
    const order = [...variants.keys(), ...repeats.map((r) => r % variants.length)];
    for (const i of order) {
      const v = variants[i]!;
      const expected = expectedPublish(message, v);
      const chunks = fanout.encode(v);
      const bytes = Buffer.concat(chunks);
      assert.deepStrictEqual(decodeAll(bytes, { ...LARGE, protocolVersion: v.version }), [expected]);
      assert.deepStrictEqual(bytes, encodePacket(expected, v.version));
      assert.equal(fanout.size(v), bytes.length);
      if (v.qos === 0) {
        // QoS 0: every subscriber with this variant gets the very same buffers.
        const again = fanout.encode({ ...v });
        assert.equal(again.length, chunks.length);
        again.forEach((c, k) => assert.equal(c, chunks[k], 'QoS 0 chunks are shared across calls'));
      } else {
        // QoS > 0: the header (with the packet id) is this subscriber's own copy.
        chunks[0]!.fill(0xee);
        const next = Buffer.concat(fanout.encode(v));
        assert.deepStrictEqual(next, bytes, 'modifying one QoS > 0 result changed the next');
      }
    }
    assert.deepStrictEqual(message.payload, payloadBefore, 'fan-out modified the message payload');
  }), params(500));
});
