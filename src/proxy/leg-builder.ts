/**
 * Message construction across the border (topology hiding): a request from one side re-issued on the other with
 * Palisade's Via, Contact, Call-ID and route set, and responses mapped back onto the caller's transaction, with
 * inside hosts scrubbed, identities asserted (RFC 3325) and registration Contacts swapped for Palisade tokens.
 */
import { createRequest } from '../sip/build.ts';
import type { SipMessage, Via } from '../sip/types.ts';
import type { ListenerInfo, Source, Target } from '../transport/types.ts';
import type { Call, Side } from './calls.ts';
import type { Binding, RegistrationStore } from './registrations.ts';
import { contactFor, INSIDE_REVEALING_HEADERS, newBranch, scrubHeaders, stampReceived, viaFor } from './topology.ts';
import type { ServerTransaction } from './transaction.ts';
import type { ProxyDeps, ProxySettings, Refusal } from './types.ts';

function hasToTag(req: SipMessage): boolean {
  const to = req.to();
  return to.ok && to.value.tag !== undefined;
}

/** RFC 3261 §12.1.1: the UAS's route set is the request's Record-Route, in order. */
export function requestRouteSet(req: SipMessage): string[] {
  const rr = req.recordRoutes();
  return rr.ok ? rr.value.map((r) => r.raw) : [];
}

export class LegBuilder {
  private readonly settings: () => ProxySettings;
  private readonly deps: ProxyDeps;
  private readonly registrations: RegistrationStore;

  constructor(settings: () => ProxySettings, deps: ProxyDeps, registrations: RegistrationStore) {
    this.settings = settings;
    this.deps = deps;
    this.registrations = registrations;
  }

  /**
   * Re-issues `req` from side `from` on side `to`: new Via, Call-ID and Contact, route set of the target leg,
   * inside details scrubbed. Returns undefined (after answering) when the body cannot be accepted.
   */
  buildOutgoing(
    req: SipMessage,
    call: Call,
    from: Side,
    to: Side,
    source: Source,
    requestUri?: string,
    aor?: string,
    /** REGISTER toward the PBX: the bindings it asks for, recorded only once the PBX accepts (2xx). */
    pendingBindings?: Binding[],
  ): SipMessage | Refusal | undefined {
    const out = req.clone();
    const leg = call.legs[to];
    const listener = to === 'pbx' ? this.pbxListener() : this.publicListenerFor(leg.flow);
    if (!listener) return undefined;
    const method = req.method ?? '';
    const initial =
      requestUri !== undefined ||
      leg.remoteTarget === undefined ||
      !(req.to().ok && (req.to() as { ok: true; value: { tag: string | undefined } }).value.tag);
    if (requestUri !== undefined) out.setRequestUri(requestUri);
    else if (!initial && leg.remoteTarget) out.setRequestUri(leg.remoteTarget);
    out.remove('via');
    out.remove('record-route');
    out.remove('route');
    out.remove('path');
    out.prepend('Via', viaFor(listener, method === 'ACK' || method === 'CANCEL' ? newBranch() : newBranch()));
    if (!initial && leg.routeSet.length > 0) out.set('Route', leg.routeSet);
    out.set('Call-ID', leg.callId);
    const cseq = req.cseq();
    if (cseq.ok && leg.cseqOffset !== 0 && method !== 'ACK' && method !== 'CANCEL')
      out.set('CSeq', `${cseq.value.seq + leg.cseqOffset} ${cseq.value.method}`);
    const mf = req.maxForwards();
    out.set('Max-Forwards', String(mf.ok && mf.value !== undefined ? Math.max(0, mf.value - 1) : 70));
    for (const h of this.settings().stripHeaders) out.remove(h);
    if (method === 'REGISTER' && to === 'pbx') {
      if (!this.rewriteRegisterContacts(out, req, source, listener, pendingBindings ?? [])) return { status: 400, reason: 'Bad To' };
    } else if (out.has('contact')) {
      out.set('Contact', contactFor(listener, call.id));
    }
    if (to === 'pbx') {
      if (this.settings().sourceHeader) out.set(this.settings().sourceHeader, `${source.transport} ${source.address}:${source.port}`);
      if (from === 'public') this.assertIdentity(out, call);
    } else {
      if (this.settings().sourceHeader) out.remove(this.settings().sourceHeader);
      for (const h of INSIDE_REVEALING_HEADERS) out.remove(h);
      if (aor !== undefined) rewriteToUri(out, aor);
      scrubHeaders(out, this.insideHosts(), listener.advertiseHost);
    }
    if (req.body.length > 0) {
      const r = this.deps.media.rewrite(call, from, req.body, req.get('content-type'));
      if (!r.ok) return { status: r.status, reason: r.reason };
      if (r.body !== req.body) out.setBody(r.body, req.get('content-type'));
    }
    return out;
  }

