import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/log.ts';
import { elementFor, openKernelBans, tableScript } from '../../../src/security/kernel-bans.ts';

describe('kernel bans: elements', () => {
  it('puts addresses and ranges in the set of their family', () => {
    assert.deepEqual(elementFor('192.0.2.7'), { set: 'addr4', element: '192.0.2.7' });
    assert.deepEqual(elementFor('192.0.2.0/24'), { set: 'net4', element: '192.0.2.0/24' });
    assert.deepEqual(elementFor('192.0.2.7/32'), { set: 'addr4', element: '192.0.2.7' });
    assert.deepEqual(elementFor('2001:DB8::/64'), { set: 'net6', element: '2001:db8::/64' });
    assert.deepEqual(elementFor('2001:db8::1'), { set: 'addr6', element: '2001:db8::1' });
  });
  it('treats an IPv4-mapped ban as the IPv4 ban the kernel sees', () => {
    assert.deepEqual(elementFor('::ffff:192.0.2.7'), { set: 'addr4', element: '192.0.2.7' });
    assert.deepEqual(elementFor('::ffff:192.0.2.0/120'), { set: 'net4', element: '192.0.2.0/24' });
  });
  it('refuses anything that is not an address or a valid prefix (nothing else reaches an nft script)', () => {
    for (const t of ['', 'example.com', '1.2.3.4; flush ruleset', '1.2.3.4/33', '1.2.3.4/x', '::1/129', '} drop {']) {
      assert.equal(elementFor(t), undefined, t);
    }
  });
});

describe('kernel bans: batching against a scripted nft', () => {
  it('creates the table for the given ports, batches changes, replaces an element on re-ban, deletes the table at close', async () => {
    const scripts: string[] = [];
    const k = await openKernelBans({
      nft: 'nft',
      table: 'palisade_t',
      udpPorts: [5060],
      tcpPorts: [5060, 5061],
      logger: silentLogger,
      wallNow: () => 1_000_000,
      run: async (script) => {
        scripts.push(script);
        return { code: 0, stderr: '' };
      },
    });
    assert.ok(k.ok);
    assert.equal(scripts[0], tableScript('palisade_t', [5060], [5060, 5061]));
    assert.match(scripts[0] ?? '', /ip saddr @addr4 tcp dport \{ 5060, 5061 \} counter drop/);
    k.value.add('192.0.2.7', 1_000_000 + 3_600_000);
    k.value.add('198.51.100.0/24', null);
    await k.value.settle();
    assert.equal(scripts.length, 2, 'one batch for both');
    assert.match(scripts[1] ?? '', /add element inet palisade_t addr4 \{ 192\.0\.2\.7 timeout 3660s \}/);
    assert.match(scripts[1] ?? '', /add element inet palisade_t net4 \{ 198\.51\.100\.0\/24 \}/);
    k.value.add('192.0.2.7', 1_000_000 + 7_200_000); // escalation
    k.value.remove('203.0.113.9'); // never added: no command (it would fail the batch)
    await k.value.settle();
    assert.equal(
      scripts[2],
      'delete element inet palisade_t addr4 { 192.0.2.7 }\nadd element inet palisade_t addr4 { 192.0.2.7 timeout 7260s }\n',
    );
    await k.value.close();
    assert.equal(scripts.at(-1), 'delete table inet palisade_t\n');
    assert.equal(k.value.stats().errors, 0);
  });

  it('a refused batch is retried command by command, so one bad element does not hold back the others', async () => {
    const scripts: string[] = [];
    const k = await openKernelBans({
      nft: 'nft',
      table: 'palisade_t',
      udpPorts: [5060],
      tcpPorts: [],
      logger: silentLogger,
      wallNow: () => 0,
      run: async (script) => {
        scripts.push(script);
        return { code: script.includes('198.51.100.0/24') ? 1 : 0, stderr: 'Error: interval overlaps' };
      },
    });
    assert.ok(k.ok);
    k.value.add('198.51.100.0/24', null);
    k.value.add('192.0.2.7', null);
    await k.value.settle();
    assert.deepEqual(scripts.slice(1), [
      'add element inet palisade_t net4 { 198.51.100.0/24 }\nadd element inet palisade_t addr4 { 192.0.2.7 }\n',
      'add element inet palisade_t net4 { 198.51.100.0/24 }\n',
      'add element inet palisade_t addr4 { 192.0.2.7 }\n',
    ]);
    assert.equal(k.value.stats().errors, 1);
    assert.equal(k.value.stats().added, 1);
  });

  it('an nft that fails at start means no offload, with the reason', async () => {
    const k = await openKernelBans({
      nft: '/nonexistent/nft',
      table: 'palisade_t',
      udpPorts: [5060],
      tcpPorts: [],
      logger: silentLogger,
      wallNow: () => 0,
    });
    assert.equal(k.ok, false);
    assert.ok(!k.ok && /nft failed/.test(k.error));
  });
});
