/**
 * Media anchoring as the proxy sees it: allocate relay ports when a call's first SDP arrives, tell the relay
 * where each side receives, and rewrite every SDP so its receiver sends to Palisade (RFC 3264 offer/answer,
 * both directions, re-INVITE/UPDATE included). The relay itself sits behind MediaControl.
 */
import type { MediaControl, MediaSessionHandle } from '../media/control.ts';
import { mediaEndpointOf, parseSdp, type RelayTarget, rewriteForRelay, serializeSdp } from '../sdp/index.ts';
import type { MediaHook } from './b2bua.ts';
import type { Call, Side } from './calls.ts';

export interface MediaAnchorOptions {
  /** Address written into SDP sent to clients. */
  readonly publicAdvertise: string;
  /** Address written into SDP sent to the PBX. */
  readonly pbxAdvertise: string;
}

interface CallMedia {
  handle: MediaSessionHandle | undefined;
  pending: Promise<boolean> | undefined;
}

function isSdp(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.split(';')[0]?.trim().toLowerCase() === 'application/sdp';
}

export function createMediaAnchor(control: MediaControl, opts: MediaAnchorOptions): MediaHook {
  const advertise = (side: Side): string => (side === 'public' ? opts.publicAdvertise : opts.pbxAdvertise);

  return {
    prepare(call: Call, body: Buffer, contentType: string | undefined): Promise<boolean> | undefined {
      if (body.length === 0 || !isSdp(contentType)) return undefined;
      const state = call.media as CallMedia | undefined;
      if (state?.handle) return undefined;
      if (state?.pending) return state.pending;
      const sdp = parseSdp(body);
      if (!sdp.ok) return undefined; // rewrite() answers 400/488 for it
      const cm: CallMedia = { handle: undefined, pending: undefined };
      call.media = cm;
      cm.pending = control.allocate(call.id, Math.max(1, sdp.value.media.length)).then((r) => {
        cm.pending = undefined;
        if (!r.ok) return false;
        if (call.state === 'terminated') {
          control.release(r.value);
          return false;
        }
        cm.handle = r.value;
        return true;
      });
      return cm.pending;
    },

    rewrite(call, from, body, contentType) {
      if (!isSdp(contentType)) {
        // Non-SDP bodies (DTMF relay INFO, MESSAGE text, NOTIFY bodies) pass as they are.
        return { ok: true, body };
      }
      const parsed = parseSdp(body);
      if (!parsed.ok) return { ok: false, status: 400, reason: 'Bad SDP' };
      const handle = (call.media as CallMedia | undefined)?.handle;
      if (!handle) return { ok: false, status: 503, reason: 'No Media Ports' };
      const sdp = parsed.value;
      if (sdp.media.length > handle.mediaCount) return { ok: false, status: 488, reason: 'Too Many Media Streams' };
      const to: Side = from === 'public' ? 'pbx' : 'public';
      const targets: Array<RelayTarget | null> = [];
      for (let i = 0; i < sdp.media.length; i++) {
        const ep = mediaEndpointOf(sdp, i);
        control.update(handle, from, i, ep);
        const leg = handle.legs[i]?.[to];
        const media = sdp.media[i];
        if (!leg || !media || media.port === 0) {
          targets.push(null);
          continue;
        }
        const mux = ep?.rtcpMux === true;
        targets.push(
          mux
            ? { address: advertise(to), port: leg.localPort }
            : { address: advertise(to), port: leg.localPort, rtcpPort: leg.localRtcpPort },
        );
      }
      // Plain RTP relay for now: the other side's ICE, DTLS and SDES details never cross the border.
      const out = rewriteForRelay(sdp, targets, {
        originAddress: advertise(to),
        sessionVersionBump: false,
        removeIce: true,
        removeCrypto: true,
        removeFingerprint: true,
      });
      return { ok: true, body: Buffer.from(serializeSdp(out), 'latin1') };
    },

    release(call) {
      const cm = call.media as CallMedia | undefined;
      if (cm?.handle) control.release(cm.handle);
      if (cm) cm.handle = undefined;
    },
  };
}
