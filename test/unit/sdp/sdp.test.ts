import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  candidates,
  cryptos,
  filterCodecs,
  fingerprints,
  fmtps,
  hasRtcpMux,
  iceCredentials,
  mediaDirection,
  mediaEndpointOf,
  parseSdp,
  rewriteForRelay,
  rtcpOf,
  rtpmaps,
  SDP_MAX_LINE_LENGTH,
  SDP_MAX_LINES,
  type Sdp,
  serializeSdp,
  sessionDirection,
  setupOf,
  withDirection,
} from '../../../src/sdp/index.ts';
import { ASTERISK_OFFER, AUDIO_VIDEO_OFFER, HOLD_OFFER, SRTP_SDES_OFFER, WEBRTC_OFFER } from './samples.ts';

function parsed(text: string | Buffer): Sdp {
  const r = parseSdp(text);
  if (!r.ok) assert.fail(`parse failed: ${r.error.code} ${r.error.reason} line ${r.error.line}`);
  return r.value;
}

function m0(sdp: Sdp, i = 0) {
  const m = sdp.media[i];
  assert.ok(m, `media ${i} exists`);
  return m;
}

const SAMPLES = { ASTERISK_OFFER, WEBRTC_OFFER, SRTP_SDES_OFFER, HOLD_OFFER, AUDIO_VIDEO_OFFER };

