import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { SipMessage } from '../../src/sip/index.ts';
import { parseMessage } from '../../src/sip/index.ts';
import { genMessage, render } from '../unit/sip/arbitraries.ts';

function parsed(b: Buffer): SipMessage {
  const r = parseMessage(b);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.reason}\n${b.toString('latin1')}`);
  return r.value;
}

function fields(m: SipMessage) {
  const v = m.topVia();
  const f = m.from();
  const t = m.to();
  const c = m.cseq();
  const u = m.uri();
  assert.ok(v.ok && f.ok && t.ok && c.ok && u.ok);
  return {
    method: m.method,
    ruri: [u.value.user, u.value.host, u.value.port],
    via: [v.value.transport, v.value.host, v.value.port, v.value.branch],
    fromTag: f.value.tag,
    fromName: f.value.displayName,
    toTag: t.value.tag,
    callId: m.callId(),
    cseq: [c.value.seq, c.value.method],
    headers: m.headers().map((h) => [h.lname, h.value]),
    body: m.body.toString('latin1'),
  };
}

describe('parse ∘ serialize', () => {
  it('an untouched message serializes to its canonical bytes', () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const b = render(g);
        assert.deepEqual(parsed(b).serialize(), b);
      }),
      { numRuns: 300 },
    );
  });

  it('parses to the generated fields, and again to the same fields after serialize', () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const m = parsed(render(g));
        const f = fields(m);
        assert.equal(f.method, g.method);
        assert.deepEqual(f.ruri, [g.user, g.ruriHost.host, g.ruriPort]);
        assert.deepEqual(f.via, [g.transport, g.viaHost.host, g.viaPort, g.branch]);
        assert.equal(f.fromTag, g.fromTag);
        assert.equal(f.fromName, g.display);
        assert.equal(f.toTag, g.toTag);
        assert.equal(f.callId, g.callId);
        assert.deepEqual(f.cseq, [g.cseq, g.method]);
        assert.equal(f.body, g.body);
        assert.deepEqual(fields(parsed(m.serialize())), f);
      }),
      { numRuns: 300 },
    );
  });

  it('the careful scan (taken when a non-ASCII byte is present) locates the same fields as the fast scan', () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const b = render(g);
        const eol = b.indexOf('\r\n');
        const slow = Buffer.concat([b.subarray(0, eol + 2), Buffer.from('X-Utf8: \u00e9t\u00e9\r\n', 'utf8'), b.subarray(eol + 2)]);
        const fast = parsed(b);
        const careful = parsed(slow);
        assert.equal(careful.get('x-utf8'), '\u00e9t\u00e9');
        assert.deepEqual(careful.headers().slice(1), fast.headers());
        assert.deepEqual(fields(careful).via, fields(fast).via);
      }),
      { numRuns: 200 },
    );
  });

  it('edited messages re-parse to the edited fields', () => {
    fc.assert(
      fc.property(
        genMessage,
        fc.string({ minLength: 1, maxLength: 12 }).filter((s) => /^[A-Za-z0-9]+$/.test(s)),
        fc.string({ maxLength: 50 }),
        (g, tag, body) => {
          const m = parsed(render(g));
          m.prepend('Via', `SIP/2.0/UDP palisade.example.com;branch=z9hG4bK${tag}`);
          m.set('To', `<sip:x@example.com>;tag=${tag}`);
          m.setBody(Buffer.from(body, 'utf8'), 'text/plain');
          const again = parsed(m.serialize());
          assert.deepEqual(fields(again), fields(m));
          const vias = again.vias();
          assert.ok(vias.ok);
          assert.equal(vias.value.length, 2);
          assert.equal(vias.value[1]?.branch, g.branch);
          assert.equal(again.body.toString('utf8'), body);
        },
      ),
      { numRuns: 200 },
    );
  });
});
