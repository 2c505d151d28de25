/**
 * Pieces the call-authorization tests share: a scripted PBX peer that answers every INVITE (busy, or 200 with a
 * Contact) and counts what reached it, a users file for a few digest users, and an INVITE that answers Palisade's
 * 407 with SHA-256 digest.
 */
import { writeUsersFile } from '../../../src/auth/credentials.ts';
import { computeAllHa1 } from '../../../src/auth/digest.ts';
import { type DigestPhoneKit, header, INSIDE_IP, PBX_IP, type Peer, PUBLIC_IP } from './digest-phone.ts';

export const statusOf = (m: string): number => Number(m.split(' ')[1]);

/**
 * The policy lines every call-authorization daemon test starts from: one public UDP listener, the PBX at
 * `pbxPort`, digest in `realm`, no flood limits (the tests call fast on purpose), no metrics, silent logs.
 * Each test adds its own sections (fraud, admin, media) after it.
 */
export function fraudPolicyBase(dataDir: string, pbxPort: number, realm: string): string {
  return `node: { dataDir: ${dataDir} }
listeners:
  - { id: pub, transport: udp, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbxPort} }]
auth: { realm: ${realm} }
security:
  flood: { enabled: false }
metrics: { enabled: false }
logging: { level: silent }`;
}

export interface ScriptedCallPbx {
  readonly peer: Peer;
  /** INVITEs (new transactions) that reached the PBX. */
  invites: number;
  /** Request lines received, in order. */
  readonly requests: string[];
  /** BYEs received with their arrival time. */
  readonly byes: Array<{ at: number; msg: string }>;
}

/**
 * A PBX on `peer` answering every request: INVITE with `invite` ('busy' → 486; 'answer' → 200 with a Contact),
 * everything else 200. ACKs and responses are ignored.
 */
export function scriptCallPbx(peer: Peer, invite: 'busy' | 'answer'): ScriptedCallPbx {
  const pbx: ScriptedCallPbx = { peer, invites: 0, requests: [], byes: [] };
  peer.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    if (m.startsWith('SIP/2.0') || m.startsWith('ACK')) return;
    const method = m.split(' ', 1)[0] ?? '';
    pbx.requests.push(m.split('\r\n', 1)[0] ?? '');
    if (method === 'INVITE') pbx.invites++;
    if (method === 'BYE') pbx.byes.push({ at: Date.now(), msg: m });
    const isInvite = method === 'INVITE';
    const lines = [
      isInvite && invite === 'busy' ? 'SIP/2.0 486 Busy Here' : 'SIP/2.0 200 OK',
      ...m.split('\r\n').filter((l) => /^via\s*:/i.test(l)),
      `From: ${header(m, 'From')[0]}`,
      `To: ${header(m, 'To')[0]}${isInvite ? ';tag=pbx1' : ''}`,
      `Call-ID: ${header(m, 'Call-ID')[0]}`,
      `CSeq: ${header(m, 'CSeq')[0]}`,
      ...(isInvite && invite === 'answer' ? [`Contact: <sip:callee@${peer.ip}:${peer.port}>`] : []),
      'Content-Length: 0',
      '',
      '',
    ];
    peer.sock.send(Buffer.from(lines.join('\r\n')), rinfo.port, rinfo.address);
  });
  return pbx;
}

/**
 * Call authorization with one anomaly rule that matters: three numbers of one range dialled within 10 minutes
 * block the caller for an hour (the operator-control tests drive it with a sequential-dialling attack).
 */
export const SEQUENTIAL_BLOCK_FRAUD_YAML = `fraud:
  defaultRegion: GB
  defaults: { classes: [internal, national, mobile, international] }
  limits:
    user: { concurrent: 10, callsPerMinute: 100 }
  anomaly:
    sequential: { minNumbers: 3, varyingDigits: 3, window: 10m, action: { block_user: 1h } }`;

/** Writes a users file with these users (HA1 only), optionally in groups. */
export function writeDigestUsers(
  path: string,
  realm: string,
  passwords: Readonly<Record<string, string>>,
  groups: Readonly<Record<string, readonly string[]>> = {},
): void {
  writeUsersFile(
    path,
    Object.entries(passwords).map(([user, pw]) => ({
      user,
      realm,
      ha1: computeAllHa1(user, realm, pw),
      groups: [...(groups[user] ?? [])],
      aliases: [],
      disabled: false,
      allowMd5: false,
    })),
  );
}

/**
 * INVITE `dial` as `user`; a 407 is answered with SHA-256 digest. Resolves with the first final answer to the
 * authenticated INVITE (or the refusal of the first one when it was not challenged) and the Call-ID.
 */
export async function inviteWithDigest(
  kit: DigestPhoneKit,
  p: Peer,
  user: string,
  password: string,
  dial: string,
): Promise<{ final: string; callId: string; uri: string }> {
  const first = kit.request(p, 'INVITE', { user, dial });
  p.send(first.text);
  const isFinalFor = (m: string) => m.startsWith('SIP/2.0') && m.includes(first.callId) && statusOf(m) >= 200;
  const reply = await p.next(isFinalFor);
  if (statusOf(reply) !== 407) return { final: reply, callId: first.callId, uri: first.uri };
  const auth = kit.answer(header(reply, 'Proxy-Authenticate')[0] ?? '', {
    user,
    password,
    method: 'INVITE',
    uri: first.uri,
    alg: 'SHA-256',
  });
  p.send(kit.request(p, 'INVITE', { user, dial, auth, callId: first.callId }).text);
  const final = await p.next((m) => isFinalFor(m) && statusOf(m) !== 407);
  return { final, callId: first.callId, uri: first.uri };
}
