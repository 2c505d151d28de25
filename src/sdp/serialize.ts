/**
 * SDP serializer. Lines in the order RFC 8866 §5 prescribes, CRLF after every line (including the last).
 * serializeSdp(parseSdp(x)) reproduces any well-formed x, modulo line endings.
 */
import type { Sdp, SdpAttribute, SdpBandwidth, SdpConnection, SdpMedia, SdpOtherLine } from './types.ts';

function connectionLine(c: SdpConnection): string {
  return `c=${c.netType} ${c.addrType} ${c.address}\r\n`;
}

function bandwidthLines(bs: readonly SdpBandwidth[]): string {
  let s = '';
  for (const b of bs) s += `b=${b.type}:${b.value}\r\n`;
  return s;
}

function attributeLines(as: readonly SdpAttribute[]): string {
  let s = '';
  for (const a of as) s += a.value === undefined ? `a=${a.name}\r\n` : `a=${a.name}:${a.value}\r\n`;
  return s;
}

function otherLines(ls: readonly SdpOtherLine[]): string {
  let s = '';
  for (const l of ls) s += `${l.type}=${l.value}\r\n`;
  return s;
}

/** The m= line value, without "m=" and line end. */
export function formatMediaLine(m: SdpMedia): string {
  const port = m.portCount === undefined ? `${m.port}` : `${m.port}/${m.portCount}`;
  return [m.type, port, m.proto, ...m.formats].join(' ');
}

function mediaSection(m: SdpMedia): string {
  let s = `m=${formatMediaLine(m)}\r\n`;
  if (m.info !== undefined) s += `i=${m.info}\r\n`;
  if (m.connection) s += connectionLine(m.connection);
  s += bandwidthLines(m.bandwidths);
  if (m.key !== undefined) s += `k=${m.key}\r\n`;
  s += attributeLines(m.attributes);
  s += otherLines(m.otherLines);
  return s;
}

export function serializeSdp(sdp: Sdp): string {
  const o = sdp.origin;
  let s = `v=${sdp.version}\r\n`;
  s += `o=${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}\r\n`;
  s += `s=${sdp.sessionName}\r\n`;
  if (sdp.info !== undefined) s += `i=${sdp.info}\r\n`;
  if (sdp.uri !== undefined) s += `u=${sdp.uri}\r\n`;
  for (const e of sdp.emails) s += `e=${e}\r\n`;
  for (const p of sdp.phones) s += `p=${p}\r\n`;
  if (sdp.connection) s += connectionLine(sdp.connection);
  s += bandwidthLines(sdp.bandwidths);
  for (const t of sdp.timing) {
    s += `t=${t.start} ${t.stop}\r\n`;
    for (const r of t.repeats) s += `r=${r}\r\n`;
  }
  if (sdp.zone !== undefined) s += `z=${sdp.zone}\r\n`;
  if (sdp.key !== undefined) s += `k=${sdp.key}\r\n`;
  s += attributeLines(sdp.attributes);
  s += otherLines(sdp.otherLines);
  for (const m of sdp.media) s += mediaSection(m);
  return s;
}
