/**
 * A call record as the proxy would hand it to the media anchor (early INVITE dialog, public side first), for tests
 * that drive the anchor and the relay without SIP. Each call gets a fresh id.
 */
import type { SipTransport } from '../../../src/core/net.ts';
import type { Call } from '../../../src/proxy/calls.ts';

let seq = 0;

/** `transport`: how the client's signalling arrived (SDES needs tls/wss); `address`: the client's signalling source. */
export function fakeCall(transport: SipTransport = 'udp', address = '127.0.0.1'): Call {
  const id = `fake-${++seq}`;
  const leg = (side: 'public' | 'pbx') => ({
    side,
    callId: `${id}-${side}`,
    flow: { transport: side === 'public' ? transport : ('udp' as const), address, port: 5060 },
    remoteTarget: undefined,
    routeSet: [],
    cseqOffset: 0,
    lastCseq: 1,
  });
  return {
    id,
    createdAt: 0,
    caller: 'public',
    dialog: true,
    method: 'INVITE',
    fromTag: 'f',
    toTag: undefined,
    state: 'early',
    legs: { public: leg('public'), pbx: leg('pbx') },
    pbxName: undefined,
    lastActivityAt: 0,
    confirmedAt: undefined,
    media: undefined,
    identity: undefined,
    trustedPeer: undefined,
  };
}
