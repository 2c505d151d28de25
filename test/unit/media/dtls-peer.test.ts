import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DtlsPeerSlot, isClientHello, MAX_DTLS_PEER_RESTARTS, takesOverDtlsPeer } from '../../../src/media/dtls-peer.ts';

/** A DTLS 1.2 record of epoch 0 whose handshake message is `type` (1 = ClientHello), padded past the handshake header. */
function record(type: number, contentType = 22, epoch = 0): Buffer {
  const b = Buffer.alloc(40);
  b[0] = contentType;
  b[1] = 0xfe;
  b[2] = 0xfd;
  b.writeUInt16BE(epoch, 3);
  b.writeUInt16BE(27, 11);
  b[13] = type;
  return b;
}

const HELLO = record(1);
const slot = (over: Partial<DtlsPeerSlot> = {}): DtlsPeerSlot => ({
  address: '192.0.2.66',
  port: 40000,
  connected: false,
  failed: false,
  restarts: 0,
  ...over,
});
const SIGNALLED = ['198.51.100.7', 5004] as const;

describe('DTLS peer slot without ICE', () => {
  it('recognises a ClientHello and nothing else', () => {
    assert.equal(isClientHello(HELLO), true);
    assert.equal(isClientHello(record(2)), false, 'ServerHello');
    assert.equal(isClientHello(record(1, 23)), false, 'application data');
    assert.equal(isClientHello(record(1, 22, 1)), false, 'epoch 1 (encrypted Finished)');
    assert.equal(isClientHello(HELLO.subarray(0, 14)), false, 'truncated');
    assert.equal(isClientHello(Buffer.alloc(0)), false);
  });

  it('gives the slot to the signalled endpoint over a first source that is not it', () => {
    assert.equal(takesOverDtlsPeer(slot(), HELLO, ...SIGNALLED, ...SIGNALLED), true);
    assert.equal(takesOverDtlsPeer(slot(), HELLO, '203.0.113.9', 41000, ...SIGNALLED), false, 'another stranger');
    assert.equal(takesOverDtlsPeer(slot(), HELLO, SIGNALLED[0], 5006, ...SIGNALLED), false, 'signalled host, other port');
    const peerIsSignalled = slot({ address: SIGNALLED[0], port: SIGNALLED[1] });
    assert.equal(takesOverDtlsPeer(peerIsSignalled, HELLO, '203.0.113.9', 41000, ...SIGNALLED), false);
    assert.equal(takesOverDtlsPeer(slot(), record(11), ...SIGNALLED, ...SIGNALLED), false, 'only a ClientHello');
    assert.equal(takesOverDtlsPeer(slot(), HELLO, ...SIGNALLED, '', 0), false, 'nothing signalled');
  });

  it('after a failed handshake any ClientHello may take the slot (a client behind NAT)', () => {
    assert.equal(takesOverDtlsPeer(slot({ failed: true }), HELLO, '203.0.113.9', 41000, ...SIGNALLED), true);
    assert.equal(takesOverDtlsPeer(slot({ failed: true }), record(16), '203.0.113.9', 41000, ...SIGNALLED), false);
  });

  it('never replaces a peer whose handshake completed, and stops after the restart budget', () => {
    assert.equal(takesOverDtlsPeer(slot({ connected: true, failed: true }), HELLO, ...SIGNALLED, ...SIGNALLED), false);
    assert.equal(
      takesOverDtlsPeer(slot({ failed: true, restarts: MAX_DTLS_PEER_RESTARTS - 1 }), HELLO, '203.0.113.9', 1, ...SIGNALLED),
      true,
    );
    assert.equal(takesOverDtlsPeer(slot({ failed: true, restarts: MAX_DTLS_PEER_RESTARTS }), HELLO, '203.0.113.9', 1, ...SIGNALLED), false);
  });

  it('strangers who burn the budget with failed handshakes cannot lock out the signalled endpoint', () => {
    const burnt = slot({ failed: true, restarts: MAX_DTLS_PEER_RESTARTS });
    assert.equal(takesOverDtlsPeer(burnt, HELLO, ...SIGNALLED, ...SIGNALLED), true);
    assert.equal(
      takesOverDtlsPeer(slot({ restarts: MAX_DTLS_PEER_RESTARTS }), HELLO, ...SIGNALLED, ...SIGNALLED),
      true,
      'stalled, not failed',
    );
    // Once it holds the slot, only its own failure (budgeted) frees it again.
    const held = slot({ address: SIGNALLED[0], port: SIGNALLED[1], restarts: MAX_DTLS_PEER_RESTARTS });
    assert.equal(takesOverDtlsPeer(held, HELLO, ...SIGNALLED, ...SIGNALLED), false);
    assert.equal(takesOverDtlsPeer({ ...held, failed: true }, HELLO, ...SIGNALLED, ...SIGNALLED), false, 'budget spent');
  });
});
