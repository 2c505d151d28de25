import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Contact, Via } from '../../../src/sip/index.ts';
import { parseCSeq, parseNameAddr, parseNameAddrList, parseVia, parseViaValue, splitList } from '../../../src/sip/index.ts';
import { val } from './helpers.ts';

describe('Via', () => {
  it('parses sent-protocol, sent-by and params with SWS around separators', () => {
    const v = val(parseVia('SIP / 2.0 / udp  [2001:db8::1] : 5060 ; branch = z9hG4bK1 ; rport ; received=192.0.2.1'));
    assert.equal(v.protocol, 'SIP/2.0');
    assert.equal(v.transport, 'UDP');
    assert.equal(v.host, '2001:db8::1');
    assert.equal(v.port, 5060);
    assert.equal(v.branch, 'z9hG4bK1');
    assert.equal(v.params.get('rport'), null);
    assert.equal(v.params.get('received'), '192.0.2.1');
  });

  it('splits several via-parms of one header value', () => {
    const out: Via[] = [];
    val(parseViaValue('SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5070;branch="z9hG4bK2"', out));
    assert.deepEqual(
      out.map((v) => [v.transport, v.host, v.port]),
      [
        ['UDP', 'a.example.com', undefined],
        ['TCP', 'b.example.com', 5070],
      ],
    );
    assert.equal(out[1]?.branch, '"z9hG4bK2"');
  });

  it('rejects malformed Via values with SIP_BAD_VIA', () => {
    for (const bad of [
      '',
      'SIP/2.0/UDP',
      'SIP/2.0 UDP host',
      'SIP/2.0/UDP host;;',
      'SIP/2.0/UDP host;branch',
      'SIP/2.0/UDP host,',
      'SIP/2.0/UDP [::1',
      'SIP/2.0/UDP host:x',
      'SIP/2.0/UDP host junk',
    ]) {
      const r = parseVia(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.error.code, 'SIP_BAD_VIA', bad);
    }
  });
});

describe('name-addr', () => {
  it('parses quoted and token display names, addr-spec and header params', () => {
    const a = val(parseNameAddr('"Alice \\"A\\" Smith" <sip:alice@example.com;transport=tcp>;tag=88;x', 1024));
    assert.equal(a.displayName, 'Alice "A" Smith');
    assert.equal(a.uri.params.get('transport'), 'tcp');
    assert.equal(a.tag, '88');
    assert.equal(a.params.get('x'), null);
    const b = val(parseNameAddr('Bob  Jones<sip:bob@example.com>', 1024));
    assert.equal(b.displayName, 'Bob  Jones');
    const c = val(parseNameAddr('sip:carol@example.com;tag=7', 1024));
    assert.equal(c.displayName, undefined);
    assert.equal(c.tag, '7');
    assert.equal(c.uri.params.size, 0, 'in addr-spec form ;tag is a header parameter');
  });

  it('rejects what RFC 4475 §3.1.2 calls invalid', () => {
    for (const bad of [
      '"unterminated <sip:a@b>',
      '< sip:a@b >',
      'Bell, Alexander <sip:a@b>',
      'sip:a@b?x=y',
      '<sip:a@b',
      '<sip:a@b>;tag',
      '<sip:a@b> junk',
      '',
    ]) {
      const r = parseNameAddr(bad, 1024);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.error.code, 'SIP_BAD_NAME_ADDR', bad);
    }
  });

  it('parses Contact lists, "*" and expires', () => {
    const out: Contact[] = [];
    val(parseNameAddrList('<sip:a@b>;expires=60, "X" <sip:c@d>;expires=99999999999', 1024, true, out));
    assert.deepEqual(
      out.map((c) => c.expires),
      [60, 0xffffffff],
    );
    const star: Contact[] = [];
    val(parseNameAddrList('*', 1024, true, star));
    assert.equal(star[0]?.star, true);
    const mixed = parseNameAddrList('*, <sip:a@b>', 1024, true, []);
    assert.equal(mixed.ok, false);
  });
});

describe('CSeq and lists', () => {
  it('parses CSeq and bounds the number below 2**31', () => {
    assert.deepEqual(val(parseCSeq(' 0009 \t INVITE ')), { seq: 9, method: 'INVITE' });
    assert.deepEqual(val(parseCSeq('2147483647 BYE')), { seq: 2147483647, method: 'BYE' });
    for (const bad of ['2147483648 BYE', 'INVITE', '1', '1INVITE', '1 INV ITE', '-1 BYE']) {
      const r = parseCSeq(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.error.code, 'SIP_BAD_CSEQ');
    }
  });

  it('splitList respects quotes, escapes and <>', () => {
    assert.deepEqual(splitList('a, "b,\\" c", <sip:x,y@z>;p=1 ,, d'), ['a', '"b,\\" c"', '<sip:x,y@z>;p=1', 'd']);
    assert.deepEqual(splitList(''), []);
  });
});
