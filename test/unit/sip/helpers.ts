import assert from 'node:assert/strict';
import type { ParseOptions, SipMessage } from '../../../src/sip/index.ts';
import { parseMessage } from '../../../src/sip/index.ts';

export const CRLF = '\r\n';

/** Lines joined with CRLF, then the empty line, then the body. */
export function wire(lines: readonly string[], body = ''): Buffer {
  return Buffer.from(`${lines.join(CRLF)}${CRLF}${CRLF}${body}`, 'utf8');
}

export const INVITE_LINES: readonly string[] = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
];

export function invite(): Buffer {
  return wire(INVITE_LINES, 'v=0\n');
}

export function mustParse(b: Buffer, options?: ParseOptions): SipMessage {
  const r = parseMessage(b, options);
  if (!r.ok) assert.fail(`parse failed: ${r.error.code} ${r.error.reason}`);
  return r.value;
}

export function parseCode(b: Buffer, options?: ParseOptions): string {
  const r = parseMessage(b, options);
  return r.ok ? 'ok' : r.error.code;
}

export function val<T>(r: { ok: true; value: T } | { ok: false; error: { code: string; reason: string } }): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.error.code}: ${r.error.reason}`);
  return r.value;
}