  /**
   * RFC 3325: an identity asserted by an untrusted source is removed; when Palisade authenticated the caller it
   * asserts that identity itself, and the credentials (for Palisade's realm) stop here.
   */
  private assertIdentity(out: SipMessage, call: Call): void {
    if (call.trustedPeer !== undefined) return; // a trusted trunk's own assertion stands
    out.remove('p-asserted-identity');
    out.remove('p-preferred-identity');
    out.remove('remote-party-id');
    if (this.settings().authMode !== 'palisade') return;
    out.remove('authorization');
    out.remove('proxy-authorization');
    if (call.identity !== undefined) out.set('P-Asserted-Identity', `<sip:${call.identity}@${this.settings().identityDomain}>`);
  }

  /** REGISTER toward the PBX: each phone Contact becomes a Palisade token Contact; the binding remembers the flow. */
  private rewriteRegisterContacts(out: SipMessage, req: SipMessage, source: Source, listener: ListenerInfo, pending: Binding[]): boolean {
    const contacts = req.contacts();
    if (!contacts.ok) return true;
    const to = req.to();
    if (!to.ok) return false;
    const aor = to.value.uri.raw;
    const hdrExpires = req.expires();
    const values: string[] = [];
    for (const c of contacts.value) {
      if (c.star) {
        values.push('*');
        continue;
      }
      const token = this.registrations.tokenFor(aor, c.uri.raw);
      // Not stored yet: a REGISTER the PBX refuses (or never answers) must not redirect the user's calls.
      pending.push({ token, aor, contactUri: c.uri.raw, contactRaw: c.raw, flow: replyTarget(source), expiresAt: 0 });
      const asked = c.expires ?? hdrExpires ?? this.settings().maxExpires;
      const clamped = asked === 0 ? 0 : Math.min(this.settings().maxExpires, Math.max(this.settings().minExpires, asked));
      values.push(`${contactFor(listener, token)};expires=${clamped}`);
    }
    if (values.length > 0) out.set('Contact', values);
    else out.remove('contact');
    if (hdrExpires !== undefined) out.remove('expires');
    return true;
  }

  /** Maps a response from side `from` back onto the server transaction on the other side. */
  buildResponse(resp: SipMessage, call: Call, st: ServerTransaction, toSide: Side, from: Side): SipMessage | undefined {
    const out = resp.clone();
    const req = st.request;
    out.set('Via', this.clientVias(req, st.source));
    out.set('Call-ID', req.callId() ?? '');
    const cseq = req.cseq();
    if (cseq.ok) out.set('CSeq', `${cseq.value.seq} ${cseq.value.method}`);
    out.remove('record-route');
    out.remove('route');
    out.remove('path');
    out.remove('service-route');
    const status = resp.status ?? 0;
    // RFC 3261 §12.1.1: a response that creates the dialog carries the request's Record-Route back, so the
    // requester's own proxies (an edge proxy in front of the phones) stay in its route set. They came from that
    // side: nothing of the other side is in them.
    if (call.dialog && status > 100 && status < 300 && req.method === call.method && !hasToTag(req)) {
      for (const rr of req.getAll('record-route')) out.append('Record-Route', rr);
    }
    for (const h of this.settings().stripHeaders) out.remove(h);
    const listener = toSide === 'pbx' ? this.pbxListener() : this.publicListenerFor(replyTarget(st.source));
    if (!listener) return undefined;
    const method = req.method ?? '';
    if (out.has('contact')) {
      if (method === 'REGISTER' && toSide === 'public') this.mapRegisterResponseContacts(out, resp);
      else if (status >= 300 && status < 400)
        out.remove('contact'); // a redirect would point inside
      else out.set('Contact', contactFor(listener, call.id));
    }
    if (toSide === 'public') {
      if (this.settings().sourceHeader) out.remove(this.settings().sourceHeader);
      for (const h of INSIDE_REVEALING_HEADERS) out.remove(h);
      scrubHeaders(out, this.insideHosts(), listener.advertiseHost);
    }
    if (this.settings().serverHeader) out.set('Server', this.settings().serverHeader);
    if (resp.body.length > 0) {
      const r = this.deps.media.rewrite(call, from, resp.body, resp.get('content-type'));
      if (!r.ok) out.setBody(Buffer.alloc(0));
      else if (r.body !== resp.body) out.setBody(r.body, resp.get('content-type'));
    }
    return out;
  }

