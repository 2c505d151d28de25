import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalisadeError } from '../../../src/core/errors.ts';
import { INVITE_LINES, invite, mustParse, val, wire } from './helpers.ts';

function withTwoVias() {
  return mustParse(
    wire(
      [
        'INVITE sip:bob@example.com SIP/2.0',
        'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP edge.example.com;branch=z9hG4bKe1',
        'Via: SIP/2.0/TCP ua.example.com;branch=z9hG4bKu1',
        ...INVITE_LINES.slice(2),
      ],
      'v=0\n',
    ),
  );
}

describe('SipMessage: edits are visible to the next read', () => {
  it('set() after a memoised read', () => {
    const m = mustParse(invite());
    assert.equal(val(m.from()).tag, '1928301774');
    m.set('From', '<sip:mallory@example.com>;tag=new');
    assert.equal(val(m.from()).tag, 'new');
    assert.equal(m.get('f'), '<sip:mallory@example.com>;tag=new');
    assert.equal(m.headers().find((h) => h.lname === 'from')?.value, '<sip:mallory@example.com>;tag=new');
  });

  it('prepend / removeFirstValue on Via', () => {
    const m = withTwoVias();
    assert.equal(val(m.vias()).length, 3);
    m.prepend('Via', 'SIP/2.0/UDP palisade.example.com;branch=z9hG4bKpal');
    assert.equal(val(m.topVia()).host, 'palisade.example.com');
    assert.equal(val(m.vias()).length, 4);
    assert.equal(m.removeFirstValue('Via'), true);
    assert.equal(val(m.topVia()).host, 'proxy.example.com');
    assert.equal(m.removeFirstValue('v'), true);
    assert.equal(val(m.topVia()).host, 'edge.example.com');
    assert.deepEqual(
      val(m.vias()).map((v) => v.branch),
      ['z9hG4bKe1', 'z9hG4bKu1'],
    );
    assert.equal(m.removeFirstValue('Via'), true);
    assert.equal(m.removeFirstValue('Via'), true);
    assert.equal(m.removeFirstValue('Via'), false);
    const r = m.topVia();
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'SIP_MISSING_HEADER');
  });

  it('append, remove and has with any name form', () => {
    const m = mustParse(invite());
    assert.equal(m.has('Record-Route'), false);
    m.append('Record-Route', '<sip:p1.example.com;lr>');
    m.append('Record-Route', '<sip:p2.example.com;lr>');
    assert.deepEqual(
      val(m.recordRoutes()).map((r) => r.uri.host),
      ['p1.example.com', 'p2.example.com'],
    );
    assert.equal(m.remove('record-route'), 2);
    assert.equal(val(m.recordRoutes()).length, 0);
    assert.equal(m.remove('X-Nothing'), 0);
    m.set('X-Custom', ['a', 'b']);
    assert.deepEqual(m.getAll('x-custom'), ['a', 'b']);
    assert.equal(m.remove('m'), 1, 'compact name removes Contact');
    assert.equal(val(m.contacts()).length, 0);
  });

  it('set() keeps the position of the first field it replaces', () => {
    const m = mustParse(invite());
    m.set('Max-Forwards', '69');
    const names = m.headers().map((h) => h.lname);
    assert.equal(names.indexOf('max-forwards'), 1);
    assert.equal(val(m.maxForwards()), 69);
  });

  it('setRequestUri / setStatus update the start line and uri()', () => {
    const m = mustParse(invite());
    assert.equal(val(m.uri()).user, 'bob');
    m.setRequestUri('sip:carol@[2001:db8::5]:5080');
    assert.equal(m.requestUri, 'sip:carol@[2001:db8::5]:5080');
    assert.equal(val(m.uri()).host, '2001:db8::5');
    assert.ok(m.serialize().toString().startsWith('INVITE sip:carol@[2001:db8::5]:5080 SIP/2.0\r\n'));
    assert.throws(
      () => m.setStatus(200, 'OK'),
      (e) => isPalisadeError(e) && e.code === 'SIP_BAD_START_LINE',
    );
  });

  it('setBody replaces the body, Content-Type and Content-Length', () => {
    const m = mustParse(invite());
    m.setBody(Buffer.from('hello'), 'text/plain');
    assert.equal(m.body.toString(), 'hello');
    assert.equal(m.get('content-type'), 'text/plain');
    assert.equal(m.get('content-length'), '5');
    m.setBody(Buffer.alloc(0));
    assert.equal(m.has('content-type'), false);
    assert.equal(m.get('l'), '0');
  });

  it('refuses header injection through edits', () => {
    const m = mustParse(invite());
    const injected = (e: unknown) =>
      isPalisadeError(e) && (e.code === 'SIP_BAD_VALUE' || e.code === 'SIP_BAD_HEADER' || e.code === 'SIP_BAD_URI');
    assert.throws(() => m.set('Subject', 'x\r\nVia: SIP/2.0/UDP evil'), injected);
    assert.throws(() => m.append('Bad Name', 'x'), injected);
    assert.throws(() => m.append('X', 'a\nb'), injected);
    assert.throws(() => m.setRequestUri('sip:a@b SIP/2.0\r\nX: y'), injected);
    assert.equal(m.has('subject'), false);
  });

  it('clone() is independent', () => {
    const m = mustParse(invite());
    const c = m.clone();
    c.set('To', '<sip:eve@example.com>;tag=c');
    c.setBody(Buffer.from('other'));
    assert.equal(val(m.to()).tag, undefined);
    assert.equal(val(c.to()).tag, 'c');
    assert.equal(m.body.toString(), 'v=0\n');
    const d = c.clone();
    d.remove('To');
    assert.equal(c.has('to'), true);
  });

  it('reads Expires and Max-Forwards', () => {
    const m = mustParse(wire([...INVITE_LINES.slice(0, -1), 'Expires: 3600', 'Content-Length: 4'], 'v=0\n'));
    assert.equal(m.expires(), 3600);
    m.set('Expires', 'soon');
    assert.equal(m.expires(), undefined);
    m.set('Max-Forwards', '300');
    const r = m.maxForwards();
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'SIP_BAD_MAX_FORWARDS');
  });
});
