import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SIP_LIMITS, parseMessage } from '../../../src/sip/index.ts';
import { INVITE_LINES, invite, mustParse, parseCode, val, wire } from './helpers.ts';

describe('parseMessage: start line', () => {
  it('parses a request line', () => {
    const m = mustParse(invite());
    assert.equal(m.isRequest, true);
    assert.equal(m.method, 'INVITE');
    assert.equal(m.requestUri, 'sip:bob@biloxi.example.com');
    assert.equal(m.status, undefined);
    assert.equal(val(m.uri()).user, 'bob');
  });

  it('parses a status line with an empty or UTF-8 reason', () => {
    const base = [
      'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1',
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      'Call-ID: c@h',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ];
    const r = mustParse(wire(['SIP/2.0 180 Ringing', ...base]));
    assert.equal(r.isRequest, false);
    assert.equal(r.status, 180);
    assert.equal(r.reason, 'Ringing');
    assert.equal(r.method, undefined);
    assert.equal(mustParse(wire(['SIP/2.0 100 ', ...base])).reason, '');
    assert.equal(mustParse(wire(['SIP/2.0 200 Très bien', ...base])).reason, 'Très bien');
  });

  it('rejects bad versions, methods and status codes with stable codes', () => {
    const rest = INVITE_LINES.slice(1);
    assert.equal(parseCode(wire(['INVITE sip:bob@example.com SIP/3.0', ...rest], 'v=0\n')), 'SIP_BAD_VERSION');
    assert.equal(parseCode(wire(['INVITE sip:bob@example.com HTTP/1.1', ...rest], 'v=0\n')), 'SIP_BAD_START_LINE');
    assert.equal(parseCode(wire(['INVITE  sip:bob@example.com SIP/2.0', ...rest], 'v=0\n')), 'SIP_BAD_START_LINE');
    assert.equal(parseCode(wire(['INV"ITE sip:bob@example.com SIP/2.0', ...rest], 'v=0\n')), 'SIP_BAD_METHOD');
    assert.equal(parseCode(wire(['SIP/2.0 20 OK', ...rest], 'v=0\n')), 'SIP_BAD_STATUS');
  });

  it('returns the method on errors after the request line parsed', () => {
    const r = parseMessage(
      wire(
        INVITE_LINES.filter((l) => !l.startsWith('Call-ID')),
        'v=0\n',
      ),
    );
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'SIP_MISSING_HEADER');
      assert.equal(r.error.method, 'INVITE');
    }
  });

  it('ignores CRLFs before the start line (RFC 3261 §7.5)', () => {
    const m = mustParse(Buffer.concat([Buffer.from('\r\n\r\n'), invite()]));
    assert.equal(m.method, 'INVITE');
  });
});

