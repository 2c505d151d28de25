/**
 * A scripted PBX over UDP for daemon tests: answers OPTIONS/BYE/CANCEL 200, REGISTER 200 echoing every Contact
 * with an expiry (as a registrar does), INVITE 180 + 200 with SDP, and can originate INVITE/ACK/BYE itself.
 * Every message it receives also lands in `peer.inbox`.
 */
import { type UdpPeer, udpPeer } from './peers.ts';
import { branch, header, headers, message, request, responseTo, sdp, uriOf } from './sip-text.ts';

export interface ScriptedPbx {
  readonly peer: UdpPeer;
  readonly ip: string;
  readonly port: number;
  /** REGISTER requests received, in order. */
  readonly registers: string[];
  /** Answer INVITEs automatically (default true). */
  answerInvites: boolean;
  close(): Promise<void>;
}

export const REGISTRAR_EXPIRES = 300;

export async function scriptedPbx(ip: string): Promise<ScriptedPbx> {
  const peer = await udpPeer(ip);
  const pbx: ScriptedPbx = { peer, ip, port: peer.port, registers: [], answerInvites: true, close: () => peer.close() };
  peer.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    if (m.startsWith('SIP/2.0')) return;
    const method = m.split(' ', 1)[0] ?? '';
    const reply = (text: string) => peer.sock.send(Buffer.from(text, 'latin1'), rinfo.port, rinfo.address);
    switch (method) {
      case 'ACK':
        return;
      case 'REGISTER': {
        pbx.registers.push(m);
        const contacts = headers(m, 'Contact')
          .flatMap((v) => v.split(/,(?=\s*<)/))
          .map((c) => c.trim())
          .filter((c) => c !== '' && c !== '*');
        const extra = contacts.map(
          (c) =>
            `Contact: ${/;\s*expires=/i.test(c) ? c.replace(/expires=\d+/i, `expires=${REGISTRAR_EXPIRES}`) : `${c};expires=${REGISTRAR_EXPIRES}`}`,
        );
        reply(responseTo(m, '200 OK', { toTag: 'regtag', extra }));
        return;
      }
      case 'INVITE': {
        if (!pbx.answerInvites) return;
        const contact = `Contact: <sip:pbx@${ip}:${peer.port}>`;
        reply(responseTo(m, '180 Ringing', { toTag: 'pbxtag', extra: [contact] }));
        reply(
          responseTo(m, '200 OK', {
            toTag: 'pbxtag',
            extra: [contact, 'Record-Route: <sip:10.9.9.9;lr>', 'Server: Asterisk PBX 20.1'],
            body: sdp(ip, 40000),
          }),
        );
        return;
      }
      default:
        reply(responseTo(m, '200 OK'));
    }
  });
  return pbx;
}

/** The token Contact URIs (`sip:<token>@<pbx-listener>`) the PBX saw in its most recent REGISTER. */
export function lastRegisteredContact(pbx: ScriptedPbx): string {
  const last = pbx.registers[pbx.registers.length - 1];
  if (!last) throw new Error('the PBX saw no REGISTER');
  const c = header(last, 'Contact');
  if (!c) throw new Error('REGISTER without Contact');
  return uriOf(c);
}

/** host and port of a sip URI (`sip:user@host:port;params`). */
export function hostPort(uri: string): { host: string; port: number } {
  const m = /^sips?:(?:[^@]*@)?([^:;>]+)(?::(\d+))?/.exec(uri);
  if (!m?.[1]) throw new Error(`bad uri ${uri}`);
  return { host: m[1], port: m[2] ? Number(m[2]) : 5060 };
}

export interface PbxCall {
  callId: string;
  fromTag: string;
  invite: string;
}

/** The PBX calls `uri` (a Palisade token Contact), sending the INVITE to the host:port in the URI over UDP. */
export function pbxInvite(pbx: ScriptedPbx, uri: string, callId: string): PbxCall {
  const fromTag = `pbxfrom${callId.length}`;
  const invite = request({
    method: 'INVITE',
    uri,
    via: `SIP/2.0/UDP ${pbx.ip}:${pbx.port}`,
    branch: branch('pbxinv'),
    from: `<sip:200@${pbx.ip}>;tag=${fromTag}`,
    to: `<${uri}>`,
    callId,
    cseq: 1,
    contact: `<sip:200@${pbx.ip}:${pbx.port}>`,
    body: sdp(pbx.ip, 40002),
  });
  const { host, port } = hostPort(uri);
  pbx.peer.send(invite, port, host);
  return { callId, fromTag, invite };
}

/** In-dialog request from the PBX (ACK or BYE) toward the Contact Palisade gave in its 200 OK. */
export function pbxInDialog(pbx: ScriptedPbx, call: PbxCall, ok: string, method: 'ACK' | 'BYE', cseq: number): void {
  const target = uriOf(header(ok, 'Contact') ?? '');
  const text = request({
    method,
    uri: target,
    via: `SIP/2.0/UDP ${pbx.ip}:${pbx.port}`,
    branch: branch(`pbx${method.toLowerCase()}`),
    from: `<sip:200@${pbx.ip}>;tag=${call.fromTag}`,
    to: header(ok, 'To') ?? '',
    callId: call.callId,
    cseq,
  });
  const { host, port } = hostPort(target);
  pbx.peer.send(text, port, host);
}

/** §17.1.1.3 ACK for a non-2xx final response to the PBX's INVITE: same Via branch and Request-URI. */
export function pbxAckNon2xx(pbx: ScriptedPbx, call: PbxCall, resp: string): void {
  const uri = call.invite.slice('INVITE '.length, call.invite.indexOf(' SIP/2.0'));
  const ack = message(`ACK ${uri} SIP/2.0`, [
    `Via: ${header(call.invite, 'Via') ?? ''}`,
    'Max-Forwards: 70',
    `From: ${header(call.invite, 'From') ?? ''}`,
    `To: ${header(resp, 'To') ?? ''}`,
    `Call-ID: ${call.callId}`,
    'CSeq: 1 ACK',
  ]);
  const { host, port } = hostPort(uri);
  pbx.peer.send(ack, port, host);
}
