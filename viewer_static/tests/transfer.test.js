// Which form a frame is asked for: HTJ2K RPCL or JPEG-LS for frames stored uncompressed, as stored for
// compressed ones, uncompressed once measured faster on this link or after a refusal or a
// decoding failure; the benchmarks' switch; the Accept headers.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AS_STORED,
  HTJ2K,
  HTJ2K_RPCL,
  JPEG_LS,
  LinkEstimate,
  TransferPolicy,
  UNCOMPRESSED,
  acceptFor,
  compressedForm,
  failureKind,
  parseForcedForm,
} from '../src/transfer.js';

const NATIVE = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const MIB = 2 ** 20;

test('Accept headers ask for one part in the syntax, or keep the loader\'s own for as stored', () => {
  assert.equal(acceptFor(HTJ2K_RPCL), 'image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202');
  assert.equal(acceptFor(HTJ2K), 'image/jphc; transfer-syntax=1.2.840.10008.1.2.4.201');
  assert.equal(acceptFor(JPEG_LS), 'image/jls; transfer-syntax=1.2.840.10008.1.2.4.80');
  assert.equal(acceptFor('1.2.840.10008.1.2.4.90'), 'image/jp2; transfer-syntax=1.2.840.10008.1.2.4.90');
  assert.equal(acceptFor(UNCOMPRESSED), 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1');
  assert.equal(acceptFor(AS_STORED), null);
});

test('by default a frame stored uncompressed comes as HTJ2K RPCL, a compressed one as stored', () => {
  const policy = new TransferPolicy();
  assert.equal(policy.formFor('/f/1', NATIVE), HTJ2K_RPCL);
  assert.equal(policy.formFor('/f/2', IMPLICIT), HTJ2K_RPCL);
  assert.equal(policy.formFor('/f/3', JPEG_LS), AS_STORED);
  assert.equal(policy.formFor('/f/4', JPEG_BASELINE), AS_STORED, 'never transcoded from a lossy source');
  assert.equal(policy.formFor('/f/5', undefined), AS_STORED, 'unknown storage: as stored, as before');
});

test('where partial images are drawn, HTJ2K RPCL, which streams; elsewhere JPEG-LS, the smallest', () => {
  assert.equal(compressedForm({ drawsPartialImages: true }), HTJ2K_RPCL);
  assert.equal(compressedForm({ drawsPartialImages: false }), JPEG_LS);
  assert.equal(new TransferPolicy({ compressed: JPEG_LS }).formFor('/f/1', NATIVE), JPEG_LS);
});

test('the benchmarks switch forces one form; anything else is auto', () => {
  assert.equal(parseForcedForm('uncompressed'), UNCOMPRESSED);
  assert.equal(parseForcedForm(JPEG_LS), JPEG_LS);
  assert.equal(parseForcedForm('stored'), AS_STORED);
  for (const value of [null, '', 'auto', '1.2.840.10008.1.2.4.50', 'image/jphc', '1.2.840.10008.1.2.4.202 ']) {
    assert.equal(parseForcedForm(value), null, String(value));
  }
  const policy = new TransferPolicy({ forced: JPEG_LS });
  assert.equal(policy.formFor('/f/1', NATIVE), JPEG_LS);
  assert.equal(policy.formFor('/f/2', JPEG_BASELINE), JPEG_LS, 'forced even where the server will refuse');
});

test('failures: a 406 is a refusal, other statuses and network errors are transport, the rest decoding', () => {
  assert.equal(failureKind({ status: 406 }), 'refused'); // XMLHttpRequest
  assert.equal(failureKind(new Error('Couldn\'t retrieve /f/1 got status 406')), 'refused'); // streaming
  assert.equal(failureKind({ status: 0 }), 'transport');
  assert.equal(failureKind(new Error('Couldn\'t retrieve /f/1 got status 503')), 'transport');
  assert.equal(failureKind(new TypeError('Failed to fetch')), 'transport');
  assert.equal(failureKind(new Error('no decoder for transfer syntax 1.2.3')), 'decoding');
  assert.equal(failureKind(new RangeError('offset is out of bounds')), 'decoding');
});

test('a refused frame is asked again uncompressed, and stays so; other frames keep HTJ2K', () => {
  const policy = new TransferPolicy();
  assert.equal(policy.fallbackFor('/f/1', HTJ2K_RPCL, NATIVE, { status: 406 }), UNCOMPRESSED);
  assert.equal(policy.formFor('/f/1', NATIVE), UNCOMPRESSED);
  assert.equal(policy.formFor('/f/2', NATIVE), HTJ2K_RPCL);
  assert.equal(policy.fallbackFor('/f/1', UNCOMPRESSED, NATIVE, { status: 406 }), null, 'nothing left to try');
});

test('a form this browser failed to decode is not asked for again on this page', () => {
  const policy = new TransferPolicy();
  assert.equal(policy.fallbackFor('/f/1', HTJ2K_RPCL, NATIVE, new Error('wasm trap')), UNCOMPRESSED);
  assert.equal(policy.formFor('/f/2', NATIVE), UNCOMPRESSED);
  assert.equal(policy.fallbackFor('/f/3', AS_STORED, JPEG_LS, new Error('bad JPEG-LS')), null, 'as stored was all there was');
});

test('a transport failure is no reason to change form', () => {
  const policy = new TransferPolicy();
  assert.equal(policy.fallbackFor('/f/1', HTJ2K_RPCL, NATIVE, { status: 503 }), null);
  assert.equal(policy.fallbackFor('/f/1', HTJ2K_RPCL, NATIVE, new TypeError('Failed to fetch')), null);
  assert.equal(policy.formFor('/f/1', NATIVE), HTJ2K_RPCL);
});

// An 8 MiB frame compressed to 40% whose decoding takes 150 ms: compression saves 4.8 MiB,
// worth it below about 270 Mbit/s.
function estimateAt(mbitPerS, bodyBytes) {
  const link = new LinkEstimate();
  const bytesPerMs = (mbitPerS * 1e6) / 8 / 1000;
  link.add({ bodyBytes, bodyMs: bodyBytes / bytesPerMs, decodedBytes: 8 * MIB, decodeMs: 150, compressed: true });
  return link;
}

test('uncompressed is chosen once measured faster: on loopback or a gigabit LAN, not at 100 Mbit/s', () => {
  assert.equal(new LinkEstimate().uncompressedIsFaster, false, 'nothing measured yet: compressed');
  assert.equal(estimateAt(20, 0.4 * 8 * MIB).uncompressedIsFaster, false);
  assert.equal(estimateAt(100, 0.4 * 8 * MIB).uncompressedIsFaster, false);
  assert.equal(estimateAt(200, 0.4 * 8 * MIB).uncompressedIsFaster, false);
  assert.equal(estimateAt(1000, 0.4 * 8 * MIB).uncompressedIsFaster, true);
  assert.equal(estimateAt(10000, 0.4 * 8 * MIB).uncompressedIsFaster, true);
});

test('the link estimate follows the link: uncompressed transfers slowing down bring compression back', () => {
  const link = estimateAt(1000, 0.4 * 8 * MIB);
  const policy = new TransferPolicy();
  policy.link = link;
  assert.equal(policy.formFor('/f/1', NATIVE), UNCOMPRESSED);
  const slow = (8 * MIB) / ((50 * 1e6) / 8 / 1000); // ms for 8 MiB at 50 Mbit/s
  for (let i = 0; i < 10; i++) link.add({ bodyBytes: 8 * MIB, bodyMs: slow, decodedBytes: 8 * MIB, decodeMs: 20, compressed: false });
  assert.equal(policy.formFor('/f/1', NATIVE), HTJ2K_RPCL);
});

test('a frame from the browser cache (no body bytes) is no sample', () => {
  const link = estimateAt(20, 0.4 * 8 * MIB);
  const before = link.bytesPerMs;
  link.add({ bodyBytes: 0, bodyMs: 0, decodedBytes: 8 * MIB, decodeMs: 150, compressed: true });
  assert.equal(link.bytesPerMs, before);
  assert.equal(link.uncompressedIsFaster, false);
});