describe('parseMessage: header section', () => {
  it('expands compact forms and matches names case-insensitively', () => {
    const m = mustParse(
      wire([
        'OPTIONS sip:bob@example.com SIP/2.0',
        'v: SIP/2.0/TCP a.example.com;branch=z9hG4bK1',
        'f: <sip:a@example.com>;tag=x',
        't: <sip:bob@example.com>',
        'i: abc@def',
        'CSEQ: 7 OPTIONS',
        'm: <sip:a@a.example.com>',
        'k: timer',
        's: hi',
        'o: presence',
        'u: dialog',
        'r: <sip:c@example.com>',
        'b: <sip:d@example.com>',
        'x: 1800',
        'l: 0',
      ]),
    );
    assert.equal(m.get('Call-ID'), 'abc@def');
    assert.equal(m.get('I'), 'abc@def');
    assert.equal(m.get('supported'), 'timer');
    assert.equal(m.get('Subject'), 'hi');
    assert.equal(m.get('Event'), 'presence');
    assert.equal(m.get('Allow-Events'), 'dialog');
    assert.equal(m.get('Refer-To'), '<sip:c@example.com>');
    assert.equal(m.get('Referred-By'), '<sip:d@example.com>');
    assert.equal(m.get('Session-Expires'), '1800');
    assert.equal(val(m.cseq()).seq, 7);
    assert.equal(val(m.topVia()).transport, 'TCP');
    const h = m.headers();
    assert.equal(h[0]?.name, 'v');
    assert.equal(h[0]?.lname, 'via');
    assert.equal(h[6]?.lname, 'supported');
  });

  it('unfolds continuation lines and trims values', () => {
    const m = mustParse(
      wire([
        'OPTIONS sip:bob@example.com SIP/2.0',
        'Via: SIP/2.0/UDP a.example.com',
        '  ;branch=z9hG4bK1',
        'From: <sip:a@example.com>',
        '\t;tag=x',
        'To:   <sip:bob@example.com>   ',
        'Call-ID: abc@def',
        'CSeq: 7',
        ' OPTIONS',
        'Subject:',
        ' folded',
        '   twice',
        'Content-Length: 0',
      ]),
    );
    assert.equal(val(m.topVia()).branch, 'z9hG4bK1');
    assert.equal(val(m.from()).tag, 'x');
    assert.equal(m.get('To'), '<sip:bob@example.com>');
    assert.equal(m.get('subject'), 'folded twice');
    assert.deepEqual(val(m.cseq()), { seq: 7, method: 'OPTIONS' });
  });

  it('splits comma lists respecting quotes and <>', () => {
    const m = mustParse(
      wire([
        ...INVITE_LINES.filter((l) => !l.startsWith('Contact') && !l.startsWith('Content-Length')),
        'Contact: "Doe, John" <sip:j,k@example.com;x=a>;q=0.5, <sip:k@example.com>',
        'Contact: sip:l@example.com',
        'Allow: INVITE, ACK,BYE',
        'Date: Sat, 13 Nov 2010 23:29:00 GMT',
        'Content-Length: 0',
      ]),
    );
    assert.deepEqual(m.getAll('contact'), ['"Doe, John" <sip:j,k@example.com;x=a>;q=0.5', '<sip:k@example.com>', 'sip:l@example.com']);
    assert.deepEqual(m.getAll('Allow'), ['INVITE', 'ACK', 'BYE']);
    assert.deepEqual(m.getAll('Date'), ['Sat, 13 Nov 2010 23:29:00 GMT']);
    const cs = val(m.contacts());
    assert.equal(cs.length, 3);
    assert.equal(cs[0]?.displayName, 'Doe, John');
    assert.equal(cs[0]?.uri.user, 'j,k');
    assert.equal(cs[0]?.params.get('q'), '0.5');
  });

  it('enforces the configured limits', () => {
    const limits = { ...DEFAULT_SIP_LIMITS, maxHeaders: 8 };
    assert.equal(parseCode(invite(), { limits }), 'SIP_TOO_MANY_HEADERS');
    assert.equal(parseCode(invite(), { limits: { ...DEFAULT_SIP_LIMITS, maxMessageBytes: 100 } }), 'SIP_TOO_LARGE');
    assert.equal(parseCode(invite(), { limits: { ...DEFAULT_SIP_LIMITS, maxHeaderBytes: 40 } }), 'SIP_HEADER_TOO_LONG');
    assert.equal(parseCode(invite(), { limits: { ...DEFAULT_SIP_LIMITS, maxUriBytes: 10 } }), 'SIP_URI_TOO_LONG');
    assert.equal(parseCode(invite()), 'ok');
  });

  it('treats UTF-8 in header values as UTF-8', () => {
    const m = mustParse(wire([...INVITE_LINES.slice(0, -1), 'Subject: café ☕', 'Content-Length: 4'], 'v=0\n'));
    assert.equal(m.get('subject'), 'café ☕');
  });

  it('accepts escaped control characters only inside quoted strings', () => {
    const good = wire([...INVITE_LINES.slice(0, -1), 'X-Q: "a\\\u0001b"', 'Content-Length: 4'], 'v=0\n');
    assert.equal(parseCode(good), 'ok');
    const bad = wire([...INVITE_LINES.slice(0, -1), 'X-Q: a\\\u0001b', 'Content-Length: 4'], 'v=0\n');
    assert.equal(parseCode(bad), 'SIP_BAD_HEADER');
  });
});

describe('parseMessage: body and Content-Length (RFC 3261 §18.3)', () => {
  it('takes exactly Content-Length bytes and ignores the rest of a datagram', () => {
    const m = mustParse(Buffer.concat([invite(), Buffer.from('garbage after the body')]));
    assert.equal(m.body.toString(), 'v=0\n');
  });

  it('reports a body shorter than Content-Length', () => {
    assert.equal(parseCode(invite().subarray(0, invite().length - 1)), 'SIP_BODY_TRUNCATED');
  });

  it('runs the body to the end of a datagram without Content-Length, but requires it on streams', () => {
    const lines = INVITE_LINES.filter((l) => !l.startsWith('Content-Length'));
    assert.equal(mustParse(wire(lines, 'v=0\r\nabc')).body.toString(), 'v=0\r\nabc');
    assert.equal(parseCode(wire(lines, 'v=0\r\n'), { stream: true }), 'SIP_MISSING_HEADER');
    assert.equal(parseCode(invite(), { stream: true }), 'ok');
  });

  it('copies the body, so reusing the input buffer does not change the message', () => {
    const b = invite();
    const m = mustParse(b);
    b.fill(0x41);
    assert.equal(m.body.toString(), 'v=0\n');
    assert.equal(m.get('call-id'), 'a84b4c76e66710@pc33.atlanta.example.com');
  });
});

describe('parseMessage: never throws', () => {
  it('returns a Result for every prefix and every single-byte corruption of a valid message', () => {
    const b = invite();
    for (let i = 0; i <= b.length; i++) {
      const r = parseMessage(b.subarray(0, i));
      assert.equal(typeof r.ok, 'boolean');
    }
    for (let i = 0; i < b.length; i++) {
      for (const v of [0x00, 0x0a, 0x0d, 0x20, 0x22, 0x3a, 0x3b, 0x3c, 0x5b, 0xff]) {
        const c = Buffer.from(b);
        c[i] = v;
        const r = parseMessage(c);
        assert.equal(typeof r.ok, 'boolean');
      }
    }
  });
});