describe('parseSdp / serializeSdp', () => {
  for (const [name, text] of Object.entries(SAMPLES)) {
    it(`round-trips ${name} byte for byte`, () => {
      assert.equal(serializeSdp(parsed(text)), text);
    });
    it(`round-trips ${name} given with bare LF and as a Buffer`, () => {
      assert.equal(serializeSdp(parsed(Buffer.from(text.replaceAll('\r\n', '\n')))), text);
    });
  }

  it('parses an Asterisk offer', () => {
    const sdp = parsed(ASTERISK_OFFER);
    assert.equal(sdp.version, 0);
    assert.deepEqual(sdp.origin, {
      username: '-',
      sessionId: '1653924127',
      sessionVersion: '1653924127',
      netType: 'IN',
      addrType: 'IP4',
      address: '192.0.2.10',
    });
    assert.equal(sdp.sessionName, 'Asterisk');
    assert.deepEqual(sdp.connection, { netType: 'IN', addrType: 'IP4', address: '192.0.2.10' });
    assert.deepEqual(sdp.timing, [{ start: '0', stop: '0', repeats: [] }]);
    const m = m0(sdp);
    assert.equal(m.type, 'audio');
    assert.equal(m.port, 12000);
    assert.equal(m.proto, 'RTP/AVP');
    assert.deepEqual(m.formats, ['0', '8', '9', '18', '101']);
    assert.equal(rtpmaps(m).get(101)?.encodingName, 'telephone-event');
    assert.equal(rtpmaps(m).get(101)?.clockRate, 8000);
    assert.equal(fmtps(m).get(101), '0-16');
    assert.equal(fmtps(m).get(18), 'annexb=no');
    assert.equal(mediaDirection(sdp, m), 'sendrecv');
    assert.deepEqual(mediaEndpointOf(sdp, 0), { address: '192.0.2.10', port: 12000, payloadTypes: [0, 8, 9, 18, 101] });
  });

  it('parses a WebRTC offer: ICE, DTLS, rtcp-mux, candidates', () => {
    const sdp = parsed(WEBRTC_OFFER);
    assert.equal(sdp.origin.sessionId, '4611731400430051336');
    assert.equal(sdp.media.length, 2);
    const audio = m0(sdp);
    assert.equal(audio.proto, 'UDP/TLS/RTP/SAVPF');
    assert.equal(hasRtcpMux(audio), true);
    assert.deepEqual(rtcpOf(audio), { port: 9, connection: { netType: 'IN', addrType: 'IP4', address: '0.0.0.0' } });
    assert.deepEqual(iceCredentials(sdp, audio), { ufrag: 'EsAw', pwd: 'P2uYro0UCOQ4zxjKXaWCBui1' });
    assert.equal(setupOf(sdp, audio), 'actpass');
    const fp = fingerprints(sdp, audio);
    assert.equal(fp.length, 1);
    assert.equal(fp[0]?.hashFunction, 'sha-256');
    assert.equal(fp[0]?.value.split(':').length, 32);
    const cands = candidates(audio);
    assert.equal(cands.length, 2);
    assert.equal(cands[0]?.type, 'host');
    assert.equal(cands[0]?.address, '192.168.1.20');
    assert.equal(cands[1]?.type, 'srflx');
    assert.equal(cands[1]?.relatedAddress, '192.168.1.20');
    assert.equal(cands[1]?.relatedPort, 54400);
    assert.deepEqual(cands[0]?.extensions, [
      ['generation', '0'],
      ['network-id', '1'],
    ]);
    assert.equal(rtpmaps(audio).get(111)?.encodingParams, '2');
    // Unknown attributes are kept verbatim and in order.
    assert.deepEqual(
      sdp.attributes.map((a) => [a.name, a.value]),
      [
        ['group', 'BUNDLE 0 1'],
        ['extmap-allow-mixed', undefined],
        ['msid-semantic', ' WMS stream1'],
      ],
    );
    // rtcp-mux: the endpoint carries no separate RTCP port.
    assert.deepEqual(mediaEndpointOf(sdp, 0), {
      address: '203.0.113.7',
      port: 54400,
      rtcpMux: true,
      payloadTypes: [111, 63, 9, 0, 8, 13, 110, 126],
    });
  });

  it('parses SDES crypto lines (RFC 4568)', () => {
    const sdp = parsed(SRTP_SDES_OFFER);
    const m = m0(sdp);
    assert.equal(m.proto, 'RTP/SAVP');
    const c = cryptos(m);
    assert.equal(c.length, 2);
    assert.equal(c[0]?.tag, 1);
    assert.equal(c[0]?.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(c[0]?.keyParams[0]?.method, 'inline');
    assert.equal(c[0]?.keyParams[0]?.keySalt.length, 40);
    assert.equal(c[0]?.keyParams[0]?.lifetime, '2^20');
    assert.equal(c[0]?.keyParams[0]?.mki, '1:4');
    assert.equal(c[1]?.suite, 'AES_CM_128_HMAC_SHA1_32');
    assert.equal(c[1]?.keyParams[0]?.lifetime, undefined);
  });

  it('reads hold: c=0.0.0.0 and a=sendonly yield no endpoint', () => {
    const sdp = parsed(HOLD_OFFER);
    assert.equal(mediaDirection(sdp, m0(sdp)), 'sendonly');
    assert.equal(mediaEndpointOf(sdp, 0), null);
  });

  it('reads two media sections with their own c=, b=, rtcp, session direction', () => {
    const sdp = parsed(AUDIO_VIDEO_OFFER);
    assert.equal(sdp.info, 'A Seminar on the session description protocol');
    assert.deepEqual(sdp.emails, ['e=j.doe@example.com (Jane Doe)'.slice(2)]);
    assert.deepEqual(sdp.bandwidths, [{ type: 'AS', value: 512 }]);
    assert.equal(sessionDirection(sdp), 'recvonly');
    assert.equal(mediaDirection(sdp, m0(sdp, 1)), 'recvonly');
    assert.deepEqual(mediaEndpointOf(sdp, 0), { address: '198.51.100.40', port: 49170, rtcpPort: 53020, payloadTypes: [0] });
    assert.deepEqual(mediaEndpointOf(sdp, 1), { address: '198.51.100.41', port: 51372, payloadTypes: [99] });
    assert.equal(mediaEndpointOf(sdp, 2), null);
    assert.deepEqual(m0(sdp, 1).bandwidths, [{ type: 'TIAS', value: 256000 }]);
    assert.deepEqual(m0(sdp, 1).attributes.at(-1), { name: 'x-custom-thing', value: 'keep me' });
  });

  it('withDirection replaces the direction attribute', () => {
    const sdp = parsed(ASTERISK_OFFER);
    const attrs = withDirection(m0(sdp).attributes, 'inactive');
    assert.equal(attrs.filter((a) => a.name === 'sendrecv').length, 0);
    assert.equal(mediaDirection(sdp, { ...m0(sdp), attributes: attrs }), 'inactive');
  });

  const bad: [string, string, string][] = [
    ['empty', '', 'SDP_EMPTY'],
    ['blank lines only', '\r\n\r\n', 'SDP_EMPTY'],
    ['no v=', 'o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n', 'SDP_BAD_VERSION'],
    ['v=1', 'v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n', 'SDP_BAD_VERSION'],
    ['missing o=', 'v=0\r\ns=-\r\nt=0 0\r\n', 'SDP_MISSING_LINE'],
    ['missing s=', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n', 'SDP_MISSING_LINE'],
    ['bad o=', 'v=0\r\no=- x 1 IN IP4 192.0.2.1\r\ns=-\r\n', 'SDP_BAD_ORIGIN'],
    ['short o=', 'v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n', 'SDP_BAD_ORIGIN'],
    ['bad c=', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IPX 1.2.3.4\r\n', 'SDP_BAD_CONNECTION'],
    ['two c=', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\n', 'SDP_DUPLICATE_LINE'],
    ['not type=value', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nhello\r\n', 'SDP_BAD_LINE'],
    ['upper-case type', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nM=audio 1 RTP/AVP 0\r\n', 'SDP_BAD_LINE'],
    ['m= port too big', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n', 'SDP_BAD_MEDIA'],
    ['m= PT 128', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP 128\r\n', 'SDP_BAD_MEDIA'],
    ['m= no formats', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP\r\n', 'SDP_BAD_MEDIA'],
    ['bad b=', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nb=AS:x\r\n', 'SDP_BAD_BANDWIDTH'],
    ['bad t=', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0\r\n', 'SDP_BAD_TIMING'],
    ['r= before t=', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nr=7d 1h 0 25h\r\n', 'SDP_BAD_TIMING'],
    ['bad attribute name', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\na=bad name:x\r\n', 'SDP_BAD_ATTRIBUTE'],
    ['t= in media', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\nt=0 0\r\n', 'SDP_BAD_LINE'],
    ['NUL in value', 'v=0\r\no=- 1 1 IN IP4 a\r\ns=a\u0000b\r\n', 'SDP_BAD_LINE'],
  ];
  for (const [name, text, code] of bad) {
    it(`rejects ${name} with ${code}`, () => {
      const r = parseSdp(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code);
    });
  }

  it('rejects invalid UTF-8', () => {
    const r = parseSdp(Buffer.from([0x76, 0x3d, 0x30, 0x0d, 0x0a, 0xff, 0xfe]));
    assert.equal(r.ok ? 'ok' : r.error.code, 'SDP_BAD_ENCODING');
  });

  it('enforces the line, length and media bounds', () => {
    const head = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n';
    const long = `${head}a=x:${'y'.repeat(SDP_MAX_LINE_LENGTH)}\r\n`;
    assert.equal(((r) => (r.ok ? 'ok' : r.error.code))(parseSdp(long)), 'SDP_LINE_TOO_LONG');
    const many = head + 'a=x\r\n'.repeat(SDP_MAX_LINES);
    assert.equal(((r) => (r.ok ? 'ok' : r.error.code))(parseSdp(many)), 'SDP_TOO_MANY_LINES');
    const media = head + 'm=audio 4000 RTP/AVP 0\r\n'.repeat(9);
    assert.equal(((r) => (r.ok ? 'ok' : r.error.code))(parseSdp(media)), 'SDP_TOO_MANY_MEDIA');
    const eight = head + 'm=audio 4000 RTP/AVP 0\r\n'.repeat(8);
    assert.equal(parseSdp(eight).ok, true);
    assert.equal(((r) => (r.ok ? 'ok' : r.error.code))(parseSdp('x'.repeat(3_000_000))), 'SDP_TOO_LARGE');
  });
});

describe('rewriteForRelay', () => {
  const opts = { originAddress: '203.0.113.1', sessionVersionBump: true };

  it('anchors an Asterisk offer on the relay', () => {
    const sdp = parsed(ASTERISK_OFFER);
    const out = rewriteForRelay(sdp, [{ address: '203.0.113.1', port: 30000, rtcpPort: 30001 }], opts);
    const text = serializeSdp(out);
    assert.ok(!text.includes('192.0.2.10'), 'no inside address leaks');
    assert.equal(out.origin.address, '203.0.113.1');
    assert.equal(out.origin.sessionVersion, '1653924128');
    assert.deepEqual(out.connection, { netType: 'IN', addrType: 'IP4', address: '203.0.113.1' });
    assert.equal(m0(out).port, 30000);
    assert.equal(m0(out).connection, undefined);
    assert.deepEqual(mediaEndpointOf(out, 0), { address: '203.0.113.1', port: 30000, rtcpPort: 30001, payloadTypes: [0, 8, 9, 18, 101] });
    // codecs and other attributes untouched
    assert.deepEqual(m0(out).formats, ['0', '8', '9', '18', '101']);
    assert.ok(text.includes('a=fmtp:101 0-16\r\n'));
    // input not mutated
    assert.equal(serializeSdp(sdp), ASTERISK_OFFER);
    // result re-parses to the same thing
    assert.deepEqual(parsed(text), out);
  });

  it('bumps very large session versions exactly', () => {
    const sdp = parsed(WEBRTC_OFFER.replace(' 2 IN IP4', ' 18446744073709551615 IN IP4'));
    const out = rewriteForRelay(sdp, [null, null], opts);
    assert.equal(out.origin.sessionVersion, '18446744073709551616');
    assert.equal(rewriteForRelay(sdp, [], { ...opts, sessionVersionBump: false }).origin.sessionVersion, '18446744073709551615');
  });

  it('strips ICE, DTLS and candidates from a WebRTC offer toward the PBX', () => {
    const sdp = parsed(WEBRTC_OFFER);
    const out = rewriteForRelay(
      sdp,
      [
        { address: '10.0.0.5', port: 40000, rtcpPort: 40001, proto: 'RTP/AVP' },
        { address: '10.0.0.5', port: 40002, rtcpPort: 40003, proto: 'RTP/AVP' },
      ],
      { ...opts, originAddress: '10.0.0.5', removeIce: true, removeFingerprint: true, removeCrypto: true },
    );
    const text = serializeSdp(out);
    for (const gone of [
      'candidate',
      'ice-ufrag',
      'ice-pwd',
      'ice-options',
      'fingerprint',
      'setup',
      '203.0.113.7',
      '192.168.1.20',
      '0.0.0.0',
    ]) {
      assert.ok(!text.includes(gone), `${gone} removed`);
    }
    assert.equal(m0(out).proto, 'RTP/AVP');
    assert.equal(m0(out, 1).port, 40002);
    assert.deepEqual(rtcpOf(m0(out)), { port: 40001, connection: { netType: 'IN', addrType: 'IP4', address: '10.0.0.5' } });
    assert.ok(text.includes('a=mid:0\r\n') && text.includes('a=ssrc:3735928559 cname:abcdEFGH\r\n'), 'unknown attributes kept');
    assert.ok(text.includes('a=rtcp-mux\r\n'));
  });

  it('keeps ICE credentials when not asked to remove them, but always drops candidates', () => {
    const out = rewriteForRelay(parsed(WEBRTC_OFFER), [{ address: '203.0.113.1', port: 30000 }, null], opts);
    const text = serializeSdp(out);
    assert.ok(text.includes('a=ice-ufrag:EsAw'));
    assert.ok(!text.includes('a=candidate'));
    assert.equal(rtcpOf(m0(out)), undefined, 'a=rtcp removed when no rtcp port is given');
    assert.equal(m0(out, 1).port, 0, 'section without a target is disabled');
  });

  it('removes SDES keys on request', () => {
    const out = rewriteForRelay(parsed(SRTP_SDES_OFFER), [{ address: '203.0.113.1', port: 30000 }], {
      ...opts,
      removeCrypto: true,
    });
    assert.equal(cryptos(m0(out)).length, 0);
    assert.ok(!serializeSdp(out).includes('inline:'));
  });

  it('keeps an RFC 2543 hold address and the direction', () => {
    const out = rewriteForRelay(parsed(HOLD_OFFER), [{ address: '203.0.113.1', port: 30000 }], opts);
    assert.equal(out.connection?.address, '0.0.0.0');
    assert.equal(m0(out).port, 30000);
    assert.equal(mediaDirection(out, m0(out)), 'sendonly');
    assert.equal(out.origin.address, '203.0.113.1');
  });

  it('handles two sections on different relay addresses, and IPv6', () => {
    const out = rewriteForRelay(
      parsed(AUDIO_VIDEO_OFFER),
      [
        { address: '2001:db8::1', port: 30000 },
        { address: '2001:db8::2', port: 30002 },
      ],
      { originAddress: '2001:db8::1', sessionVersionBump: false },
    );
    assert.equal(out.origin.addrType, 'IP6');
    assert.deepEqual(mediaEndpointOf(out, 0), { address: '2001:db8::1', port: 30000, payloadTypes: [0] });
    assert.deepEqual(mediaEndpointOf(out, 1), { address: '2001:db8::2', port: 30002, payloadTypes: [99] });
    assert.equal(m0(out, 1).connection?.addrType, 'IP6');
    assert.equal(out.origin.sessionVersion, '2890842807');
  });
});

describe('filterCodecs', () => {
  it('keeps only allowed codecs with their rtpmap/fmtp (static PTs without rtpmap)', () => {
    const noMaps = ASTERISK_OFFER.replace(/a=rtpmap:(0|8|9|18) .*\r\n/g, '');
    const r = filterCodecs(parsed(noMaps), ['pcma', 'G729', 'Telephone-Event']);
    assert.equal(r.removedAll, false);
    const m = m0(r.sdp);
    assert.deepEqual(m.formats, ['8', '18', '101']);
    assert.deepEqual([...fmtps(m).keys()], [18, 101]);
    const none = filterCodecs(parsed(ASTERISK_OFFER), ['PCMU']);
    assert.deepEqual(m0(none.sdp).formats, ['0']);
    assert.deepEqual([...rtpmaps(m0(none.sdp)).keys()], [0]);
    assert.equal(fmtps(m0(none.sdp)).size, 0);
  });

  it('drops rtx/red whose primary is gone and rtcp-fb of removed types', () => {
    const r = filterCodecs(parsed(WEBRTC_OFFER), ['opus', 'rtx', 'red', 'telephone-event']);
    assert.deepEqual(m0(r.sdp).formats, ['111', '63', '110', '126']);
    assert.equal(m0(r.sdp, 1).port, 0, 'video has only rtx left: disabled');
    assert.deepEqual(r.disabledMedia, [1]);
    assert.equal(r.removedAll, false);
    const text = serializeSdp(r.sdp);
    assert.ok(!text.includes('a=rtcp-fb:96'));
    assert.ok(text.includes('a=rtcp-fb:111 transport-cc'));
    const noOpus = filterCodecs(parsed(WEBRTC_OFFER), ['PCMU', 'red', 'VP8', 'rtx']);
    assert.deepEqual(m0(noOpus.sdp).formats, ['0'], 'red without its primary goes');
    assert.deepEqual(m0(noOpus.sdp, 1).formats, ['96', '97']);
  });

  it('reports removedAll when nothing allowed remains, leaving valid m= lines', () => {
    const r = filterCodecs(parsed(ASTERISK_OFFER), ['opus', 'telephone-event']);
    assert.equal(r.removedAll, true);
    assert.equal(m0(r.sdp).port, 0);
    assert.equal(m0(r.sdp).formats.length, 1);
    assert.equal(parseSdp(serializeSdp(r.sdp)).ok, true);
  });

  it('removes a dynamic payload type that has no rtpmap', () => {
    const sdp = parsed(ASTERISK_OFFER.replace('a=rtpmap:101 telephone-event/8000\r\n', ''));
    assert.deepEqual(m0(filterCodecs(sdp, ['PCMU', 'telephone-event']).sdp).formats, ['0']);
  });
});

describe('SDP properties', () => {
  it('parseSdp never throws on random bytes or random lines', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        parseSdp(Buffer.from(bytes));
      }),
      { numRuns: 500 },
    );
    const line = fc.tuple(fc.constantFrom(...'vosicbtrzkamuep'), fc.string({ maxLength: 60 })).map(([t, v]) => `${t}=${v}`);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (lines) => {
        const r = parseSdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', ...lines].join('\r\n'));
        if (r.ok) {
          // Whatever parses must serialize to something that parses to the same model.
          const again = parseSdp(serializeSdp(r.value));
          assert.ok(again.ok);
          assert.deepEqual(again.value, r.value);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('serialize∘parse is the identity on well-formed SDP (generated)', () => {
    const token = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,11}$/);
    const text = fc.stringMatching(/^[a-zA-Z0-9 _.,:;@()+=/-]{0,30}$/);
    const ip4 = fc.ipV4();
    const conn = ip4.map((address) => ({ netType: 'IN', addrType: 'IP4', address }));
    const attr = fc.record({ name: token, value: fc.option(text, { nil: undefined }) });
    const bw = fc.record({ type: fc.constantFrom('AS', 'CT', 'TIAS'), value: fc.nat(1_000_000) });
    const media = fc.record({
      type: fc.constantFrom('audio', 'video', 'application'),
      port: fc.integer({ min: 0, max: 65535 }),
      portCount: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      proto: fc.constantFrom('RTP/AVP', 'RTP/SAVP', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVPF'),
      formats: fc.array(fc.integer({ min: 0, max: 127 }).map(String), { minLength: 1, maxLength: 6 }),
      info: fc.option(text, { nil: undefined }),
      connection: fc.option(conn, { nil: undefined }),
      bandwidths: fc.array(bw, { maxLength: 2 }),
      key: fc.constant(undefined),
      attributes: fc.array(attr, { maxLength: 8 }),
      otherLines: fc.constant([] as Sdp['otherLines']),
    });
    const sdpArb = fc.record({
      version: fc.constant(0),
      origin: fc.record({
        username: token,
        sessionId: fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
        sessionVersion: fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
        netType: fc.constant('IN'),
        addrType: fc.constant('IP4'),
        address: ip4,
      }),
      sessionName: text,
      info: fc.option(text, { nil: undefined }),
      uri: fc.constant(undefined),
      emails: fc.array(text, { maxLength: 1 }),
      phones: fc.constant([] as string[]),
      connection: fc.option(conn, { nil: undefined }),
      bandwidths: fc.array(bw, { maxLength: 2 }),
      timing: fc.array(fc.record({ start: fc.nat().map(String), stop: fc.nat().map(String), repeats: fc.constant([] as string[]) }), {
        maxLength: 2,
      }),
      zone: fc.constant(undefined),
      key: fc.constant(undefined),
      attributes: fc.array(attr, { maxLength: 6 }),
      otherLines: fc.constant([] as Sdp['otherLines']),
      media: fc.array(media, { maxLength: 8 }),
    });
    fc.assert(
      fc.property(sdpArb, (sdp: Sdp) => {
        const text1 = serializeSdp(sdp);
        const back = parsed(text1);
        assert.deepEqual(back, structuredClone(sdp)); // structuredClone: fast-check records have a null prototype
        assert.equal(serializeSdp(back), text1);
      }),
      { numRuns: 300 },
    );
  });

  it('rewrite and filter never throw on any parsed sample mutation', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(SAMPLES)), fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 }), (text, allowed) => {
        const sdp = parsed(text);
        const f = filterCodecs(sdp, allowed);
        const out = rewriteForRelay(f.sdp, [{ address: '192.0.2.1', port: 2000 }], {
          originAddress: '192.0.2.1',
          sessionVersionBump: true,
        });
        assert.equal(parseSdp(serializeSdp(out)).ok, true);
      }),
      { numRuns: 200 },
    );
  });
});
