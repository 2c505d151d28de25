import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { HmacSha1 } from '../../../../src/media/srtp/hmac-sha1.ts';
import { flipBits } from './helpers.ts';

function reference(key: Buffer, msg: Buffer, suffix: number | undefined): Buffer {
  const h = createHmac('sha1', key).update(msg);
  if (suffix !== undefined) {
    const s = Buffer.alloc(4);
    s.writeUInt32BE(suffix);
    h.update(s);
  }
  return h.digest();
}

test('RFC 2202 test case 2 (key "Jefe")', () => {
  const mac = new HmacSha1(Buffer.from('Jefe'));
  const msg = Buffer.from('what do ya want for nothing?');
  mac.compute(msg, 0, msg.length, 0, false);
  const out = Buffer.alloc(20);
  mac.writeTag(out, 0, 20);
  assert.equal(out.toString('hex'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
});

test('matches node:crypto for every length 0..300, at an offset, with and without the 32-bit suffix', () => {
  const key = randomBytes(20);
  const mac = new HmacSha1(key);
  const data = randomBytes(310);
  const out = Buffer.alloc(20);
  for (let len = 0; len <= 300; len++) {
    for (const suffix of [undefined, 0, 0xdeadbeef]) {
      const start = len % 7;
      mac.compute(data, start, start + len, suffix ?? 0, suffix !== undefined);
      mac.writeTag(out, 0, 20);
      const ref = reference(key, data.subarray(start, start + len), suffix);
      assert.equal(out.toString('hex'), ref.toString('hex'), `len ${len} suffix ${suffix}`);
      assert.equal(mac.tagEquals(ref, 0, 10), true);
      flipBits(ref, 3, 0x40);
      assert.equal(mac.tagEquals(ref, 0, 10), false);
    }
  }
});

test('truncated tags are the leading bytes', () => {
  const key = randomBytes(20);
  const mac = new HmacSha1(key);
  const msg = randomBytes(172);
  mac.compute(msg, 0, msg.length, 7, true);
  const tag4 = Buffer.alloc(4);
  mac.writeTag(tag4, 0, 4);
  assert.deepEqual(tag4, reference(key, msg, 7).subarray(0, 4));
});
