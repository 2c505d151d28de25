/**
 * Who may be a leg's DTLS peer when there is no ICE to say (RFC 5763 §5 leaves it to the first source).
 *
 * Without ICE the first source of a DTLS record becomes the peer, and the handshake (a=fingerprint, checked) proves
 * who it is. That alone let anyone who reached a fresh relay port first hold the leg: their handshake failed or
 * stalled, and the real client's records were dropped as coming from elsewhere until the call gave up. So while no
 * handshake of the component has completed, a new source's ClientHello takes the peer slot (with a fresh endpoint)
 * when
 *   - the handshake in progress has failed (bad certificate, bad signature, time bound), or
 *   - the newcomer is exactly the endpoint the client signalled and the current peer is not
 *     (a client that is not behind NAT then always wins the race),
 * Takeovers after a failure are limited to MAX_DTLS_PEER_RESTARTS per component and set of keys, so a flood of
 * failing handshakes cannot make the relay run handshakes without end; the signalled endpoint's takeover is not
 * limited (it cannot repeat without a failure in between). Only as DTLS server: as client Palisade sends its first flight to the signalled
 * endpoint and talks to that endpoint only.
 */

/** Fresh endpoints per component (per a=fingerprint/role), beyond the first. */
export const MAX_DTLS_PEER_RESTARTS = 4;

const DTLS_HANDSHAKE = 22;
const CLIENT_HELLO = 1;

/** A DTLS 1.x record of epoch 0 carrying the start of a ClientHello (record header 13 bytes, then msg_type). */
export function isClientHello(msg: Uint8Array): boolean {
  return msg.length > 25 && msg[0] === DTLS_HANDSHAKE && msg[1] === 0xfe && msg[3] === 0 && msg[4] === 0 && msg[13] === CLIENT_HELLO;
}

export interface DtlsPeerSlot {
  /** The peer chosen so far (port 0: none). */
  address: string;
  port: number;
  /** The component's handshake completed: the peer is proven and never replaced. */
  connected: boolean;
  /** The handshake with the current peer failed. */
  failed: boolean;
  /** Fresh endpoints opened so far for this component. */
  restarts: number;
}

/** Whether a record from `address:port` takes the slot from its current peer (see the module comment). */
export function takesOverDtlsPeer(
  slot: DtlsPeerSlot,
  msg: Uint8Array,
  address: string,
  port: number,
  signalledAddress: string,
  signalledPort: number,
): boolean {
  if (slot.connected || !isClientHello(msg)) return false;
  const fromSignalled = signalledPort !== 0 && port === signalledPort && address === signalledAddress;
  const peerIsSignalled = slot.port === signalledPort && slot.address === signalledAddress;
  // Not budgeted: it cannot repeat unless the signalled peer's own handshake fails in between (which is budgeted),
  // so strangers who burn the budget with failed handshakes still cannot lock out a client that is not behind NAT.
  if (fromSignalled && !peerIsSignalled) return true;
  return slot.failed && slot.restarts < MAX_DTLS_PEER_RESTARTS;
}
