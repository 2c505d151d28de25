import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ScannerFacts } from '../../../src/security/scanner.ts';
import {
  detectScanner,
  isSipviciousBranch,
  isSipviciousCallId,
  isSipviciousTag,
  matchScannerUserAgent,
  SCANNER_USER_AGENTS,
} from '../../../src/security/scanner.ts';

const OURS = new Set(['192.0.2.10', 'sip.example.com', '2001:db8::10']);

/** The shape SIPVicious's createTag produces: hex of `data`, a 0x01 byte and the decimal counter. */
function svTag(data: string, counter: number): string {
  return Buffer.from(`${data}\x01${counter}`, 'latin1').toString('hex');
}

/** Just enough header extraction for realistic samples (the real gate uses src/sip). */
function factsOf(msg: string, ourHosts: ReadonlySet<string> = OURS): ScannerFacts {
  const lines = msg.split('\r\n');
  const start = lines[0] ?? '';
  const uri = start.split(' ')[1] ?? '';
  const hostPort =
    uri
      .replace(/^sips?:/, '')
      .replace(/^[^@]*@/, '')
      .split(';')[0] ?? '';
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : (hostPort.split(':')[0] ?? '');
  const header = (...names: string[]): string | undefined => {
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0 && names.includes(l.slice(0, i).trim().toLowerCase())) return l.slice(i + 1).trim();
    }
    return undefined;
  };
  const via = header('via', 'v');
  const from = header('from', 'f');
  return {
    userAgent: header('user-agent'),
    topViaBranch: via?.match(/;\s*branch=([^;,\s]+)/i)?.[1],
    fromTag: from?.match(/;\s*tag=([^;,\s]+)/i)?.[1],
    callId: header('call-id', 'i'),
    requestUriHost: host,
    ourHosts,
  };
}

