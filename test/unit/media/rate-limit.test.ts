/** The per-stream packet-rate cap (media.maxPacketRate): a token bucket read lazily. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PacketRateLimiter } from '../../../src/media/relay.ts';
import { sleep } from './helpers.ts';

it('passes a burst of rate/5 at once, then refills at the rate', async () => {
  const l = new PacketRateLimiter(100);
  let passed = 0;
  for (let i = 0; i < 1000; i++) if (l.take()) passed++;
  assert.ok(passed >= 20 && passed <= 22, `burst ${passed}`);
  await sleep(100); // ≈ 10 tokens
  passed = 0;
  for (let i = 0; i < 1000; i++) if (l.take()) passed++;
  assert.ok(passed >= 8 && passed <= 20, `refill ${passed}`);
});

it('a rate of 0 is no cap; refill() restores the burst', () => {
  const open = new PacketRateLimiter(0);
  for (let i = 0; i < 10_000; i++) assert.equal(open.take(), true);
  const l = new PacketRateLimiter(10); // a token per 100 ms: no refill between the two checks
  while (l.take()) {}
  assert.equal(l.take(), false);
  l.refill();
  assert.equal(l.take(), true);
});
