/**
 * SDP parser (RFC 8866). Pure and total: every input, however hostile, yields a Result; nothing throws.
 * Bounded by SDP_MAX_BYTES / SDP_MAX_LINES / SDP_MAX_LINE_LENGTH / SDP_MAX_MEDIA before any work is done
 * per line. Accepts CRLF or bare LF line ends (RFC 8866 §5 asks parsers to be tolerant of LF) and skips
 * blank lines; anything else that is not `<letter>=<value>` is an error.
 */
import { err, ok, type Result } from '../core/result.ts';
import {
  SDP_MAX_BYTES,
  SDP_MAX_LINE_LENGTH,
  SDP_MAX_LINES,
  SDP_MAX_MEDIA,
  type Sdp,
  type SdpAttribute,
  type SdpBandwidth,
  type SdpConnection,
  type SdpError,
  type SdpErrorCode,
  type SdpMedia,
  type SdpOrigin,
} from './types.ts';

const TOKEN_RE = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
const DIGITS_RE = /^[0-9]+$/;
const ADDRESS_RE = /^[A-Za-z0-9.:\-/%_]+$/;
const PORT_RE = /^[0-9]{1,5}$/;
/** Control characters other than TAB are not allowed in any SDP value (RFC 8866 §9 `text`, `byte-string`). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

const decoder = new TextDecoder('utf-8', { fatal: true });

function fail(code: SdpErrorCode, reason: string, line?: number): Result<never, SdpError> {
  return err(line === undefined ? { code, reason } : { code, reason, line });
}

function splitFields(value: string): string[] {
  return value.split(' ').filter((f) => f.length > 0);
}

/** Parses a port in 0..65535; -1 when invalid. */
export function parsePort(s: string): number {
  if (!PORT_RE.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

function parseOrigin(value: string): SdpOrigin | undefined {
  const f = splitFields(value);
  if (f.length !== 6) return undefined;
  const [username, sessionId, sessionVersion, netType, addrType, address] = f as [string, string, string, string, string, string];
  if (!DIGITS_RE.test(sessionId) || !DIGITS_RE.test(sessionVersion)) return undefined;
  if (sessionId.length > 40 || sessionVersion.length > 40) return undefined;
  if (netType !== 'IN' || (addrType !== 'IP4' && addrType !== 'IP6')) return undefined;
  if (!ADDRESS_RE.test(address)) return undefined;
  return { username, sessionId, sessionVersion, netType, addrType, address };
}

function parseConnection(value: string): SdpConnection | undefined {
  const f = splitFields(value);
  if (f.length !== 3) return undefined;
  const [netType, addrType, address] = f as [string, string, string];
  if (netType !== 'IN' || (addrType !== 'IP4' && addrType !== 'IP6')) return undefined;
  if (!ADDRESS_RE.test(address)) return undefined;
  return { netType, addrType, address };
}

function parseBandwidth(value: string): SdpBandwidth | undefined {
  const i = value.indexOf(':');
  if (i <= 0) return undefined;
  const type = value.slice(0, i);
  const v = value.slice(i + 1);
  if (!TOKEN_RE.test(type) || !DIGITS_RE.test(v) || v.length > 15) return undefined;
  return { type, value: Number(v) };
}

function parseAttribute(value: string): SdpAttribute | undefined {
  const i = value.indexOf(':');
  const name = i < 0 ? value : value.slice(0, i);
  if (!TOKEN_RE.test(name)) return undefined;
  return { name, value: i < 0 ? undefined : value.slice(i + 1) };
}

function isRtpProto(proto: string): boolean {
  return proto.split('/').includes('RTP');
}

function parseMediaLine(value: string): SdpMedia | undefined {
  const f = splitFields(value);
  if (f.length < 4) return undefined;
  const [type, portField, proto] = f as [string, string, string];
  if (!TOKEN_RE.test(type) || !TOKEN_RE.test(proto.replaceAll('/', ''))) return undefined;
  const slash = portField.indexOf('/');
  const port = parsePort(slash < 0 ? portField : portField.slice(0, slash));
  if (port < 0) return undefined;
  let portCount: number | undefined;
  if (slash >= 0) {
    const c = parsePort(portField.slice(slash + 1));
    if (c < 1) return undefined;
    portCount = c;
  }
  const formats = f.slice(3);
  const rtp = isRtpProto(proto);
  for (const fmt of formats) {
    if (rtp) {
      // RFC 3551 §6: RTP formats are payload type numbers 0..127.
      if (!/^[0-9]{1,3}$/.test(fmt) || Number(fmt) > 127) return undefined;
    } else if (!TOKEN_RE.test(fmt)) return undefined;
  }
  return {
    type,
    port,
    portCount,
    proto,
    formats,
    info: undefined,
    connection: undefined,
    bandwidths: [],
    key: undefined,
    attributes: [],
    otherLines: [],
  };
}

function decode(input: string | Buffer): Result<string, SdpError> {
  if (typeof input === 'string') {
    if (input.length > SDP_MAX_BYTES) return fail('SDP_TOO_LARGE', 'body too large');
    return ok(input);
  }
  if (input.length > SDP_MAX_BYTES) return fail('SDP_TOO_LARGE', 'body too large');
  try {
    return ok(decoder.decode(input));
  } catch {
    return fail('SDP_BAD_ENCODING', 'body is not UTF-8');
  }
}

/** Parses an SDP body. Never throws. */
export function parseSdp(input: string | Buffer): Result<Sdp, SdpError> {
  const d = decode(input);
  if (!d.ok) return d;
  const text = d.value;

  // Split first, bounding line count and length before any per-line work.
  const lines: string[] = [];
  const lineNumbers: number[] = [];
  let start = 0;
  let lineNo = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--;
    if (stop - start > SDP_MAX_LINE_LENGTH) return fail('SDP_LINE_TOO_LONG', 'line too long', lineNo);
    if (stop > start) {
      if (lines.length >= SDP_MAX_LINES) return fail('SDP_TOO_MANY_LINES', 'too many lines', lineNo);
      lines.push(text.slice(start, stop));
      lineNumbers.push(lineNo);
    }
    start = end + 1;
  }
  if (lines.length === 0) return fail('SDP_EMPTY', 'empty body');

  let version: number | undefined;
  let origin: SdpOrigin | undefined;
  let sessionName: string | undefined;
  const sdp: Omit<Sdp, 'version' | 'origin' | 'sessionName'> = {
    info: undefined,
    uri: undefined,
    emails: [],
    phones: [],
    connection: undefined,
    bandwidths: [],
    timing: [],
    zone: undefined,
    key: undefined,
    attributes: [],
    otherLines: [],
    media: [],
  };
  let media: SdpMedia | undefined;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const n = lineNumbers[i] as number;
    if (line.length < 2 || line.charCodeAt(1) !== 61 /* = */) return fail('SDP_BAD_LINE', 'not <type>=<value>', n);
    const type = line[0] as string;
    if (type < 'a' || type > 'z') return fail('SDP_BAD_LINE', 'bad line type', n);
    const value = line.slice(2);
    if (CONTROL_RE.test(value)) return fail('SDP_BAD_LINE', `control character in ${type}= line`, n);
    if (i === 0 && type !== 'v') return fail('SDP_BAD_VERSION', 'first line is not v=', n);

    switch (type) {
      case 'v':
        if (i !== 0) return fail('SDP_DUPLICATE_LINE', 'v= not first', n);
        if (value !== '0') return fail('SDP_BAD_VERSION', 'version is not 0', n);
        version = 0;
        continue;
      case 'm': {
        if (sdp.media.length >= SDP_MAX_MEDIA) return fail('SDP_TOO_MANY_MEDIA', 'too many media sections', n);
        const m = parseMediaLine(value);
        if (!m) return fail('SDP_BAD_MEDIA', 'bad m= line', n);
        sdp.media.push(m);
        media = m;
        continue;
      }
      case 'a': {
        const a = parseAttribute(value);
        if (!a) return fail('SDP_BAD_ATTRIBUTE', 'bad attribute name', n);
        (media ?? sdp).attributes.push(a);
        continue;
      }
      case 'c': {
        const c = parseConnection(value);
        if (!c) return fail('SDP_BAD_CONNECTION', 'bad c= line', n);
        const target = media ?? sdp;
        if (target.connection) return fail('SDP_DUPLICATE_LINE', 'more than one c= line', n);
        target.connection = c;
        continue;
      }
      case 'b': {
        const b = parseBandwidth(value);
        if (!b) return fail('SDP_BAD_BANDWIDTH', 'bad b= line', n);
        (media ?? sdp).bandwidths.push(b);
        continue;
      }
      case 'i': {
        const target = media ?? sdp;
        if (target.info !== undefined) return fail('SDP_DUPLICATE_LINE', 'more than one i= line', n);
        target.info = value;
        continue;
      }
      case 'k': {
        const target = media ?? sdp;
        if (target.key !== undefined) return fail('SDP_DUPLICATE_LINE', 'more than one k= line', n);
        target.key = value;
        continue;
      }
      default:
        break;
    }

    // The remaining types are session-level only (RFC 8866 §5).
    if (media) {
      if ('osuepzrt'.includes(type)) return fail('SDP_BAD_LINE', `${type}= inside a media section`, n);
      media.otherLines.push({ type, value });
      continue;
    }
    switch (type) {
      case 'o':
        if (origin) return fail('SDP_DUPLICATE_LINE', 'more than one o= line', n);
        origin = parseOrigin(value);
        if (!origin) return fail('SDP_BAD_ORIGIN', 'bad o= line', n);
        break;
      case 's':
        if (sessionName !== undefined) return fail('SDP_DUPLICATE_LINE', 'more than one s= line', n);
        sessionName = value;
        break;
      case 'u':
        if (sdp.uri !== undefined) return fail('SDP_DUPLICATE_LINE', 'more than one u= line', n);
        sdp.uri = value;
        break;
      case 'e':
        sdp.emails.push(value);
        break;
      case 'p':
        sdp.phones.push(value);
        break;
      case 't': {
        const f = splitFields(value);
        if (f.length !== 2 || !DIGITS_RE.test(f[0] as string) || !DIGITS_RE.test(f[1] as string)) {
          return fail('SDP_BAD_TIMING', 'bad t= line', n);
        }
        sdp.timing.push({ start: f[0] as string, stop: f[1] as string, repeats: [] });
        break;
      }
      case 'r': {
        const t = sdp.timing[sdp.timing.length - 1];
        if (!t) return fail('SDP_BAD_TIMING', 'r= before t=', n);
        t.repeats.push(value);
        break;
      }
      case 'z':
        if (sdp.zone !== undefined) return fail('SDP_DUPLICATE_LINE', 'more than one z= line', n);
        sdp.zone = value;
        break;
      default:
        sdp.otherLines.push({ type, value });
    }
  }

  if (version === undefined) return fail('SDP_BAD_VERSION', 'missing v=');
  if (!origin) return fail('SDP_MISSING_LINE', 'missing o=');
  if (sessionName === undefined) return fail('SDP_MISSING_LINE', 'missing s=');
  return ok({ version, origin, sessionName, ...sdp });
}
