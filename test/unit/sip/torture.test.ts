/**
 * RFC 4475 torture messages, Palisade's IPv6 cases after RFC 5118, and Palisade's malformed set, each against
 * the outcome recorded in its expected.json.
 *
 * RFC 4475 bytes: test/fixtures/rfc4475/*.dat when extracted there by scripts/extract-rfc4475.ts from the RFC
 * text; otherwise the read-only reference copy in the workplace's shared/ folder beside the repository.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ErrorCode } from '../../../src/core/errors.ts';
import type { ParseOptions, SipMessage } from '../../../src/sip/index.ts';
import { parseMessage } from '../../../src/sip/index.ts';

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

interface Expectation {
  readonly file: string;
  readonly expect: 'parse' | 'reject';
  readonly code?: ErrorCode;
  readonly accessor?: { readonly name: 'contacts' | 'routes' | 'recordRoutes'; readonly code: ErrorCode };
  readonly options?: ParseOptions;
}

function expectations(set: string): Expectation[] {
  const j = JSON.parse(readFileSync(join(ROOT, 'test/fixtures', set, 'expected.json'), 'utf8')) as { messages: Expectation[] };
  return j.messages;
}

function rfc4475Dir(): string {
  const local = join(ROOT, 'test/fixtures/rfc4475');
  if (readdirSync(local).some((f) => f.endsWith('.dat'))) return local;
  for (const d of [join(ROOT, '../shared/fixtures/rfc4475'), '/work/shared/fixtures/rfc4475']) {
    if (existsSync(join(d, 'wsinv.dat'))) return d;
  }
  assert.fail('RFC 4475 messages not found: run scripts/extract-rfc4475.ts on the RFC text (see test/fixtures/rfc4475)');
}

function ok<T>(r: { ok: true; value: T } | { ok: false; error: { code: string } }): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error.code}`);
  return r.value;
}

/** Every structured read of a message that parsed: none may throw; all succeed unless the expectation says. */
function readAll(m: SipMessage, e: Expectation): void {
  const reads = {
    vias: () => m.vias(),
    from: () => m.from(),
    to: () => m.to(),
    cseq: () => m.cseq(),
    contacts: () => m.contacts(),
    routes: () => m.routes(),
    recordRoutes: () => m.recordRoutes(),
    maxForwards: () => m.maxForwards(),
  };
  for (const [name, read] of Object.entries(reads)) {
    const r = read();
    if (e.accessor?.name === name) {
      assert.equal(r.ok, false, `${e.file}: ${name}() should fail`);
      if (!r.ok) assert.equal(r.error.code, e.accessor.code);
    } else {
      assert.equal(r.ok, true, `${e.file}: ${name}() failed: ${r.ok ? '' : r.error.code}`);
    }
  }
  assert.notEqual(m.callId(), undefined);
  m.headers();
  m.expires();
  if (m.isRequest) m.uri();
  // Re-serialized bytes parse again to the same fields.
  const again = ok(parseMessage(m.serialize()));
  assert.equal(again.method, m.method);
  assert.equal(again.status, m.status);
  assert.equal(again.callId(), m.callId());
  assert.deepEqual(again.body, m.body);
}

function runSet(set: string, dir: string, byFile: Map<string, SipMessage>): void {
  for (const e of expectations(set)) {
    it(`${set}/${e.file}: ${e.expect}${e.code ? ` ${e.code}` : ''}`, () => {
      const r = parseMessage(readFileSync(join(dir, e.file)), e.options ?? {});
      if (e.expect === 'reject') {
        assert.equal(r.ok, false, `${e.file} should be rejected`);
        if (!r.ok) assert.equal(r.error.code, e.code, `${e.file}: ${r.error.reason}`);
        return;
      }
      const m = ok(r);
      readAll(m, e);
      byFile.set(e.file, m);
    });
  }
}

