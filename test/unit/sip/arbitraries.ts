/** fast-check generators of VALID SIP messages, shared by the sip-* property tests (test/property). */
import fc from 'fast-check';

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function str(chars: string, min: number, max: number): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...chars.split('')), { minLength: min, maxLength: max }).map((a) => a.join(''));
}

export const token = str(`${ALNUM}-.`, 1, 16);
const label = fc
  .tuple(
    str('abcdefghijklmnopqrstuvwxyz', 1, 1),
    str('abcdefghijklmnopqrstuvwxyz0123456789-', 0, 10),
    str('abcdefghijklmnopqrstuvwxyz0123456789', 1, 1),
  )
  .map(([a, b, c]) => a + b + c);
const domain = fc.array(label, { minLength: 2, maxLength: 4 }).map((l) => l.join('.'));
const ipv4 = fc.tuple(fc.integer({ min: 1, max: 254 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).map((p) => p.join('.'));
const ipv6 = fc
  .tuple(fc.integer({ min: 1, max: 0xfffe }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }))
  .map(([a, b, c]) => `2001:db8:${a.toString(16)}::${b.toString(16)}:${c.toString(16)}`);

export interface Host {
  readonly host: string;
  /** As written in a URI or Via (IPv6 in brackets). */
  readonly written: string;
}
export const host: fc.Arbitrary<Host> = fc.oneof(
  domain.map((h) => ({ host: h, written: h })),
  ipv4.map((h) => ({ host: h, written: h })),
  ipv6.map((h) => ({ host: h, written: `[${h}]` })),
);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });

export interface GenMessage {
  readonly method: string;
  readonly user: string;
  readonly ruriHost: Host;
  readonly ruriPort: number | undefined;
  readonly viaHost: Host;
  readonly viaPort: number | undefined;
  readonly transport: string;
  readonly branch: string;
  readonly fromTag: string;
  readonly toTag: string | undefined;
  readonly display: string | undefined;
  readonly callId: string;
  readonly cseq: number;
  readonly maxForwards: number;
  readonly extra: readonly (readonly [string, string])[];
  readonly body: string;
  readonly compact: boolean;
  /** Fold Via and From values onto continuation lines (RFC 3261 §7.3.1). */
  readonly fold: boolean;
  /** Whitespace around the colons. */
  readonly spaced: boolean;
}

export const genMessage: fc.Arbitrary<GenMessage> = fc.record({
  method: fc.constantFrom('INVITE', 'OPTIONS', 'REGISTER', 'BYE', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'INFO', 'UPDATE', 'PUBLISH'),
  user: str(`${ALNUM}-._`, 1, 12),
  ruriHost: host,
  ruriPort: port,
  viaHost: host,
  viaPort: port,
  transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS', 'WSS'),
  branch: str(ALNUM, 1, 20).map((s) => `z9hG4bK${s}`),
  fromTag: str(`${ALNUM}-.`, 1, 16),
  toTag: fc.option(str(`${ALNUM}-.`, 1, 16), { nil: undefined }),
  display: fc.option(
    str(`${ALNUM} `, 1, 12).map((s) => s.trim() || 'x'),
    { nil: undefined },
  ),
  callId: fc.tuple(str(`${ALNUM}-.`, 1, 20), fc.option(domain, { nil: undefined })).map(([a, d]) => (d ? `${a}@${d}` : a)),
  cseq: fc.integer({ min: 0, max: 0x7fffffff }),
  maxForwards: fc.integer({ min: 0, max: 255 }),
  extra: fc.array(
    fc.tuple(
      fc.constantFrom('Subject', 'User-Agent', 'X-Trace', 'Supported', 'Allow'),
      str(`${ALNUM} ,;=.-`, 0, 30).map((s) => s.trim()),
    ),
    { maxLength: 5 },
  ),
  body: fc.option(str(`${ALNUM} =\r\n.:/`, 1, 200), { nil: undefined }).map((b) => b ?? ''),
  compact: fc.boolean(),
  fold: fc.boolean(),
  spaced: fc.boolean(),
});

/** The canonical wire form of a generated message (always with Content-Length). */
export function render(g: GenMessage): Buffer {
  const ruri = `sip:${g.user}@${g.ruriHost.written}${g.ruriPort === undefined ? '' : `:${g.ruriPort}`}`;
  const sentBy = `${g.viaHost.written}${g.viaPort === undefined ? '' : `:${g.viaPort}`}`;
  const c = g.spaced ? ' :  ' : ': ';
  const n = (long: string, short: string) => (g.compact ? short : long);
  const f = g.fold ? '\r\n  ' : '';
  const lines = [
    `${g.method} ${ruri} SIP/2.0`,
    `${n('Via', 'v')}${c}SIP/2.0/${g.transport} ${sentBy}${f};branch=${g.branch}`,
    `Max-Forwards: ${g.maxForwards}`,
    `${n('From', 'f')}${c}${g.display === undefined ? '' : `"${g.display}" `}<sip:caller@example.com>${f};tag=${g.fromTag}`,
    `${n('To', 't')}: <${ruri}>${g.toTag === undefined ? '' : `;tag=${g.toTag}`}`,
    `${n('Call-ID', 'i')}${c}${g.callId}`,
    `CSeq: ${g.cseq} ${g.method}`,
    ...g.extra.map(([k, v]) => `${k}: ${v}`),
  ];
  if (g.body.length > 0) lines.push(`${n('Content-Type', 'c')}: text/plain`);
  lines.push(`${n('Content-Length', 'l')}: ${Buffer.byteLength(g.body)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${g.body}`, 'latin1');
}