const msg = (...lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

// --- SIPVicious, as svhelper.makeRequest lays requests out ----------------------------------------
const SVMAP_OPTIONS = msg(
  'OPTIONS sip:100@192.0.2.10 SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.66:5060;branch=z9hG4bK-3172846021;rport',
  'Max-Forwards: 70',
  'To: "sipvicious"<sip:100@1.1.1.1>',
  `From: "sipvicious"<sip:100@1.1.1.1>;tag=${svTag('c000020a13c4', 1889214430)}`,
  'User-Agent: friendly-scanner',
  'Call-ID: 854093217265473802919431',
  'Contact: sip:100@198.51.100.66:5060',
  'CSeq: 1 OPTIONS',
  'Accept: application/sdp',
  'Content-Length: 0',
);
const SVWAR_REGISTER = msg(
  'REGISTER sip:192.0.2.10 SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.66:5060;branch=z9hG4bK-20931475;rport',
  'Max-Forwards: 70',
  'To: "1001"<sip:1001@192.0.2.10>',
  `From: "1001"<sip:1001@192.0.2.10>;tag=${svTag('1001', 3920184756)}`,
  'User-Agent: Z 5.6.1 v2.10.19.9',
  'Call-ID: 2871045521',
  'Contact: sip:1001@192.0.2.10',
  'CSeq: 1 REGISTER',
  'Accept: application/sdp',
  'Content-Length: 0',
);
const SVCRACK_REGISTER = msg(
  'REGISTER sip:sip.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.66:5061;branch=z9hG4bK-998877665;rport',
  'Max-Forwards: 70',
  'To: "1001" <sip:1001@sip.example.com>',
  `From: "1001" <sip:1001@sip.example.com>;tag=${svTag('1001:letmein123', 4000000001)}`,
  'User-Agent: Yealink SIP-T46S 66.86.0.15',
  'Call-ID: 417523307',
  'Contact: sip:1001@sip.example.com',
  'CSeq: 2 REGISTER',
  'Content-Length: 0',
);

// --- Ordinary clients --------------------------------------------------------------------------------
const SIPP_INVITE = msg(
  'INVITE sip:service@192.0.2.10:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-16322-1-0',
  'From: sipp <sip:sipp@127.0.0.1:5061>;tag=16322SIPpTag001',
  'To: service <sip:service@192.0.2.10:5060>',
  'Call-ID: 1-16322@127.0.0.1',
  'CSeq: 1 INVITE',
  'Contact: sip:sipp@127.0.0.1:5061',
  'Max-Forwards: 70',
  'Subject: Performance Test',
  'Content-Type: application/sdp',
  'Content-Length: 0',
);
const SIPP_REGISTER_NO_HOST_CALLID = msg(
  'REGISTER sip:sip.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-16322-7-0',
  'From: <sip:1001@sip.example.com>;tag=7',
  'To: <sip:1001@sip.example.com>',
  'Call-ID: 7-16322@127.0.0.1',
  'CSeq: 1 REGISTER',
  'Content-Length: 0',
);
const LINPHONE_REGISTER = msg(
  'REGISTER sip:sip.example.com SIP/2.0',
  'Via: SIP/2.0/TLS 10.0.0.23:43210;alias;branch=z9hG4bK.Xk2fQm7Ur;rport',
  'From: <sip:alice@sip.example.com>;tag=ehvqgmEw1',
  'To: sip:alice@sip.example.com',
  'CSeq: 20 REGISTER',
  'Call-ID: Fs8dF-Ql3x',
  'Max-Forwards: 70',
  'Supported: replaces, outbound, gruu, path',
  'Contact: <sip:alice@10.0.0.23:43210;transport=tls>;+sip.instance="<urn:uuid:5a0c7e1c-61fd-4d1f-9f53-4b2e8c1d0a77>"',
  'Expires: 600',
  'User-Agent: Linphone-Desktop/5.2.4 (ubuntu) LinphoneSDK/5.3.41',
  'Content-Length: 0',
);
const ZOIPER_REGISTER = msg(
  'REGISTER sip:sip.example.com;transport=UDP SIP/2.0',
  'Via: SIP/2.0/UDP 192.168.1.34:52118;branch=z9hG4bK-524287-1---5e0f8a3c9b1d2e47;rport',
  'Max-Forwards: 70',
  'Contact: <sip:bob@203.0.113.50:52118;rinstance=8f1e2d3c4b5a6978;transport=UDP>',
  'To: <sip:bob@sip.example.com;transport=UDP>',
  'From: <sip:bob@sip.example.com;transport=UDP>;tag=d6c1b3a2',
  'Call-ID: ZDM4NzE2YjQ1ZjQ0MmQ0ZGJhMjc0ZmUwMTJiNTA3OTY',
  'CSeq: 1 REGISTER',
  'Expires: 60',
  'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE',
  'User-Agent: Z 5.6.1 v2.10.19.9',
  'Allow-Events: presence, kpml, talk',
  'Content-Length: 0',
);
const YEALINK_REGISTER = msg(
  'REGISTER sip:sip.example.com:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK1785418520',
  'From: "1001" <sip:1001@sip.example.com:5060>;tag=1438562897',
  'To: "1001" <sip:1001@sip.example.com:5060>',
  'Call-ID: 0_2563197486@192.168.1.50',
  'CSeq: 1 REGISTER',
  'Contact: <sip:1001@192.168.1.50:5060>',
  'Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE',
  'Max-Forwards: 70',
  'User-Agent: Yealink SIP-T46S 66.86.0.15',
  'Expires: 3600',
  'Content-Length: 0',
);
const BARESIP_INVITE = msg(
  'INVITE sip:1002@sip.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.168.1.77:5060;branch=z9hG4bK8a5c3e71b9d04f26;rport',
  'Contact: <sip:1001-0x55d1c3a0@192.168.1.77:5060>',
  'Max-Forwards: 70',
  'To: <sip:1002@sip.example.com>',
  'From: <sip:1001@sip.example.com>;tag=4e3c2a1b0f9d8e7c',
  'Call-ID: 9c1f2e3d4b5a6978',
  'CSeq: 12345 INVITE',
  'User-Agent: baresip v3.10.1 (x86_64/linux)',
  'Content-Type: application/sdp',
  'Content-Length: 0',
);
const ASTERISK_OPTIONS = msg(
  'OPTIONS sip:[2001:db8::10]:5060 SIP/2.0',
  'Via: SIP/2.0/UDP [2001:db8::20]:5060;rport;branch=z9hG4bKPj5d3a1c62-8b7e-4f0a-9c1d-2e3f4a5b6c7d',
  'From: <sip:pbx@[2001:db8::20]>;tag=2a9e3f41-7c6b-4d8e-a1f0-9b8c7d6e5f4a',
  'To: <sip:[2001:db8::10]>',
  'Call-ID: 0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7',
  'CSeq: 41250 OPTIONS',
  'Max-Forwards: 70',
  'User-Agent: Asterisk PBX 20.5.0',
  'Content-Length: 0',
);

const NORMAL: Array<[string, string]> = [
  ['SIPp INVITE', SIPP_INVITE],
  ['SIPp REGISTER', SIPP_REGISTER_NO_HOST_CALLID],
  ['Linphone REGISTER', LINPHONE_REGISTER],
  ['Zoiper REGISTER', ZOIPER_REGISTER],
  ['Yealink REGISTER', YEALINK_REGISTER],
  ['baresip INVITE', BARESIP_INVITE],
  ['Asterisk OPTIONS over IPv6', ASTERISK_OPTIONS],
];

describe('scanner: SIPVicious as it really builds requests', () => {
  it('svmap OPTIONS is caught by its User-Agent first', () => {
    assert.deepEqual(detectScanner(factsOf(SVMAP_OPTIONS)), { kind: 'user_agent', detail: 'friendly-scanner' });
  });

  it('with the User-Agent changed, each structural rule still catches svmap', () => {
    let m = SVMAP_OPTIONS.replace('User-Agent: friendly-scanner', 'User-Agent: Linphone-Desktop/5.2.4');
    assert.equal(detectScanner(factsOf(m))?.kind, 'branch');
    m = m.replace('branch=z9hG4bK-3172846021', 'branch=z9hG4bK.Xk2fQm7Ur');
    assert.equal(detectScanner(factsOf(m))?.kind, 'from_tag');
    m = m.replace(/;tag=[0-9a-f]+/, ';tag=ehvqgmEw1');
    assert.equal(detectScanner(factsOf(m))?.kind, 'call_id');
    m = m.replace('Call-ID: 854093217265473802919431', 'Call-ID: Fs8dF-Ql3x');
    assert.equal(detectScanner(factsOf(m)), undefined, 'nothing left that marks it');
  });

  it('svwar and svcrack REGISTERs with a borrowed User-Agent are caught by the branch, tag and Call-ID', () => {
    for (const m of [SVWAR_REGISTER, SVCRACK_REGISTER]) {
      const f = factsOf(m);
      assert.equal(detectScanner(f)?.kind, 'branch');
      assert.equal(isSipviciousTag(f.fromTag ?? ''), true);
      assert.equal(isSipviciousCallId(f.callId ?? ''), true);
    }
  });

  it('compact form (svhelper compact=True) has the same shapes', () => {
    const m = msg(
      'OPTIONS sip:100@192.0.2.10 SIP/2.0',
      'v: SIP/2.0/UDP 198.51.100.66:5060;branch=z9hG4bK-42;rport',
      't: "sipvicious"<sip:100@1.1.1.1>',
      `f: "sipvicious"<sip:100@1.1.1.1>;tag=${svTag('c000020a13c4', 123456)}`,
      'i: 77',
      'CSeq: 1 OPTIONS',
    );
    const f = factsOf(m);
    assert.equal(detectScanner(f)?.kind, 'branch');
    assert.equal(detectScanner({ ...f, topViaBranch: undefined })?.kind, 'from_tag');
    assert.equal(detectScanner({ ...f, topViaBranch: undefined, fromTag: undefined })?.kind, 'call_id');
  });
});

describe('scanner: ordinary clients are not flagged', () => {
  for (const [name, m] of NORMAL) {
    it(name, () => {
      const f = factsOf(m);
      assert.equal(detectScanner(f), undefined);
      // Each rule on its own, so a later rule cannot hide an earlier false positive.
      assert.equal(matchScannerUserAgent(f.userAgent ?? ''), undefined);
      assert.equal(isSipviciousBranch(f.topViaBranch ?? ''), false);
      assert.equal(isSipviciousTag(f.fromTag ?? ''), false);
      assert.equal(isSipviciousCallId(f.callId ?? ''), false);
    });
  }
});

describe('scanner: User-Agent rule', () => {
  it('matches every listed tool case-insensitively inside a longer string', () => {
    const samples = [
      'friendly-scanner',
      'SIPVicious-OSS/0.3.4',
      'sipcli/v1.8',
      'VaxSIPUserAgent/3.1',
      'pplsip',
      'sundayddr',
      'iWar',
      'sip-scan',
      'SIVuS PBX scanner',
      'Gulp',
      'smap 0.6.0',
    ];
    assert.equal(samples.length, SCANNER_USER_AGENTS.length);
    for (const ua of samples) assert.notEqual(matchScannerUserAgent(ua), undefined, ua);
    assert.equal(matchScannerUserAgent('FRIENDLY-SCANNER'), 'friendly-scanner');
  });

  it('short needles must stand as a word', () => {
    assert.equal(matchScannerUserAgent('smap/0.6'), 'smap');
    assert.equal(matchScannerUserAgent('Acme Smapper 2.0'), undefined);
    assert.equal(matchScannerUserAgent('Gulpfiction softphone'), undefined);
    assert.equal(matchScannerUserAgent('Kiwarta 1.0'), undefined);
    assert.equal(matchScannerUserAgent('x iWar2'), 'iwar');
  });

  it('sipsak is deliberately not a scanner (monitoring uses it)', () => {
    assert.equal(matchScannerUserAgent('sipsak 0.9.8.1'), undefined);
  });
});

describe('scanner: structural rules, edge cases', () => {
  it('branch: z9hG4bK- and a 32-bit decimal, nothing else', () => {
    assert.equal(isSipviciousBranch('z9hG4bK-0'), true);
    assert.equal(isSipviciousBranch('z9hG4bK-4294967295'), true);
    assert.equal(isSipviciousBranch('z9hG4bK-4294967296'), false, 'above 2^32−1');
    assert.equal(isSipviciousBranch('z9hG4bK-12345678901'), false);
    assert.equal(isSipviciousBranch('z9hG4bK-'), false);
    assert.equal(isSipviciousBranch('z9hG4bK-123a'), false);
    assert.equal(isSipviciousBranch('z9hg4bk-123'), false, 'SIPVicious writes the cookie as RFC 3261 does');
    assert.equal(isSipviciousBranch('z9hG4bK1785418520'), false, 'Yealink: no dash');
  });

  it('tag: hex of printable data, 0x01, at least 6 counter digits', () => {
    assert.equal(isSipviciousTag(svTag('1', 100000)), true);
    assert.equal(isSipviciousTag(svTag('1001', 4294967295)), true);
    assert.equal(isSipviciousTag(svTag('1001', 4294967295).toUpperCase()), true);
    assert.equal(isSipviciousTag(svTag('1001', 99999)), false, 'counter too short');
    assert.equal(isSipviciousTag(`${svTag('1001', 1234567)}3`), false, 'odd length');
    assert.equal(isSipviciousTag(svTag('', 1234567)), false, 'no data before the separator');
    assert.equal(isSipviciousTag(Buffer.from('10\x01\x0112345678').toString('hex')), false, 'two separators');
    assert.equal(isSipviciousTag(Buffer.from('1\n\x0112345678').toString('hex')), false, 'control byte in data');
    assert.equal(isSipviciousTag('3132330131'), false, 'a 10-digit decimal tag that is valid hex');
    assert.equal(isSipviciousTag(svTag('123', 4294967296)), false, 'counter above 2^32−1');
    assert.equal(isSipviciousTag(Buffer.from('123\x0111111111111').toString('hex')), false, 'counter of 11 digits');
    assert.equal(isSipviciousTag('zz'), false);
  });

  it('Call-ID: decimal without host', () => {
    assert.equal(isSipviciousCallId('1208925819614629174706175'), true, 'getrandbits(80) maximum');
    assert.equal(isSipviciousCallId('12089258196146291747061750'), false);
    assert.equal(isSipviciousCallId('2871045521@198.51.100.66'), false);
    assert.equal(isSipviciousCallId(''), false);
  });

  it('Request-URI host: ours (any case, bracketed IPv6, trailing dot) passes; anything else is flagged', () => {
    const base = { ourHosts: OURS };
    assert.equal(detectScanner({ ...base, requestUriHost: 'SIP.Example.COM' }), undefined);
    assert.equal(detectScanner({ ...base, requestUriHost: 'sip.example.com.' }), undefined);
    assert.equal(detectScanner({ ...base, requestUriHost: '[2001:db8::10]' }), undefined);
    assert.deepEqual(detectScanner({ ...base, requestUriHost: '203.0.113.99' }), { kind: 'ruri_host', detail: '203.0.113.99' });
    assert.equal(detectScanner({ ...base, requestUriHost: 'x'.repeat(1000) })?.detail.length, 255);
    assert.equal(detectScanner({ ourHosts: new Set(), requestUriHost: '203.0.113.99' }), undefined, 'no hosts configured: off');
    const relayProbe = factsOf(
      msg('INVITE sip:0046701234567@203.0.113.99 SIP/2.0', 'Via: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bKabc', 'Call-ID: abc@x'),
    );
    assert.equal(detectScanner(relayProbe)?.kind, 'ruri_host');
  });
});
