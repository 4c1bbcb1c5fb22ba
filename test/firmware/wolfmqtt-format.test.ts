/**
 * The wolfMQTT firmware example's payload, built here independently of src/ with Node's crypto in
 * exactly the C layout of wolfSSL/wolfMQTT examples/firmware (firmware.h FirmwareHeader, fwpush.c):
 * u16 sigLen, u16 pubKeyLen, u32 fwLen in host (little-endian) order, DER ECDSA over SHA-256 of the
 * firmware, the X9.63 public key, the firmware.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { decodeWolfMqtt, encodeWolfMqtt, FwErr, verifyWolfMqtt, WOLFMQTT_TOPIC } from '../../src/firmware/index.js';

interface Fixture { payload: Buffer; fw: Buffer; sig: Buffer; x963: Buffer; publicKey: KeyObject }

function x963FromJwk(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

function fixture(fwBytes = 3000): Fixture {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const fw = randomBytes(fwBytes);
  const sig = sign('sha256', fw, privateKey); // DER, like wc_SignatureGenerate(SHA256, ECC)
  const x963 = x963FromJwk(publicKey);
  const header = Buffer.alloc(8);
  header.writeUInt16LE(sig.length, 0);
  header.writeUInt16LE(x963.length, 2);
  header.writeUInt32LE(fw.length, 4);
  return { payload: Buffer.concat([header, sig, x963, fw]), fw, sig, x963, publicKey };
}

/** The fixture with header fields replaced (the bytes after the header unchanged). */
function withHeader(f: Fixture, h: { sigLen?: number; pubKeyLen?: number; fwLen?: number }): Buffer {
  const p = Buffer.from(f.payload);
  p.writeUInt16LE(h.sigLen ?? f.sig.length, 0);
  p.writeUInt16LE(h.pubKeyLen ?? 65, 2);
  p.writeUInt32LE(h.fwLen ?? f.fw.length, 4);
  return p;
}

test('a payload built in the C layout by Node\'s crypto decodes and verifies with its embedded key', () => {
  const f = fixture();
  assert.equal(WOLFMQTT_TOPIC, 'wolfMQTT/example/firmware');
  // The SPKI's last 65 bytes are the same X9.63 point as the JWK's x and y.
  assert.deepEqual(f.publicKey.export({ format: 'der', type: 'spki' }).subarray(-65), f.x963);
  const d = decodeWolfMqtt(f.payload);
  assert.deepEqual(d.signature, f.sig);
  assert.deepEqual(d.publicKey, f.x963);
  assert.deepEqual(d.firmware, f.fw);
  const v = verifyWolfMqtt(d);
  assert.deepEqual(v.firmware, f.fw);
  assert.equal(v.pinned, false);
});

test('encodeWolfMqtt writes the C layout: little-endian header, DER signature, X9.63 key, firmware', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const fw = randomBytes(70_000);
  const p = encodeWolfMqtt(fw, privateKey);
  const sigLen = p.readUInt16LE(0);
  assert.ok(sigLen >= 8 && sigLen <= 72);
  assert.equal(p[8], 0x30); // DER SEQUENCE
  assert.equal(p.readUInt16LE(2), 65);
  assert.equal(p.readUInt32LE(4), 70_000);
  assert.deepEqual(p.subarray(8 + sigLen, 8 + sigLen + 65), x963FromJwk(publicKey));
  assert.deepEqual(p.subarray(8 + sigLen + 65), fw);
  assert.equal(verifyWolfMqtt(decodeWolfMqtt(p), publicKey).pinned, true);
  assert.throws(() => encodeWolfMqtt(fw, generateKeyPairSync('ed25519').privateKey), { code: FwErr.key });
});

test('a flipped firmware byte fails verification with MOAT_ERR_FW_SIGNATURE', () => {
  const f = fixture();
  const p = Buffer.from(f.payload);
  p.writeUInt8(p.readUInt8(p.length - 10) ^ 1, p.length - 10);
  assert.throws(() => verifyWolfMqtt(decodeWolfMqtt(p)), { code: FwErr.signature });
});

test('with a pinned key, an embedded key that is not it is refused with MOAT_ERR_FW_UNKNOWN_SIGNER', () => {
  const f = fixture();
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  assert.throws(() => verifyWolfMqtt(decodeWolfMqtt(f.payload), other), { code: FwErr.unknownSigner });
  assert.equal(verifyWolfMqtt(decodeWolfMqtt(f.payload), f.publicKey).pinned, true);
  assert.equal(verifyWolfMqtt(decodeWolfMqtt(f.payload), f.x963).pinned, true);
});

