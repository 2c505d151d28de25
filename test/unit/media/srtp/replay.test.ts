import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guessRoc, ReplayWindow } from '../../../../src/media/srtp/replay.ts';

test('RFC 3711 Appendix A index guess', () => {
  const cases: [roc: number, sl: number, seq: number, v: number][] = [
    [0, 100, 101, 0],
    [0, 100, 50, 0],
    [5, 100, 65500, 4], // late packet from before the wrap
    [0, 100, 65500, -1], // "before the first packet": caller rejects
    [5, 32767, 0, 5],
    [5, 65500, 10, 6], // first packets after the wrap
    [5, 65535, 0, 6],
    [5, 40000, 7232, 5], // sl - 32768 = 7232: not ahead
    [5, 40000, 7231, 6],
    [5, 40000, 60000, 5],
  ];
  for (const [roc, sl, seq, v] of cases) assert.equal(guessRoc(roc, sl, seq), v, `${roc} ${sl} ${seq}`);
});

test('window: new, duplicate, inside, too old, and large jumps', () => {
  const w = new ReplayWindow(64);
  assert.equal(w.check(1000), true);
  w.accept(1000);
  assert.equal(w.check(1000), false);
  assert.equal(w.check(999), true);
  assert.equal(w.check(937), true); // 63 behind
  assert.equal(w.check(936), false); // 64 behind
  w.accept(990);
  assert.equal(w.check(990), false);
  w.accept(1001);
  assert.equal(w.check(990), false, 'still remembered after sliding by one');
  // A jump larger than the ring forgets everything but the new index.
  w.accept(1001 + 10_000);
  assert.equal(w.check(1001 + 10_000), false);
  assert.equal(w.check(1001 + 9_999), true);
  assert.equal(w.check(1001), false, 'too old');
  // Indices beyond 2^32 (ROC > 65535) stay exact.
  const big = 2 ** 47 + 12345;
  w.accept(big);
  assert.equal(w.check(big), false);
  assert.equal(w.check(big - 1), true);
  assert.equal(w.check(big + 1), true);
});

test('slots the window slides over are cleared', () => {
  const w = new ReplayWindow(64);
  for (let i = 0; i < 64; i++) w.accept(i);
  // The ring is 64 bits: 64..99 reuse the slots of 0..35, which were set.
  w.accept(100);
  for (let i = 64; i < 100; i++) assert.equal(w.check(i), true, `index ${i} never received`);
  for (let i = 37; i < 64; i++) assert.equal(w.check(i), false, `index ${i} received`);
  assert.equal(w.check(36), false, 'too old');
});