  /** The registrar lists Palisade tokens; the phone must see its own Contact with the granted expiry. */
  private mapRegisterResponseContacts(out: SipMessage, resp: SipMessage): void {
    const cs = resp.contacts();
    const values: string[] = [];
    if (cs.ok) {
      for (const c of cs.value) {
        const b = c.uri.user ? this.registrations.peek(c.uri.user) : undefined;
        if (!b) continue; // not one of ours: it would reveal the inside
        const exp = c.expires ?? resp.expires();
        values.push(exp !== undefined ? `<${b.contactUri}>;expires=${exp}` : `<${b.contactUri}>`);
      }
    }
    if (values.length > 0) out.set('Contact', values);
    else out.remove('contact');
  }

  /** The caller's Via list for a response, with received/rport stamped on the top entry (RFC 3581 §4). */
  clientVias(req: SipMessage, source: Source): string[] {
    const vias = req.vias();
    if (!vias.ok || vias.value.length === 0) return req.getAll('via');
    const list = vias.value.map((v: Via) => v.raw);
    const top = vias.value[0] as Via;
    list[0] = stampReceived(top.raw, source.address, source.port, top.params.has('rport'), top.host);
    return list;
  }

  pbxListener(): ListenerInfo | undefined {
    return this.deps.listeners().find((l) => l.id.startsWith('pbx'));
  }

  publicListenerFor(flow: Target): ListenerInfo | undefined {
    const ls = this.deps.listeners();
    return (
      ls.find((l) => l.id === flow.listenerId) ??
      ls.find((l) => !l.id.startsWith('pbx') && l.transport === flow.transport) ??
      ls.find((l) => !l.id.startsWith('pbx'))
    );
  }

  /**
   * Hosts that must never reach the public side. Derived from the PBX targets and the listeners, which change only
   * on a reload (the pool then holds a new state array), so it is computed once per change, not per message.
   */
  private insideHosts(): string[] {
    const states = this.deps.pool.all();
    const listeners = this.deps.listeners();
    const c = this.insideCache;
    if (c !== undefined && c.states === states && c.listeners === listeners.length) return c.hosts;
    const hosts = this.computeInsideHosts();
    this.insideCache = { states, listeners: listeners.length, hosts };
    return hosts;
  }

  private insideCache: { states: readonly unknown[]; listeners: number; hosts: string[] } | undefined;

  private computeInsideHosts(): string[] {
    const hosts = new Set<string>();
    for (const p of this.deps.pool.all()) hosts.add(p.config.host);
    const pl = this.pbxListener();
    if (pl) {
      hosts.add(pl.address);
      hosts.add(pl.advertiseHost);
    }
    // A public address that equals an inside one (single-address lab set-ups) cannot be scrubbed.
    for (const l of this.deps.listeners()) if (!l.id.startsWith('pbx')) hosts.delete(l.advertiseHost);
    return [...hosts];
  }
}

/** Where responses to a request go: back over the same flow (connection, or the UDP source: RFC 3581). */
export function replyTarget(source: Source): Target {
  return {
    transport: source.transport,
    address: source.address,
    port: source.port,
    connectionId: source.connectionId,
    listenerId: source.listenerId,
  };
}

/** PBX-originated requests address the token; the phone must see its own AOR in To. */
function rewriteToUri(out: SipMessage, aor: string): void {
  const to = out.to();
  if (!to.ok) return;
  const tag = to.value.tag !== undefined ? `;tag=${to.value.tag}` : '';
  out.set('To', `<${aor}>${tag}`);
}

/** §17.1.1.3 ACK for a non-2xx final response: same Request-URI, top Via, Route, From, Call-ID; To of the response. */
export function buildNon2xxAck(invite: SipMessage, response: SipMessage): SipMessage | undefined {
  const cseq = invite.cseq();
  if (!cseq.ok) return undefined;
  const headers: Array<[string, string]> = [];
  const topVia = invite.vias();
  if (!topVia.ok || !topVia.value[0]) return undefined;
  headers.push(['Via', topVia.value[0].raw]);
  for (const r of invite.getAll('route')) headers.push(['Route', r]);
  headers.push(['Max-Forwards', '70']);
  headers.push(['From', invite.get('from') ?? '']);
  headers.push(['To', response.get('to') ?? '']);
  headers.push(['Call-ID', invite.callId() ?? '']);
  headers.push(['CSeq', `${cseq.value.seq} ACK`]);
  return createRequest({ method: 'ACK', requestUri: invite.requestUri ?? '', headers });
}
