/** Outbound message counting for the SIP message metric (the proxy hands the transport bytes, not messages). */
import type { Metrics } from '../observability/metrics.ts';
import { methodLabel } from '../observability/metrics.ts';
import type { Target } from '../transport/types.ts';

/** Outbound message count: method from the start line (requests) or the CSeq (responses). */
export function countOut(metrics: Metrics, bytes: Buffer, target: Target, pbxListenerId: string): void {
  const isResponse = bytes[0] === 0x53 && bytes[1] === 0x49 && bytes[2] === 0x50 && bytes[3] === 0x2f; // "SIP/"
  let method = 'other';
  if (!isResponse) {
    const sp = bytes.indexOf(32);
    if (sp > 0 && sp < 20) method = bytes.toString('latin1', 0, sp);
  } else {
    const head = bytes.toString('latin1', 0, Math.min(bytes.length, 2048));
    const m = /\r\n(?:CSeq|cseq|CSEQ)\s*:\s*\d+\s+([A-Za-z]+)/.exec(head);
    if (m?.[1]) method = m[1];
  }
  metrics.countSipMessage({
    method: methodLabel(method),
    direction: 'out',
    transport: target.transport,
    side: target.listenerId === pbxListenerId ? 'pbx' : 'public',
    kind: isResponse ? 'response' : 'request',
  });
}
