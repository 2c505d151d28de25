import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseUri } from '../../../src/sip/index.ts';
import { val } from './helpers.ts';

const MAX = 1024;

describe('parseUri', () => {
  it('parses a full SIP URI', () => {
    const u = val(parseUri('sip:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent', MAX));
    assert.equal(u.scheme, 'sip');
    assert.equal(u.user, 'alice');
    assert.equal(u.password, 'secret');
    assert.equal(u.host, 'atlanta.example.com');
    assert.equal(u.port, 5061);
    assert.equal(u.params.get('transport'), 'tcp');
    assert.equal(u.params.get('lr'), null);
    assert.equal(u.headers.get('subject'), 'project x');
    assert.equal(u.headers.get('priority'), 'urgent');
  });

  it('lower-cases scheme and parameter names, keeps the host as written', () => {
    const u = val(parseUri('SIPS:Bob@BiLoXi.Example.COM;Transport=TLS', MAX));
    assert.equal(u.scheme, 'sips');
    assert.equal(u.host, 'BiLoXi.Example.COM');
    assert.equal(u.params.get('transport'), 'TLS');
    assert.equal(u.raw, 'SIPS:Bob@BiLoXi.Example.COM;Transport=TLS');
  });

  it('handles IPv6 references (RFC 5118)', () => {
    const a = val(parseUri('sip:[2001:db8::10]:5070', MAX));
    assert.equal(a.host, '2001:db8::10');
    assert.equal(a.port, 5070);
    const b = val(parseUri('sip:user@[2001:db8::10:5070]', MAX));
    assert.equal(b.host, '2001:db8::10:5070');
    assert.equal(b.port, undefined);
    assert.equal(val(parseUri('sip:[::ffff:192.0.2.1]', MAX)).host, '::ffff:192.0.2.1');
    for (const bad of ['sip:2001:db8::10', 'sip:[2001:db8::10', 'sip:[2001:db8:::192.0.2.1]', 'sip:[zz::1]', 'sip:[fe80::1%25eth0]']) {
      const r = parseUri(bad, MAX);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.error.code, 'SIP_BAD_URI');
    }
  });

  it('unescapes the user part, allowing ; and ? in it', () => {
    assert.equal(val(parseUri('sip:user;par=u%40example.net@example.com', MAX)).user, 'user;par=u@example.net');
    assert.equal(val(parseUri('sip:%E2%98%95@example.com', MAX)).user, '☕');
    assert.equal(parseUri('sip:a%zz@example.com', MAX).ok, false);
  });

  it('parses tel: and keeps other schemes opaque', () => {
    const t = val(parseUri('tel:+1-201-555-0123;phone-context=example.com', MAX));
    assert.equal(t.scheme, 'tel');
    assert.equal(t.user, '+1-201-555-0123');
    assert.equal(t.host, '');
    assert.equal(t.params.get('phone-context'), 'example.com');
    const o = val(parseUri('urn:service:sos', MAX));
    assert.equal(o.scheme, 'urn');
    assert.equal(o.host, '');
    assert.equal(o.raw, 'urn:service:sos');
  });

  it('rejects malformed URIs and long ones with stable codes', () => {
    for (const bad of [
      '',
      'sip',
      ':x',
      '<sip:a@b>',
      'sip:',
      'sip:a@',
      'sip:a@b:',
      'sip:a@b:99999',
      'sip:a@b;',
      'sip:a@b c',
      'sip:a@b?x',
      '1sip:a@b',
    ]) {
      const r = parseUri(bad, MAX);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.error.code, 'SIP_BAD_URI', bad);
    }
    const long = parseUri(`sip:${'a'.repeat(100)}@example.com`, 50);
    assert.equal(long.ok, false);
    if (!long.ok) assert.equal(long.error.code, 'SIP_URI_TOO_LONG');
  });
});
