/**
 * ICE-lite on a secure leg's public side (see secure-relay.ts): the responder set from what the SDP negotiated, and
 * the answer to a connectivity check, which is what latches the peer while ICE runs (RFC 8445 §7.3). The state
 * lives in SecureSide.
 */
import type { RemoteInfo } from 'node:dgram';
import { createIceLiteResponder, isValidIcePwd, isValidIceUfrag } from './ice-lite.ts';
import type { RelaySideState } from './plain-relay.ts';
import type { SecureSide } from './secure-side.ts';
import type { PublicSecurity } from './secure-types.ts';

/** Why these ICE credentials cannot be used, or undefined when they can (or there is no ICE). */
export function iceCredentialsError(ice: PublicSecurity['ice']): string | undefined {
  if (ice && (!isValidIceUfrag(ice.localUfrag) || !isValidIcePwd(ice.localPwd))) return 'bad ICE credentials';
  if (ice?.remoteUfrag !== undefined && !isValidIceUfrag(ice.remoteUfrag)) return 'bad remote ICE ufrag';
  return undefined;
}

/**
 * Sets the ICE-lite responder (undefined: no ICE). The responder is kept while our credentials stay the same; a
 * remote ufrag that arrives later (the client's SDP) is handed to it.
 */
export function applyIce(s: SecureSide, ice: PublicSecurity['ice']): void {
  if (ice) {
    if (s.ice === null || s.iceUfrag !== ice.localUfrag || s.icePwd !== ice.localPwd) {
      s.ice = createIceLiteResponder({
        localUfrag: ice.localUfrag,
        localPwd: ice.localPwd,
        ...(ice.remoteUfrag !== undefined ? { remoteUfrag: ice.remoteUfrag } : {}),
      });
      s.iceUfrag = ice.localUfrag;
      s.icePwd = ice.localPwd;
    } else if (ice.remoteUfrag !== undefined) {
      s.ice.setRemoteUfrag(ice.remoteUfrag);
    }
  } else {
    s.ice = null;
    s.iceUfrag = '';
    s.icePwd = '';
  }
}

/**
 * A STUN message on the public side of a secure leg: answers a Binding request (from the RTP socket only) and
 * latches its source when the check is valid. True when the latch moved (DTLS may start toward it now).
 */
export function answerIceCheck(s: SecureSide, pub: RelaySideState, onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): boolean {
  const c = pub.counters;
  const ice = s.ice;
  if (ice === null || onRtcpSocket) {
    c.dropMalformed++;
    return false;
  }
  const r = ice.handle(msg, rinfo.address, rinfo.port, s.stunOut);
  if (r.kind === 'drop') {
    c.dropMalformed++;
    return false;
  }
  try {
    pub.rtp.sock.send(s.stunOut, 0, r.length, rinfo.port, rinfo.address);
  } catch {
    c.dropSendError++;
  }
  if (r.kind === 'error') {
    s.counters.iceRejected++;
    c.dropAuthFailed++;
    return false;
  }
  s.counters.iceAnswered++;
  // RFC 8445 §7.3.1.5: a lite agent uses the nominated pair; before a nomination, the first valid check.
  if (!s.latched || (r.useCandidate && (rinfo.port !== s.latchPort || rinfo.address !== s.latchAddress))) {
    s.latched = true;
    s.latchAddress = rinfo.address;
    s.latchPort = rinfo.port;
    s.counters.latches++;
    return true;
  }
  return false;
}