test('an embedded key that is not a point of P-256 is refused with MOAT_ERR_FW_SIGNATURE', () => {
  const f = fixture();
  const p = Buffer.from(f.payload);
  p.fill(0x01, 8 + f.sig.length + 1, 8 + f.sig.length + 65);
  assert.throws(() => verifyWolfMqtt(decodeWolfMqtt(p)), { code: FwErr.signature });
});

test('a payload shorter than the 8-byte header is refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  const f = fixture();
  for (const n of [0, 1, 7]) assert.throws(() => decodeWolfMqtt(f.payload.subarray(0, n)), { code: FwErr.wolfmqttLength }, String(n));
});

test('lengths adding up to more than the payload are refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  const f = fixture();
  assert.throws(() => decodeWolfMqtt(withHeader(f, { fwLen: f.fw.length + 1 })), { code: FwErr.wolfmqttLength });
  assert.throws(() => decodeWolfMqtt(f.payload.subarray(0, f.payload.length - 1)), { code: FwErr.wolfmqttLength });
  assert.throws(() => decodeWolfMqtt(withHeader(f, { fwLen: 0xffffffff })), { code: FwErr.wolfmqttLength });
});

test('lengths that wrap a 32-bit sum to the payload length are refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  // fwclient.c adds 8 + sigLen + pubKeyLen + fwLen in a word32 and compares it with the payload length:
  // with fwLen near 2^32 the sum wraps to exactly that length, the C check passes and reads run far past
  // the buffer. 100 bytes, sigLen 72, pubKeyLen 65, fwLen 2^32 - 45: 8 + 72 + 65 + fwLen = 2^32 + 100.
  const f = fixture();
  const p = Buffer.from(f.payload.subarray(0, 100));
  p.writeUInt16LE(72, 0);
  p.writeUInt16LE(65, 2);
  p.writeUInt32LE(2 ** 32 - 45, 4);
  assert.equal((8 + 72 + 65 + p.readUInt32LE(4)) % 2 ** 32, p.length);
  assert.throws(() => decodeWolfMqtt(p), { code: FwErr.wolfmqttLength });
  // The same with a huge pubKeyLen instead (8 + 72 + 65535 + fwLen = 2^32 + 100).
  p.writeUInt16LE(65535, 2);
  p.writeUInt32LE(2 ** 32 + 100 - 8 - 72 - 65535, 4);
  assert.equal((8 + 72 + 65535 + p.readUInt32LE(4)) % 2 ** 32, p.length);
  assert.throws(() => decodeWolfMqtt(p), { code: FwErr.wolfmqttLength });
});

test('an fwLen that leaves bytes after the firmware, or 0, is refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  const f = fixture();
  assert.throws(() => decodeWolfMqtt(withHeader(f, { fwLen: f.fw.length - 1 })), { code: FwErr.wolfmqttLength });
  assert.throws(() => decodeWolfMqtt(Buffer.concat([f.payload, Buffer.alloc(1)])), { code: FwErr.wolfmqttLength });
  assert.throws(() => decodeWolfMqtt(withHeader(f, { fwLen: 0 })), { code: FwErr.wolfmqttLength });
});

test('a pubKeyLen other than 65 is refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  const f = fixture();
  for (const pubKeyLen of [0, 33, 64, 66, 0xffff]) {
    assert.throws(() => decodeWolfMqtt(withHeader(f, { pubKeyLen })), { code: FwErr.wolfmqttLength }, String(pubKeyLen));
  }
});

test('a sigLen of 0 or over 72 is refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  const f = fixture();
  for (const sigLen of [0, 73, 0xffff]) {
    assert.throws(() => decodeWolfMqtt(withHeader(f, { sigLen })), { code: FwErr.wolfmqttLength }, String(sigLen));
  }
});

test('a header written big-endian (not the C struct\'s host order) is refused with MOAT_ERR_FW_WOLFMQTT_LENGTH', () => {
  const f = fixture();
  const p = Buffer.from(f.payload);
  p.writeUInt16BE(f.sig.length, 0);
  p.writeUInt16BE(65, 2);
  p.writeUInt32BE(f.fw.length, 4);
  assert.throws(() => decodeWolfMqtt(p), { code: FwErr.wolfmqttLength });
});

test('lengths shifted between fields that still sum exactly decode, and verification refuses them with MOAT_ERR_FW_SIGNATURE', () => {
  const f = fixture();
  // One byte moved from the signature to the firmware: the key slice starts one byte early.
  const p = withHeader(f, { sigLen: f.sig.length - 1, fwLen: f.fw.length + 1 });
  const d = decodeWolfMqtt(p);
  assert.equal(d.firmware.length, f.fw.length + 1);
  assert.throws(() => verifyWolfMqtt(d), { code: FwErr.signature });
});
