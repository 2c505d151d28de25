import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEMUX_CLASS_NAMES, DEMUX_DROP, DEMUX_DTLS, DEMUX_RTCP, DEMUX_RTP, DEMUX_STUN, demuxPacket } from '../../../src/media/demux.ts';

function packet(b0: number, b1 = 0, len = 20): Uint8Array {
  const b = new Uint8Array(len);
  if (len > 0) b[0] = b0;
  if (len > 1) b[1] = b1;
  return b;
}

describe('demuxPacket (RFC 7983 §7)', () => {
  it('classifies every first byte by the RFC 7983 ranges', () => {
    for (let b0 = 0; b0 < 256; b0++) {
      const got = demuxPacket(packet(b0, 96));
      const want = b0 <= 3 ? DEMUX_STUN : b0 >= 20 && b0 <= 63 ? DEMUX_DTLS : b0 >= 128 && b0 <= 191 ? DEMUX_RTP : DEMUX_DROP;
      assert.equal(got, want, `first byte ${b0}`);
    }
  });

  it('drops ZRTP (16..19) and TURN channels (64..79)', () => {
    for (const b0 of [16, 19, 64, 79]) assert.equal(demuxPacket(packet(b0)), DEMUX_DROP);
  });

  it('tells RTCP from RTP by the second byte 192..223 (RFC 5761 §4)', () => {
    assert.equal(demuxPacket(packet(0x80, 191)), DEMUX_RTP);
    assert.equal(demuxPacket(packet(0x80, 192)), DEMUX_RTCP);
    assert.equal(demuxPacket(packet(0x81, 200)), DEMUX_RTCP);
    assert.equal(demuxPacket(packet(0x80, 223)), DEMUX_RTCP);
    assert.equal(demuxPacket(packet(0x80, 224)), DEMUX_RTP);
    assert.equal(demuxPacket(packet(0x80, 0x80 | 111)), DEMUX_RTP, 'marker bit set, PT 111');
  });

  it('drops empty packets, one-byte RTP and STUN shorter than its header', () => {
    assert.equal(demuxPacket(new Uint8Array(0)), DEMUX_DROP);
    assert.equal(demuxPacket(packet(0x80, 0, 1)), DEMUX_DROP);
    assert.equal(demuxPacket(packet(0x00, 1, 19)), DEMUX_DROP);
    assert.equal(demuxPacket(packet(0x16, 0xfe, 1)), DEMUX_DTLS, 'the DTLS parser checks its own length');
  });

  it('has a name for every class', () => {
    assert.deepEqual(
      [DEMUX_DROP, DEMUX_STUN, DEMUX_DTLS, DEMUX_RTP, DEMUX_RTCP].map((c) => DEMUX_CLASS_NAMES[c]),
      ['drop', 'stun', 'dtls', 'rtp', 'rtcp'],
    );
  });
});
