import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { INVITE_LINES, invite, mustParse, wire } from './helpers.ts';

describe('serialize', () => {
  it('returns the input bytes for an untouched message (folding, odd spacing, compact names kept)', () => {
    const b = wire(
      [
        'OPTIONS sip:bob@example.com SIP/2.0',
        'v:SIP/2.0/UDP a.example.com ;branch=z9hG4bK1',
        'From :  <sip:a@example.com>',
        '  ;tag=x',
        'TO: <sip:bob@example.com>',
        'i: abc@def',
        'CSeq: 7 OPTIONS',
        'Subject: café',
        'l: 3',
      ],
      'abc',
    );
    assert.deepEqual(mustParse(b).serialize(), b);
  });

  it('drops bytes after the body and adds a missing Content-Length', () => {
    const m = mustParse(Buffer.concat([invite(), Buffer.from('junk')]));
    assert.deepEqual(m.serialize(), invite());
    const noCl = mustParse(
      wire(
        INVITE_LINES.filter((l) => !l.startsWith('Content-Length')),
        'v=0\n',
      ),
    );
    assert.deepEqual(noCl.serialize(), invite());
  });

  it('copies untouched lines byte for byte and writes edited ones', () => {
    const b = wire([
      'OPTIONS sip:bob@example.com SIP/2.0',
      'Via:   SIP/2.0/UDP a.example.com;branch=z9hG4bK1',
      'From: <sip:a@example.com>;tag=x',
      'To: <sip:bob@example.com>',
      'Call-ID:  abc@def',
      'CSeq: 7 OPTIONS',
      'X-Keep:   spaced   out',
      'Content-Length: 0',
    ]);
    const m = mustParse(b);
    m.set('To', '<sip:bob@example.com>;tag=y');
    m.prepend('Via', 'SIP/2.0/UDP p.example.com;branch=z9hG4bKp');
    const out = m.serialize().toString('latin1');
    assert.equal(
      out,
      [
        'OPTIONS sip:bob@example.com SIP/2.0',
        'Via: SIP/2.0/UDP p.example.com;branch=z9hG4bKp',
        'Via:   SIP/2.0/UDP a.example.com;branch=z9hG4bK1',
        'From: <sip:a@example.com>;tag=x',
        'To: <sip:bob@example.com>;tag=y',
        'Call-ID:  abc@def',
        'CSeq: 7 OPTIONS',
        'X-Keep:   spaced   out',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('always writes one correct Content-Length', () => {
    const m = mustParse(invite());
    m.append('Content-Length', '999');
    m.append('l', '1');
    const s = m.serialize().toString();
    assert.equal(s.match(/^(Content-Length|l):/gim)?.length, 1);
    assert.match(s, /\r\nContent-Length: 4\r\n\r\nv=0\n$/);
    const again = mustParse(m.serialize());
    assert.equal(again.body.toString(), 'v=0\n');
  });

  it('encodes edited UTF-8 values as UTF-8 and keeps binary bodies', () => {
    const m = mustParse(invite());
    m.set('Subject', 'naïve ☕');
    const body = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]);
    m.setBody(body, 'application/octet-stream');
    const again = mustParse(m.serialize());
    assert.equal(again.get('subject'), 'naïve ☕');
    assert.deepEqual(again.body, body);
  });

  it('round-trips the malformed set baseline byte for byte', () => {
    const b = readFileSync(new URL('../../fixtures/sip-malformed/baseline-valid.dat', import.meta.url));
    assert.deepEqual(mustParse(b).serialize(), b);
  });
});
