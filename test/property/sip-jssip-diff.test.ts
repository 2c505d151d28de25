/**
 * Differential test against jssip's parser (an independent RFC 3261 grammar) on generated VALID messages:
 * both must agree on method, Request-URI user/host/port, From/To tags, top Via branch/host/port, CSeq, Call-ID.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseMessage } from '../../src/sip/index.ts';
import { genMessage, render } from '../unit/sip/arbitraries.ts';

interface JssipUri {
  user?: string;
  host?: string;
  port?: number;
}
interface JssipMessage {
  method?: string;
  ruri?: JssipUri;
  from_tag?: string;
  to_tag?: string;
  via_branch?: string;
  via?: { host?: string; port?: number; transport?: string };
  call_id?: string;
  cseq?: number;
}
const require = createRequire(import.meta.url);
const jssip = require('jssip/lib/Parser.js') as { parseMessage(data: string, ua: unknown): JssipMessage | undefined };

/** jssip keeps IPv6 hosts in brackets; Palisade strips them. */
function unbracket(h: string | undefined): string | undefined {
  return h?.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

describe('differential: Palisade vs jssip', () => {
  it('agree on the fields a proxy reads', () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const bytes = render(g);
        const j = jssip.parseMessage(bytes.toString('latin1'), undefined);
        assert.ok(j, 'jssip rejected a generated valid message');
        const r = parseMessage(bytes);
        if (!r.ok) assert.fail(r.error.code);
        const m = r.value;
        const u = m.uri();
        const v = m.topVia();
        const f = m.from();
        const t = m.to();
        const c = m.cseq();
        assert.ok(u.ok && v.ok && f.ok && t.ok && c.ok);
        assert.equal(m.method, j.method);
        assert.equal(u.value.user, j.ruri?.user);
        assert.equal(u.value.host.toLowerCase(), unbracket(j.ruri?.host)?.toLowerCase());
        assert.equal(u.value.port, j.ruri?.port ?? undefined);
        assert.equal(f.value.tag, j.from_tag);
        assert.equal(t.value.tag, j.to_tag ?? undefined);
        assert.equal(v.value.branch, j.via_branch);
        assert.equal(v.value.host.toLowerCase(), unbracket(j.via?.host)?.toLowerCase());
        assert.equal(v.value.port, j.via?.port ?? undefined);
        assert.equal(v.value.transport, j.via?.transport?.toUpperCase());
        assert.equal(m.callId(), j.call_id);
        assert.equal(c.value.seq, j.cseq);
      }),
      { numRuns: 300 },
    );
  });
});
