/**
 * SIP as text, for scripted peers in integration tests: build requests and responses line by line, read a
 * header back (long or compact form). Deliberately independent of src/sip so a parser bug cannot hide itself.
 */

const COMPACT: Record<string, string> = {
  'call-id': 'i',
  contact: 'm',
  from: 'f',
  to: 't',
  via: 'v',
  'content-length': 'l',
  'content-type': 'c',
};

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** First value of a header (long or compact name), trimmed; undefined when absent. */
export function header(msg: string, name: string): string | undefined {
  return headers(msg, name)[0];
}

/** Every header line of that name (long or compact), in order. Only the header section is searched. */
export function headers(msg: string, name: string): string[] {
  const end = msg.indexOf('\r\n\r\n');
  const head = end >= 0 ? msg.slice(0, end) : msg;
  const compact = COMPACT[name.toLowerCase()];
  const names = compact ? `${escapeRe(name)}|${compact}` : escapeRe(name);
  const re = new RegExp(`^(?:${names})[ \\t]*:[ \\t]*(.*)$`, 'gim');
  const out: string[] = [];
  for (const m of head.matchAll(re)) out.push((m[1] ?? '').trim());
  return out;
}

export function firstLine(msg: string): string {
  const i = msg.indexOf('\r\n');
  return i >= 0 ? msg.slice(0, i) : msg;
}

export function isResponse(msg: string, status?: number, method?: string): boolean {
  if (!msg.startsWith('SIP/2.0 ')) return false;
  if (status !== undefined && !msg.startsWith(`SIP/2.0 ${status} `)) return false;
  if (method !== undefined && !new RegExp(`\\s${method}$`, 'i').test(header(msg, 'CSeq') ?? '')) return false;
  return true;
}

export function isRequest(msg: string, method: string): boolean {
  return msg.startsWith(`${method} `);
}

/** The URI inside a name-addr (`"x" <sip:a@b>;p=1` → `sip:a@b`) or a bare addr-spec up to `;`. */
export function uriOf(value: string): string {
  const lt = value.indexOf('<');
  if (lt >= 0) return value.slice(lt + 1, value.indexOf('>', lt));
  return value.split(';', 1)[0]?.trim() ?? value;
}

/** Joins header lines with CRLF, appends Content-Length and the body. */
export function message(startLine: string, headerLines: readonly string[], body = ''): string {
  return [startLine, ...headerLines, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`, '', body].join('\r\n');
}

export interface RequestSpec {
  method: string;
  uri: string;
  /** Via value without branch, e.g. `SIP/2.0/TCP 127.0.0.1:5000` */
  via: string;
  branch: string;
  from: string;
  to: string;
  callId: string;
  cseq: number;
  contact?: string;
  extra?: readonly string[];
  body?: string;
  contentType?: string;
}

export function request(s: RequestSpec): string {
  const lines = [
    `Via: ${s.via};branch=${s.branch};rport`,
    'Max-Forwards: 70',
    `From: ${s.from}`,
    `To: ${s.to}`,
    `Call-ID: ${s.callId}`,
    `CSeq: ${s.cseq} ${s.method}`,
  ];
  if (s.contact !== undefined) lines.push(`Contact: ${s.contact}`);
  if (s.extra) lines.push(...s.extra);
  if (s.body) lines.push(`Content-Type: ${s.contentType ?? 'application/sdp'}`);
  return message(`${s.method} ${s.uri} SIP/2.0`, lines, s.body ?? '');
}

/** A UAS response to `req`: its Via lines, From, To (plus a tag when given and none present), Call-ID, CSeq. */
export function responseTo(
  req: string,
  status: string,
  opts: { toTag?: string; extra?: readonly string[]; body?: string; contentType?: string } = {},
): string {
  const vias = headers(req, 'Via').map((v) => `Via: ${v}`);
  const to = header(req, 'To') ?? '';
  const toWithTag = opts.toTag !== undefined && !/;\s*tag=/i.test(to) ? `${to};tag=${opts.toTag}` : to;
  const lines = [
    ...vias,
    `From: ${header(req, 'From') ?? ''}`,
    `To: ${toWithTag}`,
    `Call-ID: ${header(req, 'Call-ID') ?? ''}`,
    `CSeq: ${header(req, 'CSeq') ?? ''}`,
  ];
  if (opts.extra) lines.push(...opts.extra);
  if (opts.body) lines.push(`Content-Type: ${opts.contentType ?? 'application/sdp'}`);
  return message(`SIP/2.0 ${status}`, lines, opts.body ?? '');
}

let seq = 0;
/** Unique per test process; RFC 3261 magic cookie included. */
export function branch(tag = 'b'): string {
  seq++;
  return `z9hG4bK-${tag}-${process.pid}-${seq}`;
}

export function sdp(ip: string, port: number): string {
  return `v=0\r\no=- 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
}
