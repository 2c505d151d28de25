import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalisadeError } from '../../../src/core/errors.ts';
import { buildResponseTo, createRequest, createResponse, parseMessage } from '../../../src/sip/index.ts';
import { INVITE_LINES, mustParse, val, wire } from './helpers.ts';

describe('builders', () => {
  it('createRequest builds a message that parses back to the same fields', () => {
    const req = createRequest({
      method: 'OPTIONS',
      requestUri: 'sip:pbx.example.com',
      headers: [
        ['Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKprobe1'],
        ['Max-Forwards', '70'],
        ['From', '<sip:palisade@example.com>;tag=p1'],
        ['To', '<sip:pbx.example.com>'],
        ['Call-ID', 'probe-1@palisade'],
        ['CSeq', '1 OPTIONS'],
        ['Content-Length', '123'],
      ],
    });
    assert.equal(req.method, 'OPTIONS');
    assert.equal(val(req.topVia()).branch, 'z9hG4bKprobe1');
    const wireBytes = req.serialize();
    assert.match(wireBytes.toString(), /^OPTIONS sip:pbx.example.com SIP\/2.0\r\n/);
    assert.match(wireBytes.toString(), /\r\nContent-Length: 0\r\n\r\n$/);
    const back = mustParse(wireBytes);
    assert.equal(val(back.from()).tag, 'p1');
    assert.deepEqual(val(back.cseq()), { seq: 1, method: 'OPTIONS' });
  });

  it('createResponse carries a body and the right Content-Length', () => {
    const res = createResponse({ status: 200, reason: 'OK', headers: [['Content-Type', 'application/sdp']], body: Buffer.from('v=0\r\n') });
    const s = res.serialize().toString();
    assert.match(s, /^SIP\/2.0 200 OK\r\n/);
    assert.match(s, /Content-Length: 5\r\n\r\nv=0\r\n$/);
  });

  it('rejects invalid start lines and header injection', () => {
    const bad = (e: unknown) => isPalisadeError(e);
    assert.throws(() => createRequest({ method: 'IN VITE', requestUri: 'sip:a@b', headers: [] }), bad);
    assert.throws(() => createRequest({ method: 'INVITE', requestUri: 'sip:a@b\r\nX: y', headers: [] }), bad);
    assert.throws(() => createResponse({ status: 99, reason: 'x', headers: [] }), bad);
    assert.throws(() => createResponse({ status: 200, reason: 'OK\r\nX: y', headers: [] }), bad);
    assert.throws(() => createResponse({ status: 200, reason: 'OK', headers: [['X', 'a\r\nb']] }), bad);
  });

  it('buildResponseTo copies Via, From, To, Call-ID, CSeq (RFC 3261 §8.2.6) and adds the To tag', () => {
    const req = mustParse(
      wire(
        [
          INVITE_LINES[0] as string,
          'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKa, SIP/2.0/UDP p2.example.com;branch=z9hG4bKb',
          'v: SIP/2.0/UDP ua.example.com;branch=z9hG4bKc;rport=5060;received=192.0.2.9',
          ...INVITE_LINES.slice(2),
        ],
        'v=0\n',
      ),
    );
    const res = buildResponseTo(req, 486, 'Busy Here', [['Retry-After', '60']], 'srv-tag');
    assert.equal(res.isRequest, false);
    assert.equal(res.status, 486);
    assert.equal(res.reason, 'Busy Here');
    assert.deepEqual(
      val(res.vias()).map((v) => v.branch),
      ['z9hG4bKa', 'z9hG4bKb', 'z9hG4bKc'],
    );
    assert.equal(val(res.from()).tag, '1928301774');
    assert.equal(val(res.to()).tag, 'srv-tag');
    assert.equal(res.callId(), req.callId());
    assert.deepEqual(val(res.cseq()), val(req.cseq()));
    assert.equal(res.get('Retry-After'), '60');
    assert.equal(res.body.length, 0);
    const parsed = parseMessage(res.serialize());
    assert.equal(parsed.ok, true);
  });

  it('buildResponseTo keeps an existing To tag', () => {
    const req = mustParse(
      wire([...INVITE_LINES.map((l) => (l.startsWith('To:') ? 'To: Bob <sip:bob@biloxi.example.com>;tag=existing' : l))], 'v=0\n'),
    );
    const res = buildResponseTo(req, 200, 'OK', undefined, 'ignored');
    assert.equal(val(res.to()).tag, 'existing');
  });
});
