/**
 * Wire serialization. Untouched lines (start line and header fields) are copied byte for byte from the parsed
 * input; fields written by an edit are emitted as "Name: value" in UTF-8. Exactly one Content-Length is
 * written and it always equals the body length (RFC 3261 §20.14): an untouched, correct one is kept as it was.
 */
import { H_CONTENT_LENGTH as H_CONTENT_LENGTH_ } from './header-names.ts';
import type { SipMessageImpl } from './message.ts';

// Local copies of imported bindings: under the tsx loader an imported binding is read through a getter
// on every access, which costs about a quarter of the parse time on the hot path.
const H_CONTENT_LENGTH = H_CONTENT_LENGTH_;

const CRLF = '\r\n';

export function serializeMessage(m: SipMessageImpl): Buffer {
  const w = m.wire();
  const body = m.body;
  const n = m.fieldCount();

  if (w.pristine && !w.startEdited) {
    // Fast path: the parser guaranteed at most one Content-Length and that it equals the body length.
    let hasCl = false;
    for (let i = 0; i < n; i++) {
      if (m.fieldId(i) === H_CONTENT_LENGTH) {
        hasCl = m.contentLengthAt(i) === body.length;
        break;
      }
    }
    if (hasCl) {
      const headLen = w.src.length;
      const out = Buffer.allocUnsafe(headLen + 2 + body.length);
      out.write(w.src, 0, headLen, 'latin1');
      out[headLen] = 0x0d;
      out[headLen + 1] = 0x0a;
      body.copy(out, headLen + 2);
      return out;
    }
  }

  const parts: Buffer[] = [];
  if (!w.startEdited) parts.push(Buffer.from(w.src.slice(0, w.startLineEnd + 2), 'latin1'));
  else parts.push(Buffer.from(startLine(m) + CRLF, 'utf8'));

  let clDone = false;
  for (let i = 0; i < n; i++) {
    const line = m.fieldLine(i);
    if (m.fieldId(i) === H_CONTENT_LENGTH) {
      if (clDone) continue;
      clDone = true;
      if (line !== undefined && m.contentLengthAt(i) === body.length) {
        parts.push(Buffer.from(w.src.slice(line[0], line[1]), 'latin1'));
      } else {
        parts.push(Buffer.from(`Content-Length: ${body.length}${CRLF}`, 'latin1'));
      }
      continue;
    }
    if (line !== undefined) parts.push(Buffer.from(w.src.slice(line[0], line[1]), 'latin1'));
    else parts.push(Buffer.from(`${m.fieldName(i)}: ${m.fieldValue(i)}${CRLF}`, 'utf8'));
  }
  if (!clDone) parts.push(Buffer.from(`Content-Length: ${body.length}${CRLF}`, 'latin1'));
  parts.push(Buffer.from(CRLF, 'latin1'));
  parts.push(body);
  return Buffer.concat(parts);
}

function startLine(m: SipMessageImpl): string {
  if (m.isRequest) return `${m.method ?? ''} ${m.requestUri ?? ''} SIP/2.0`;
  return `SIP/2.0 ${m.status ?? 0} ${m.reason ?? ''}`;
}