describe('RFC 4475 torture messages', () => {
  const dir = rfc4475Dir();
  const msgs = new Map<string, SipMessage>();
  it('has an expectation for all 49 messages', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.dat'));
    assert.equal(files.length, 49);
    assert.deepEqual(
      expectations('rfc4475')
        .map((e) => e.file)
        .sort(),
      files.sort(),
    );
  });
  runSet('rfc4475', dir, msgs);

  const get = (f: string): SipMessage => {
    const m = msgs.get(f);
    if (m === undefined) assert.fail(`${f} did not parse`);
    return m;
  };

  it('wsinv: folding, escapes in quotes, LWS everywhere, compact and long forms', () => {
    const m = get('wsinv.dat');
    assert.equal(m.method, 'INVITE');
    assert.equal(ok(m.to()).tag, '1918181833n');
    const from = ok(m.from());
    assert.equal(from.displayName, 'J Rosenberg \\"');
    assert.equal(from.tag, '98asjd8');
    assert.deepEqual(ok(m.maxForwards()), 68);
    assert.deepEqual(ok(m.cseq()), { seq: 9, method: 'INVITE' });
    const vias = ok(m.vias());
    assert.deepEqual(
      vias.map((v) => [v.transport, v.host, v.branch]),
      [
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    const c = ok(m.contacts())[0];
    assert.equal(c?.displayName, 'Quoted string ""');
    assert.equal(c?.params.get('newparam'), 'newvalue');
    assert.equal(c?.params.get('secondparam'), null);
    assert.equal(c?.params.get('q'), '0.33');
    assert.equal(m.get('Subject'), '');
    assert.equal(m.get('newfangledheader'), 'newfangled value continued newfangled value');
    assert.equal(m.get('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    assert.equal(ok(m.routes())[0]?.uri.params.has('lr'), true);
    assert.equal(m.body.length, 150);
  });

  it('intmeth: unusual tokens, escaped controls in a quoted string, UTF-8 header value', () => {
    const m = get('intmeth.dat');
    assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert.equal(ok(m.to()).displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(ok(m.from()).tag, "_token~1'+`*%!-.");
    assert.equal(m.get("extensionheader-!.%*+_`'~"), '\ufeff\u5927\u505c\u96fb');
    const u = ok(m.uri());
    assert.equal(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  });

  it('esc01 / escnull / esc02: % escapes', () => {
    const e1 = get('esc01.dat');
    assert.equal(ok(e1.uri()).user, 'sips:user@example.com');
    assert.equal(ok(e1.from()).uri.user, 'I have spaces');
    const c = ok(e1.contacts())[0];
    assert.equal(c?.uri.user, 'caller');
    assert.equal(c?.uri.params.get('name'), 'value%41');
    assert.equal(c?.uri.params.get('lr'), null);
    assert.equal(ok(get('escnull.dat').to()).uri.user, 'null-\0-null');
    const e2 = get('esc02.dat');
    assert.equal(e2.method, 'RE%47IST%45R');
    assert.equal(ok(e2.contacts()).length, 2);
    assert.equal(e2.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
    assert.equal(ok(e2.from()).displayName, '%Z%45');
  });

  it('lwsdisp, longreq, dblreq, semiuri, transports, mpart01', () => {
    assert.equal(ok(get('lwsdisp.dat').from()).displayName, 'caller');
    const lr = get('longreq.dat');
    assert.equal(ok(lr.vias()).length, 34);
    assert.equal(ok(lr.to()).uri.port, 6000);
    const d = get('dblreq.dat');
    assert.equal(d.method, 'REGISTER');
    assert.equal(d.body.length, 0);
    assert.equal(d.callId(), 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
    const s = get('semiuri.dat');
    assert.equal(ok(s.uri()).user, 'user;par=u@example.net');
    assert.equal(ok(s.uri()).host, 'example.com');
    assert.equal(s.getAll('Accept').length, 6);
    assert.deepEqual(
      ok(get('transports.dat').vias()).map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
    assert.equal(get('mpart01.dat').body.length, 553);
  });

  it('unreason / noreason: reason phrases', () => {
    const u = get('unreason.dat');
    assert.equal(u.status, 200);
    assert.match(u.reason ?? '', /^= 2\*\*3 \* 5\*\*2 \u043d\u043e /);
    const n = get('noreason.dat');
    assert.equal(n.status, 100);
    assert.equal(n.reason, '');
  });

  it('cparam01/02, regescrt, unkscm, bcast, zeromf, inv2543: semantic cases parse with the right fields', () => {
    const c1 = ok(get('cparam01.dat').contacts())[0];
    assert.equal(c1?.params.has('unknownparam'), true);
    assert.equal(c1?.uri.params.has('unknownparam'), false);
    const c2 = ok(get('cparam02.dat').contacts())[0];
    assert.equal(c2?.params.has('unknownparam'), false);
    assert.equal(c2?.uri.params.has('unknownparam'), true);
    assert.equal(ok(get('regescrt.dat').contacts())[0]?.uri.headers.get('Route'), '<sip:sip.example.com>');
    assert.equal(ok(get('unkscm.dat').uri()).scheme, 'nobodyknowsthisscheme');
    assert.equal(ok(get('bcast.dat').vias())[1]?.host, '255.255.255.255');
    assert.equal(ok(get('zeromf.dat').maxForwards()), 0);
    const i = get('inv2543.dat');
    assert.equal(ok(i.topVia()).branch, undefined);
    assert.equal(ok(i.from()).tag, undefined);
    assert.equal(ok(i.maxForwards()), undefined);
    assert.ok(i.body.toString('latin1').startsWith('v=0\r\n'));
    assert.equal(ok(get('badbranch.dat').topVia()).branch, 'z9hG4bK');
  });
});

describe('IPv6 cases after RFC 5118', () => {
  const msgs = new Map<string, SipMessage>();
  runSet('rfc5118', join(ROOT, 'test/fixtures/rfc5118'), msgs);
  it('decides ports and hosts the way RFC 5118 §4.3-4.5 describe', () => {
    const amb = msgs.get('port-ambiguous');
    const unamb = msgs.get('port-unambiguous');
    assert.ok(amb && unamb);
    assert.equal(ok(amb.uri()).host, '2001:db8::10:5070');
    assert.equal(ok(amb.uri()).port, undefined);
    assert.equal(ok(unamb.uri()).host, '2001:db8::10');
    assert.equal(ok(unamb.uri()).port, 5070);
    const d = msgs.get('via-received-param-with-delim');
    const nd = msgs.get('via-received-param-no-delim');
    assert.ok(d && nd);
    assert.equal(ok(d.topVia()).params.get('received'), '[2001:db8::9:255]');
    assert.equal(ok(nd.topVia()).params.get('received'), '2001:db8::9:255');
    assert.equal(ok(d.topVia()).host, '2001:db8::9:1');
    assert.equal(ok(d.topVia()).port, 6050);
    const mult = msgs.get('mult-ip-in-header');
    assert.ok(mult);
    assert.deepEqual(
      ok(mult.vias()).map((v) => v.host),
      ['2001:db8::9:1', '192.0.2.1', '2001:db8::9:255'],
    );
    const mapped = msgs.get('ipv4-mapped-ipv6');
    assert.ok(mapped);
    assert.equal(ok(mapped.contacts())[0]?.uri.host, '::ffff:192.0.2.1');
  });
});

describe('Palisade malformed set', () => {
  runSet('sip-malformed', join(ROOT, 'test/fixtures/sip-malformed'), new Map());
});
