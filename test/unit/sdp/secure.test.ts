/** Media security decisions on SDP: which mechanism a section asks for, DTLS roles, what Palisade writes, hold. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  answerDtlsRole,
  applyPlainParams,
  applySecureParams,
  applySessionIce,
  attributeValues,
  findAttribute,
  isOnHold,
  mediaSecurityOf,
  offerDtlsRole,
  parseSdp,
  type Sdp,
  serializeSdp,
  sha256FingerprintOf,
} from '../../../src/sdp/index.ts';

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';

function sdp(media: string, session = ''): Sdp {
  const r = parseSdp(`v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n${session}${media}`);
  assert.ok(r.ok, r.ok ? '' : r.error.reason);
  return r.value;
}

describe('mediaSecurityOf', () => {
  const table: Array<[string, string]> = [
    ['m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n', 'sdes'],
    ['m=audio 4000 RTP/SAVPF 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n', 'sdes'],
    ['m=audio 4000 RTP/SAVP 0\r\n', 'unsupported'],
    [`m=audio 4000 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 ${FP}\r\n`, 'dtls'],
    ['m=audio 4000 UDP/TLS/RTP/SAVPF 111\r\n', 'unsupported'],
    ['m=audio 4000 RTP/AVP 0\r\n', 'plain'],
    ['m=video 4000 RTP/AVPF 96\r\n', 'plain'],
    ['m=application 4000 UDP/DTLS/SCTP webrtc-datachannel\r\n', 'unsupported'],
  ];
  for (const [m, want] of table) {
    it(`${m.split('\r\n')[0]} → ${want}`, () => {
      const s = sdp(m);
      assert.equal(mediaSecurityOf(s, s.media[0] as Sdp['media'][number]), want);
    });
  }
  it('takes a session-level fingerprint (RFC 8122 §5)', () => {
    const s = sdp('m=audio 4000 UDP/TLS/RTP/SAVP 0\r\n', `a=fingerprint:sha-256 ${FP}\r\n`);
    const m = s.media[0] as Sdp['media'][number];
    assert.equal(mediaSecurityOf(s, m), 'dtls');
    assert.equal(sha256FingerprintOf(s, m), FP);
  });
  it('finds no SHA-256 fingerprint when only another hash is given', () => {
    const s = sdp(`m=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=fingerprint:sha-1 ${FP.slice(0, 59)}\r\n`);
    assert.equal(sha256FingerprintOf(s, s.media[0] as Sdp['media'][number]), undefined);
  });
});

describe('DTLS roles (RFC 4145 §4.1, RFC 5763 §5)', () => {
  it('answering an offer: actpass/active/absent → we are server; passive → client; holdconn → none', () => {
    assert.equal(answerDtlsRole('actpass'), 'server');
    assert.equal(answerDtlsRole('active'), 'server');
    assert.equal(answerDtlsRole(undefined), 'server');
    assert.equal(answerDtlsRole('passive'), 'client');
    assert.equal(answerDtlsRole('holdconn'), undefined);
  });
  it('after our actpass offer: answer active → server, passive → client, actpass is no answer', () => {
    assert.equal(offerDtlsRole('active'), 'server');
    assert.equal(offerDtlsRole('passive'), 'client');
    assert.equal(offerDtlsRole('actpass'), undefined);
  });
});

describe('applySecureParams / applyPlainParams', () => {
  it('replaces the other side’s keys and ICE with ours, and adds a host candidate', () => {
    const s = sdp(
      `m=audio 4000 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 ${FP}\r\na=setup:actpass\r\na=ice-ufrag:abcd\r\n` +
        'a=ice-pwd:pppppppppppppppppppppppp\r\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\na=rtcp-mux\r\na=rtcp:4001\r\na=sendrecv\r\n',
    );
    const m = s.media[0] as Sdp['media'][number];
    applySecureParams(m, {
      proto: 'UDP/TLS/RTP/SAVPF',
      fingerprint: '11:22',
      setup: 'passive',
      ice: { ufrag: 'ours', pwd: 'o'.repeat(24), address: '203.0.113.5', port: 30000 },
      rtcpMux: true,
    });
    applySessionIce(s, true);
    const text = serializeSdp(s);
    assert.ok(!text.includes(FP) && !text.includes('abcd') && !text.includes('10.0.0.1') && !text.includes('a=rtcp:'), text);
    assert.deepEqual(attributeValues(m.attributes, 'fingerprint'), ['sha-256 11:22']);
    assert.deepEqual(attributeValues(m.attributes, 'setup'), ['passive']);
    assert.deepEqual(attributeValues(m.attributes, 'candidate'), ['1 1 udp 2130706431 203.0.113.5 30000 typ host']);
    assert.equal(m.attributes.filter((a) => a.name === 'rtcp-mux').length, 1);
    assert.ok(findAttribute(m.attributes, 'sendrecv'), 'direction kept');
    assert.ok(findAttribute(s.attributes, 'ice-lite'));
  });
  it('SDES: one a=crypto of ours; toward the PBX: RTP/AVP with no keys, no ICE, no rtcp-mux', () => {
    const s = sdp('m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:THEIRS\r\na=rtcp-mux\r\n');
    const m = s.media[0] as Sdp['media'][number];
    applySecureParams(m, { proto: 'RTP/SAVP', crypto: '1 AES_CM_128_HMAC_SHA1_80 inline:OURS', rtcpMux: false });
    assert.deepEqual(attributeValues(m.attributes, 'crypto'), ['1 AES_CM_128_HMAC_SHA1_80 inline:OURS']);
    assert.equal(findAttribute(m.attributes, 'rtcp-mux'), undefined);
    const p = sdp('m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:THEIRS\r\na=rtcp-mux\r\na=ice-ufrag:x\r\n');
    const pm = p.media[0] as Sdp['media'][number];
    applyPlainParams(pm);
    assert.equal(pm.proto, 'RTP/AVP');
    assert.deepEqual(pm.attributes, [], serializeSdp(p));
  });
});

describe('isOnHold (RFC 3264 §8.4)', () => {
  it('sendonly, recvonly, inactive or c=0.0.0.0 on every active section is hold; sendrecv is not', () => {
    assert.equal(isOnHold(sdp('m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n')), true);
    assert.equal(isOnHold(sdp('m=audio 4000 RTP/AVP 0\r\na=inactive\r\n')), true);
    assert.equal(isOnHold(sdp('m=audio 4000 RTP/AVP 0\r\n', 'a=recvonly\r\n')), true);
    assert.equal(isOnHold(sdp('m=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n')), true);
    assert.equal(isOnHold(sdp('m=audio 4000 RTP/AVP 0\r\n')), false);
    assert.equal(isOnHold(sdp('m=audio 4000 RTP/AVP 0\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\n')), false);
    assert.equal(isOnHold(sdp('m=audio 0 RTP/AVP 0\r\n')), false, 'no active section');
    const ice = 'a=ice-ufrag:abcd\r\na=ice-pwd:pppppppppppppppppppppppp\r\n';
    assert.equal(isOnHold(sdp(`m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n${ice}`)), false, 'ICE: 0.0.0.0 is no hold');
  });
});
