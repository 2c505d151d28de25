/**
 * Review tests for the kernel ban offload's queue, with a recording stand-in for nft (no privileges needed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/log.ts';
import { elementFor, openKernelBans } from '../../../src/security/kernel-bans.ts';

function recorder() {
  const scripts: string[] = [];
  return {
    scripts,
    run: async (script: string) => {
      scripts.push(script);
      return { code: 0, stderr: '' };
    },
  };
}

test('an unban is never dropped when the queue is full: the kernel must not keep blocking an address the gate freed', async () => {
  const r = recorder();
  const k = await openKernelBans({
    nft: 'nft',
    table: 'palisade',
    udpPorts: [5060],
    tcpPorts: [],
    logger: silentLogger,
    wallNow: () => 0,
    maxQueue: 2,
    run: r.run,
  });
  assert.ok(k.ok);
  const kb = k.value;
  kb.add('127.0.0.10', null); // a permanent ban: no kernel timeout to save the day
  await kb.settle();
  assert.ok(r.scripts.some((s) => s.includes('add element inet palisade addr4 { 127.0.0.10 }')));
  kb.add('127.0.0.11', null);
  kb.add('127.0.0.12', null); // the queue is full now
  kb.add('127.0.0.13', null); // an add beyond it is dropped (the gate still enforces it)
  kb.remove('127.0.0.10');
  await kb.settle();
  assert.ok(
    r.scripts.some((s) => s.includes('delete element inet palisade addr4 { 127.0.0.10 }')),
    `the unban reached nft; scripts: ${JSON.stringify(r.scripts.slice(1))}`,
  );
  assert.equal(kb.stats().dropped, 1);
  await kb.close();
});

test('ban targets that reach the nft script are plain addresses and prefixes only', () => {
  for (const bad of ['127.0.0.1 }; flush ruleset; {', '127.0.0.1\nflush ruleset', '1.2.3.4/24 x', 'fe80::1%eth0 }', '1.2.3.4/ 24;', '']) {
    const e = elementFor(bad);
    if (e !== undefined) assert.match(e.element, /^[0-9a-fA-F:.]+(%[0-9a-zA-Z.:-]+)?(\/\d{1,3})?$/, JSON.stringify(bad));
  }
  assert.deepEqual(elementFor('10.1.2.0/24'), { set: 'net4', element: '10.1.2.0/24' });
  assert.deepEqual(elementFor('10.1.2.3/32'), { set: 'addr4', element: '10.1.2.3' });
});
