/**
 * The batched AES-CM keystream against a straightforward reference (one AES-CTR cipher per packet with the
 * RFC 3711 §4.1.1 IV), over in-order runs, jumps, reordering, size changes and more SSRCs than batch slots.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AesCmKeystream } from '../../../../src/media/srtp/aes-cm.ts';
import { nth } from './helpers.ts';

function reference(key: Buffer, salt: Buffer, ssrc: number, index: number, data: Buffer): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0, 0, 14);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  const hi = Math.floor(index / 65536);
  iv.writeUInt32BE((iv.readUInt32BE(8) ^ hi) >>> 0, 8);
  iv.writeUInt16BE(iv.readUInt16BE(12) ^ (index % 65536), 12);
  return createCipheriv('aes-128-ctr', key, iv).update(data);
}

test('matches per-packet AES-CTR for every access pattern', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const ks = new AesCmKeystream(key, salt);
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // Four SSRCs share the four batch slots; a fifth, rare one evicts them. Each starts just below a ROC
  // boundary so in-order batches cross it.
  const ssrcs = [1, 0xffffffff, 0x12345678, 42, 7];
  const next = ssrcs.map((_, i) => (i + 1) * 65536 - 60);
  for (let step = 0; step < 4000; step++) {
    const pick = rnd(100) === 0 ? 4 : rnd(10) < 7 ? 0 : rnd(4);
    const ssrc = nth(ssrcs, pick);
    let index = nth(next, pick);
    const r = rnd(40);
    if (r === 0)
      index += 1 + rnd(100); // jump ahead
    else if (r === 1) index = Math.max(0, index - 1 - rnd(5)); // late packet
    next[pick] = index + 1;
    if (r === 2) index = 2 ** 48 - 1 - rnd(3); // end of the index space, once
    const len = rnd(10) < 8 ? 160 : rnd(1500);
    const data = randomBytes(len + 5);
    const out = Buffer.alloc(len + 5);
    ks.xor(data, 5, len + 5, out, 0, ssrc, Math.floor(index / 65536), index % 65536);
    const want = reference(key, salt, ssrc, index, data.subarray(5));
    assert.equal(out.subarray(0, len).toString('hex'), want.toString('hex'), `step ${step} ssrc ${ssrc} index ${index} len ${len}`);
  }
});

test('in place', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const ks = new AesCmKeystream(key, salt);
  const data = randomBytes(200);
  const want = reference(key, salt, 9, 70000, data.subarray(12));
  ks.xor(data, 12, 200, data, 12, 9, 1, 70000 - 65536);
  assert.deepEqual(data.subarray(12), want);
});

test('in-order packets batched across ROC boundaries', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const ks = new AesCmKeystream(key, salt);
  for (let index = 2 * 65536 - 50; index < 2 * 65536 + 150; index++) {
    const data = randomBytes(160);
    const out = Buffer.alloc(160);
    ks.xor(data, 0, 160, out, 0, 0xabcdef01, Math.floor(index / 65536), index % 65536);
    assert.deepEqual(out, reference(key, salt, 0xabcdef01, index, data), `index ${index}`);
  }
});

test('every source and destination alignment (word-wise and byte-wise XOR agree)', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const ks = new AesCmKeystream(key, salt);
  let index = 100;
  for (let so = 0; so < 8; so++) {
    for (let dOff = 0; dOff < 8; dOff++) {
      for (const len of [31, 32, 33, 160, 161, 163]) {
        const src = Buffer.alloc(so + len + 8);
        randomBytes(len).copy(src, so);
        const dst = Buffer.alloc(dOff + len + 8, 0xee);
        ks.xor(src, so, so + len, dst, dOff, 3, 0, index);
        const want = reference(key, salt, 3, index, src.subarray(so, so + len));
        assert.deepEqual(dst.subarray(dOff, dOff + len), want, `src ${so} dst ${dOff} len ${len}`);
        assert.equal(dst[dOff + len], 0xee, 'nothing written past the end');
        if (dOff > 0) assert.equal(dst[dOff - 1], 0xee, 'nothing written before the start');
        index++;
      }
    }
  }
});
