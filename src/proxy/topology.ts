/**
 * Topology hiding helpers: what Palisade writes into messages in place of the other side's details.
 * RFC 3261 §16 proxies leak the inside through Via, Record-Route, Contact and Call-ID; a B2BUA-lite
 * regenerates all of them per leg, and scrubs inside addresses from whatever else crosses the border.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { formatHost, type SipTransport, viaTransportToken } from '../core/net.ts';
import type { SipMessage } from '../sip/types.ts';
import type { ListenerInfo } from '../transport/types.ts';

/** RFC 3261 §8.1.1.7 magic cookie plus a per-process random prefix, so branches are unique and unguessable. */
export const BRANCH_PREFIX = `z9hG4bKpal${randomBytes(6).toString('hex')}`;

let branchCounter = 0;

export function newBranch(): string {
  branchCounter = (branchCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${BRANCH_PREFIX}.${branchCounter.toString(36)}`;
}

/** Random bytes drawn in blocks: one syscall per 4 KiB instead of one per id. */
let pool = randomBytes(4096);
let poolAt = 0;

/**
 * Fresh Call-ID / tag / token material: 96 random bits, no host part. Unpredictable, so a Call-ID or Contact seen
 * by one party says nothing about other calls (a counter would let an attacker guess them) or about call volume.
 */
export function newId(): string {
  if (poolAt + 12 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const id = pool.toString('hex', poolAt, poolAt + 12);
  poolAt += 12;
  return id;
}

/** A derived id that is stable for the same input (REGISTER refreshes keep their inside Call-ID). */
export function derivedId(secret: Buffer, input: string): string {
  return createHmac('sha256', secret).update(input).digest('hex').slice(0, 32);
}

/** Headers that describe one hop and never cross the border. */
export const HOP_HEADERS = ['via', 'record-route', 'route', 'path', 'service-route', 'contact'] as const;

/** Headers that would tell the client what sits behind Palisade; removed toward the public side. */
export const INSIDE_REVEALING_HEADERS = ['server', 'user-agent', 'warning', 'organization', 'p-asserted-identity', 'remote-party-id'];

export function transportParam(t: SipTransport): string {
  return t === 'udp' ? '' : `;transport=${t}`;
}

export function viaFor(l: ListenerInfo, branch: string): string {
  return `SIP/2.0/${viaTransportToken(l.transport)} ${formatHost(l.advertiseHost)}:${l.advertisePort};branch=${branch};rport`;
}

export function contactFor(l: ListenerInfo, user: string): string {
  return `<sip:${user}@${formatHost(l.advertiseHost)}:${l.advertisePort}${transportParam(l.transport)}>`;
}

/**
 * Replaces every occurrence of an inside host in header values (not Via/Call-ID/CSeq, which are set
 * per leg). Works on the text so headers Palisade does not model cannot leak either.
 */
export function scrubHeaders(msg: SipMessage, insideHosts: readonly string[], replacement: string): void {
  if (insideHosts.length === 0) return;
  const fields = msg.headers();
  const touched = new Map<string, string[]>();
  for (const f of fields) {
    if (f.lname === 'via' || f.lname === 'call-id' || f.lname === 'cseq' || f.lname === 'content-length') continue;
    let v = f.value;
    for (const h of insideHosts) {
      if (h !== replacement && v.includes(h)) v = v.split(h).join(replacement);
    }
    if (v !== f.value) touched.set(f.lname, []);
  }
  if (touched.size === 0) return;
  for (const f of fields) {
    const list = touched.get(f.lname);
    if (!list) continue;
    let v = f.value;
    for (const h of insideHosts) if (h !== replacement) v = v.split(h).join(replacement);
    list.push(v);
  }
  for (const [name, values] of touched) msg.set(name, values);
}

/** Via of the client with §18.2.1 received and RFC 3581 rport filled in from where the request came from. */
export function stampReceived(via: string, address: string, port: number, hasRport: boolean, sentByHost: string): string {
  let v = via;
  if (hasRport) v = v.replace(/;rport(?=;|$|\s|,)/i, `;rport=${port}`);
  if (hasRport || sentByHost.replace(/^\[|\]$/g, '') !== address) {
    if (!/;received=/i.test(v)) v += `;received=${address}`;
  }
  return v;
}

/** A request addressed to Palisade itself: no user part, and one of our hosts, domains or listener addresses. */
export function isAddressedToUs(req: SipMessage, localHosts: ReadonlySet<string>, listeners: readonly ListenerInfo[]): boolean {
  const u = req.uri();
  if (!u.ok) return false;
  if (u.value.user !== undefined && u.value.user !== '') return false;
  const host = u.value.host.toLowerCase();
  return localHosts.has(host) || listeners.some((l) => l.advertiseHost.toLowerCase() === host || l.address === host);
}
