import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressToBigInt, CidrSet, parseCidr, sourceKey } from '../../../src/security/cidr.ts';

test('IPv4 CIDR matches inside and not outside', () => {
  const s = new CidrSet(['192.0.2.0/24', '10.1.2.3']);
  assert.equal(s.has('192.0.2.200'), true);
  assert.equal(s.has('192.0.3.1'), false);
  assert.equal(s.has('10.1.2.3'), true);
  assert.equal(s.has('10.1.2.4'), false);
  assert.equal(s.has('::ffff:192.0.2.9'), true, 'IPv4-mapped IPv6 matches the IPv4 rule');
});

test('IPv6 CIDR and compressed forms', () => {
  const s = new CidrSet(['2001:db8::/32', '::1']);
  assert.equal(s.has('2001:db8:1::5'), true);
  assert.equal(s.has('2001:db9::1'), false);
  assert.equal(s.has('::1'), true);
  assert.equal(s.has('0:0:0:0:0:0:0:1'), true);
});

test('bad input never throws and never matches', () => {
  assert.equal(parseCidr('nope'), undefined);
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(parseCidr('10.0.0.0/'), undefined, 'an empty prefix is not /0');
  assert.equal(parseCidr('10.0.0.0/+8'), undefined);
  assert.equal(addressToBigInt('1.2.3'), undefined);
  assert.equal(new CidrSet(['0.0.0.0/0']).has('garbage'), false);
  assert.equal(new CidrSet(['0.0.0.0/0']).has('203.0.113.1'), true);
});

test('sourceKey: IPv4 and IPv4-mapped stay themselves, IPv6 counts per /64', () => {
  assert.equal(sourceKey('198.51.100.7'), '198.51.100.7');
  assert.equal(sourceKey('::ffff:198.51.100.7'), '::ffff:198.51.100.7');
  assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::');
  assert.equal(sourceKey('2001:db8:1:2::99'), '2001:db8:1:2::', 'two hosts of one /64 share a key');
  assert.notEqual(sourceKey('2001:db8:1:3::1'), sourceKey('2001:db8:1:2::1'), 'neighbouring /64s do not');
  assert.equal(sourceKey('::1'), '0:0:0:0::');
  assert.equal(sourceKey('not-an-ip:x'), 'not-an-ip:x', 'garbage is returned as is, never throws');
  assert.equal(new CidrSet(['2001:db8:1:2::/64']).has(sourceKey('2001:db8:1:2::abcd')), true, 'the key is an address inside its /64');
});
