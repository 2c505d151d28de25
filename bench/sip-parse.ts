/**
 * SIP parse throughput on one core: parseMessage + the reads a proxy does on every message (method, top Via
 * branch, From tag, To tag, Call-ID, CSeq). Compared with jssip's parser on the same INVITE (jssip parses
 * From/To/Via/CSeq/Call-ID eagerly, so its figure includes the same reads; it takes a string, so the
 * Buffer→string conversion is counted for it, as bytes are what a transport delivers).
 *
 *   node --import tsx bench/sip-parse.ts
 */
import { createRequire } from 'node:module';
import { parseMessage } from '../src/sip/index.ts';

const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 198.51.100.10',
  's=-',
  'c=IN IP4 198.51.100.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 9 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=rtcp:49171 IN IP4 198.51.100.10',
  'a=ptime:20',
  'a=maxptime:150',
  'a=sendrecv',
  '',
].join('\r\n');

export const INVITE = Buffer.from(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@biloxi.example.com>',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, INFO',
    'Supported: replaces, timer',
    'User-Agent: Palisade-Bench/1.0 (sip-parse)',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(SDP)}`,
    '',
    SDP,
  ].join('\r\n'),
);

export const OK200 = Buffer.from(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.1',
    'To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:bob@192.0.2.4>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
);

let sink = 0;

function readPalisade(buf: Buffer): void {
  const r = parseMessage(buf);
  if (!r.ok) throw new Error(r.error.code);
  const m = r.value;
  const v = m.topVia();
  const f = m.from();
  const t = m.to();
  const c = m.cseq();
  const id = m.callId();
  if (!v.ok || !f.ok || !t.ok || !c.ok || id === undefined) throw new Error('read failed');
  sink +=
    (m.method?.length ?? 0) +
    (v.value.branch?.length ?? 0) +
    (f.value.tag?.length ?? 0) +
    (t.value.tag?.length ?? 0) +
    id.length +
    c.value.seq;
}

interface JssipMessage {
  method?: string;
  via_branch?: string;
  from_tag?: string;
  to_tag?: string;
  call_id?: string;
  cseq?: number;
}
const require = createRequire(import.meta.url);
const jssipParser = require('jssip/lib/Parser.js') as { parseMessage(data: string, ua: unknown): JssipMessage | undefined };

function readJssip(buf: Buffer): void {
  const m = jssipParser.parseMessage(buf.toString('utf8'), undefined);
  if (m === undefined) throw new Error('jssip parse failed');
  sink +=
    (m.method?.length ?? 0) +
    (m.via_branch?.length ?? 0) +
    (m.from_tag?.length ?? 0) +
    (m.to_tag?.length ?? 0) +
    (m.call_id?.length ?? 0) +
    (m.cseq ?? 0);
}

/**
 * Runs fn for about `ms` of wall time. Returns parses per second of wall time and per second of this process's
 * CPU time: on a shared machine the CPU figure is the one-core throughput, the wall figure what we got.
 */
function measure(fn: (b: Buffer) => void, buf: Buffer, ms: number): { wall: number; cpu: number } {
  for (let i = 0; i < 20000; i++) fn(buf); // warm-up
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let el = 0n;
  while (el < limit) {
    for (let i = 0; i < 2000; i++) fn(buf);
    n += 2000;
    el = process.hrtime.bigint() - t0;
  }
  const c = process.cpuUsage(c0);
  return { wall: n / (Number(el) / 1e9), cpu: n / ((c.user + c.system) / 1e6) };
}

const MS = Number(process.env.BENCH_MS ?? 1500);
const rows: [string, number, { wall: number; cpu: number }][] = [
  ['palisade INVITE+SDP', INVITE.length, measure(readPalisade, INVITE, MS)],
  ['palisade 200 OK', OK200.length, measure(readPalisade, OK200, MS)],
  ['jssip INVITE+SDP', INVITE.length, measure(readJssip, INVITE, MS)],
];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log('| case | bytes | parses/s (cpu) | µs/parse (cpu) | parses/s (wall) |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, bytes, r] of rows) {
  console.log(`| ${name} | ${bytes} | ${fmt(r.cpu)} | ${(1e6 / r.cpu).toFixed(2)} | ${fmt(r.wall)} |`);
}
if (sink === 0) console.log('(sink)');
