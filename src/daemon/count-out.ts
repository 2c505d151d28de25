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
    method = cseqMethod(bytes);
  }
  metrics.countSipMessage({
    method: methodLabel(method),
    direction: 'out',
    transport: target.transport,
    side: target.listenerId === pbxListenerId ? 'pbx' : 'public',
    kind: isResponse ? 'response' : 'request',
  });
}

const CSEQ = Buffer.from('\r\nCSeq:', 'latin1');

/** Method of the CSeq header, found with a native byte search (no string copy of the message). */
function cseqMethod(bytes: Buffer): string {
  const at = bytes.indexOf(CSEQ);
  if (at < 0 || at > 4096) return 'other';
  let i = at + CSEQ.length;
  const end = Math.min(bytes.length, i + 48);
  while (i < end && (bytes[i] === 0x20 || bytes[i] === 0x09)) i++;
  while (i < end && (bytes[i] as number) >= 0x30 && (bytes[i] as number) <= 0x39) i++;
  while (i < end && (bytes[i] === 0x20 || bytes[i] === 0x09)) i++;
  const start = i;
  while (i < end && (bytes[i] as number) > 0x20) i++;
  return i > start ? bytes.toString('latin1', start, i) : 'other';
}
