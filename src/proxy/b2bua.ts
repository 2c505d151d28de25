/**
 * The proxy core: a dialog-aware B2BUA-lite between the public side (phones, trunks, attackers) and the PBX.
 *
 * Every request is answered by a server transaction on the side it came from and re-issued by a client
 * transaction on the other side with Palisade's own Via, Contact and Call-ID (topology hiding); tags and
 * CSeq numbers pass through (shifted when Palisade sends requests of its own). Responses travel back the
 * same way. Registrations pass through to the PBX, which stays the registrar; Palisade keeps the binding
 * so the PBX can call the phone over the phone's own flow.
 */
import { assertNever } from '../core/assert-never.ts';
import { isStreamTransport, unmapIPv4 } from '../core/net.ts';
import type { PipelineResult, RequestFacts } from '../pipeline/stage.ts';
import { buildResponseTo, createRequest } from '../sip/build.ts';
import type { SipMessage } from '../sip/types.ts';
import type { Source, Target } from '../transport/types.ts';
import { type Call, CallTable, type Leg, otherSide, type Side } from './calls.ts';
import { buildNon2xxAck, LegBuilder, replyTarget, requestRouteSet } from './leg-builder.ts';
import type { PbxState } from './pbx-pool.ts';
import { type Binding, RegistrationStore } from './registrations.ts';
import { derivedId, isAddressedToUs, newBranch, newId, viaFor } from './topology.ts';
import { type ClientTransaction, type ClientTransactionUser, type ServerTransaction, serverKey, TransactionLayer } from './transaction.ts';
import { isRefusal, type ProxyCounters, type ProxyDeps, type ProxySettings } from './types.ts';

export { replyTarget } from './leg-builder.ts';
export { type MediaHook, type ProxyCounters, type ProxyDeps, type ProxySettings, passthroughMedia } from './types.ts';

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, MESSAGE, SUBSCRIBE, NOTIFY, REFER, UPDATE, PRACK';
const DIALOG_METHODS = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);
/** RFC 3261 §17.2.1: the server transaction sends 100 Trying if the TU has said nothing within 200 ms. */
export const TRYING_DELAY_MS = 200;
/** Timer C's role (RFC 3261 §16.6 item 11): a call ringing this long is cancelled toward the callee (487 back). */
export const RINGING_LIMIT_MS = 180_000;

interface ServerCtx {
  call: Call;
  st: ServerTransaction;
  side: Side;
  /** Client transaction on the other side, once sent. */
  ct: ClientTransaction | undefined;
  cancelPending: boolean;
  /** PBX targets already tried (failover). */
  tried: Set<string>;
  outgoing: SipMessage | undefined;
  responseTimer: { cancel(): void } | undefined;
  /** Bounds ringing (RINGING_LIMIT_MS); cancelled by the final response. */
  ringTimer?: { cancel(): void } | undefined;
  /** REGISTER: the bindings asked for, applied on the registrar's 2xx. */
  pendingBindings?: Binding[];
}

export class B2bua implements ClientTransactionUser {
  readonly txns: TransactionLayer;
  readonly calls: CallTable;
  readonly registrations: RegistrationStore;
  readonly counters: ProxyCounters = {
    requestsIn: 0,
    responsesIn: 0,
    repliesLocal: 0,
    dropped: 0,
    noPbx503: 0,
    failovers: 0,
    unknownPbxSource: 0,
    staleResponses: 0,
    terminated: 0,
  };
  settings: ProxySettings;
  draining = false;
  private readonly deps: ProxyDeps;
  private readonly builder: LegBuilder;

  constructor(settings: ProxySettings, deps: ProxyDeps) {
    this.settings = settings;
    this.deps = deps;
    this.txns = new TransactionLayer({
      clock: deps.clock,
      timers: settings.timers,
      send: deps.send,
      maxTransactions: settings.maxTransactions,
      buildAck: buildNon2xxAck,
    });
    this.calls = new CallTable(settings.maxDialogs + settings.maxRegistrations);
    this.calls.onEvict = (c) => {
      c.limitTimer?.cancel();
      // An answered call pushed out of a full table is hung up, not left running on both sides without its media
      // relay and beyond its duration limit.
      if (c.dialog && c.ends && c.confirmedAt !== undefined) {
        c.endedBy = 'evicted';
        this.sendBye(c, 'public', 'evicted');
        this.sendBye(c, 'pbx', 'evicted');
      }
      deps.media.release(c);
      this.reportEnd(c);
    };
    this.registrations = new RegistrationStore(settings.maxRegistrations, deps.secret);
    this.builder = new LegBuilder(() => this.settings, deps, this.registrations);
    deps.media.bindTerminate?.((call, reason) => {
      this.terminate(call, reason);
    });
  }

  reconfigure(settings: ProxySettings): void {
    this.settings = settings;
    this.txns.timers = settings.timers;
  }

  // ---------------------------------------------------------------- entry points

  /** A parsed message from a listener. `side` follows from the listener's role. */
  handle(msg: SipMessage, source: Source, side: Side): void {
    if (msg.isRequest) {
      this.counters.requestsIn++;
      this.handleRequest(msg, source, side);
    } else {
      this.counters.responsesIn++;
      this.handleResponse(msg, source, side);
    }
  }

  onConnectionClosed(connectionId: number): void {
    this.registrations.dropConnection(connectionId);
  }

  // ---------------------------------------------------------------- requests

  private handleRequest(req: SipMessage, source: Source, side: Side): void {
    const method = req.method ?? '';
    const topVia = req.topVia();
    const cseq = req.cseq();
    const callId = req.callId();
    if (!topVia.ok || !cseq.ok || callId === undefined) {
      this.counters.dropped++;
      return; // nothing to answer to
    }
    if (side === 'pbx' && !this.deps.pool.findBySource(source.transport, source.address, source.port)) {
      this.counters.unknownPbxSource++;
      return; // only the PBX may talk to the inside listener; silence toward anyone else
    }
    const via = topVia.value;
    const branch = via.branch ?? `${callId}|${cseq.value.seq}`;
    const sentBy = `${via.host}:${via.port ?? ''}`;
    const key = serverKey(branch, sentBy, method);

    if (method === 'ACK') {
      const st = this.txns.findServer(key);
      if (st && st.state === 'completed') {
        st.onAck();
        return;
      }
      if (st && st.state === 'confirmed') return;
      this.forwardAck(req, source, side);
      return;
    }

    const existing = this.txns.findServer(key);
    if (existing) {
      existing.onRetransmission();
      return;
    }

    const reply = replyTarget(source);
    const st = this.txns.createServer(key, req, source, reply);

    if (method === 'CANCEL') {
      this.handleCancel(req, st, branch, sentBy);
      return;
    }
    // The pipeline decides before anything is sent: a dropped request gets no answer at all, not even 100.
    const facts: RequestFacts = {};
    const decision = this.deps.pipeline.run({ msg: req, source, side, now: this.deps.clock.now(), facts });
    if (decision instanceof Promise) {
      decision
        .then((d) => this.afterPipeline(req, st, side, callId, method, d, facts))
        .catch((e: unknown) => {
          // Never an unhandled rejection (it would end the process): log, count, and let the caller retry.
          this.counters.dropped++;
          this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'request handling failed');
          st.terminate();
        });
      return;
    }
    this.afterPipeline(req, st, side, callId, method, decision, facts);
  }

  private afterPipeline(
    req: SipMessage,
    st: ServerTransaction,
    side: Side,
    callId: string,
    method: string,
    decision: PipelineResult,
    facts: RequestFacts,
  ): void {
    if (st.state === 'terminated') {
      // Evicted while an asynchronous stage ran: the pipeline let the INVITE through (and counted it), no call follows.
      if (decision.verdict.kind === 'continue' && side === 'public') this.reportNeverPlaced(req);
      return;
    }
    const v = decision.verdict;
    switch (v.kind) {
      case 'continue':
        break;
      case 'reply':
        return this.respondLocal(st, v.status, v.reason, v.headers ?? []);
      case 'drop':
        this.counters.dropped++;
        st.terminate();
        return;
      case 'challenge':
        // Stateless: an unauthenticated request keeps no transaction (no Timer G retransmissions toward a possibly
        // spoofed source, no slot taken from calls in progress). A lost challenge is answered again on retransmission.
        this.respondLocal(st, v.proxy ? 407 : 401, v.proxy ? 'Proxy Authentication Required' : 'Unauthorized', v.headers);
        st.terminate();
        return;
      default:
        return assertNever(v, 'verdict');
    }
    // RFC 3261 §17.2.1: a 100 is owed only if nothing else has been sent within 200 ms. Most PBXs ring or answer
    // sooner, so this saves a message per call; a slow PBX still stops the caller's retransmissions in time.
    if (method === 'INVITE') {
      this.deps.clock.setTimer(TRYING_DELAY_MS, () => {
        if (st.state === 'proceeding' && !st.responded) this.respondLocal(st, 100, 'Trying');
      });
    }

    const toTag = req.to();
    if (!toTag.ok) return this.respondLocal(st, 400, 'Bad To');
    // REGISTER never belongs to a dialog (RFC 3261 §10.2): a To tag on it must not open the in-dialog path.
    if (toTag.value.tag !== undefined && method !== 'REGISTER') {
      this.forwardInDialog(req, st, side, callId);
      return;
    }
    if (side === 'public') this.fromPublicOutOfDialog(req, st, method, facts);
    else this.fromPbxOutOfDialog(req, st, method);
  }

  private fromPublicOutOfDialog(req: SipMessage, st: ServerTransaction, method: string, facts: RequestFacts): void {
    if (method === 'OPTIONS' && this.isForUs(req)) return this.answerOptions(st);
    // Refused below before a call record exists: whoever counted this INVITE as a call in progress must hear it ended.
    const refuse = (status: number, reason: string, extra: ReadonlyArray<readonly [string, string]> = []): void => {
      this.respondLocal(st, status, reason, extra);
      this.reportNeverPlaced(req);
    };
    if (this.draining && DIALOG_METHODS.has(method))
      return refuse(503, 'Service Unavailable', [['Retry-After', String(this.settings.retryAfterSeconds)]]);
    if (!this.deps.pool.anyUp()) {
      this.counters.noPbx503++;
      return refuse(503, 'Service Unavailable', [['Retry-After', String(this.settings.retryAfterSeconds)]]);
    }
    const pbxListener = this.builder.pbxListener();
    if (!pbxListener) return refuse(500, 'Server Internal Error');
    const outsideCallId = req.callId() as string;
    const now = this.deps.clock.now();
    // REGISTER refreshes reuse their Call-ID and the registrar expects the same inside (RFC 3261 §10.2.4), so that
    // one is derived; every other request gets a fresh random id (cheaper than an HMAC per call).
    const insideCallId = method === 'REGISTER' ? derivedId(this.deps.secret, `o:${outsideCallId}`) : newId();
    const existing = this.calls.find('public', outsideCallId);
    if (existing && existing.state !== 'terminated') {
      // A new transaction on a known non-dialog record (REGISTER refresh with the same Call-ID): reuse it.
      if (!existing.dialog) this.calls.remove(existing);
      else return this.respondLocal(st, 482, 'Loop Detected'); // the live call keeps its authorization
    }
    const call = this.newCall({
      caller: 'public',
      method,
      now,
      fromTag: req.from().ok ? (req.from() as { ok: true; value: { tag: string | undefined } }).value.tag : undefined,
      publicCallId: outsideCallId,
      pbxCallId: insideCallId,
      publicFlow: replyTarget(st.source),
      pbxFlow: { transport: 'udp', address: '0.0.0.0', port: 0 },
    });
    call.identity = facts.user;
    call.trustedPeer = facts.trustedPeer;
    call.maxDurationMs = facts.maxDurationMs;
    const contacts = req.contacts();
    if (call.dialog && contacts.ok && contacts.value[0]) call.legs.public.remoteTarget = contacts.value[0].uri.raw;
    if (call.dialog) call.legs.public.routeSet = requestRouteSet(req);
    const ctx = this.attach(call, st, 'public');
    this.withMedia(call, req, () => this.sendToPbx(ctx, req));
  }

  /** Runs `next` once the call's relay ports exist (allocation binds sockets, so it may be asynchronous). */
  private withMedia(call: Call, msg: SipMessage, next: () => void): void {
    const p = msg.body.length > 0 ? this.deps.media.prepare(call, msg.body, msg.get('content-type')) : undefined;
    if (!p) {
      next();
      return;
    }
    p.then(next, next);
  }

  /** Sends (or re-sends, on failover) the request of `ctx` to the next PBX that is up. */
  private sendToPbx(ctx: ServerCtx, req: SipMessage): void {
    const target = this.deps.pool.pick(ctx.tried);
    if (!target) {
      this.counters.noPbx503++;
      this.finishWithLocal(ctx, 503, 'Service Unavailable', [['Retry-After', String(this.settings.retryAfterSeconds)]]);
      return;
    }
    ctx.tried.add(target.config.name);
    const call = ctx.call;
    call.pbxName = target.config.name;
    call.legs.pbx.flow = target.target;
    if (req.method === 'REGISTER') ctx.pendingBindings ??= [];
    const out =
      ctx.outgoing ?? this.builder.buildOutgoing(req, call, 'public', 'pbx', ctx.st.source, undefined, undefined, ctx.pendingBindings);
    if (!out) return this.finishWithLocal(ctx, 500, 'Server Internal Error');
    if (isRefusal(out)) return this.finishWithLocal(ctx, out.status, out.reason);
    ctx.outgoing = out;
    this.startClient(ctx, out, call.legs.pbx, target);
  }

  private fromPbxOutOfDialog(req: SipMessage, st: ServerTransaction, method: string): void {
    const uri = req.uri();
    const user = uri.ok ? uri.value.user : undefined;
    if (method === 'OPTIONS' && (user === undefined || user === '')) return this.answerOptions(st);
    const now = this.deps.clock.now();
    const binding = user ? this.registrations.get(user, now) : undefined;
    if (!binding) return this.respondLocal(st, 404, 'Not Found');
    if (binding.flow.connectionId !== undefined && isStreamTransport(binding.flow.transport) && !this.connectionOpen(binding.flow)) {
      return this.respondLocal(st, 480, 'Temporarily Unavailable');
    }
    if (this.draining && DIALOG_METHODS.has(method)) return this.respondLocal(st, 503, 'Service Unavailable');
    const pbx = this.deps.pool.findBySource(st.source.transport, st.source.address, st.source.port);
    const call = this.newCall({
      caller: 'pbx',
      method,
      now,
      fromTag: req.from().ok ? (req.from() as { ok: true; value: { tag: string | undefined } }).value.tag : undefined,
      publicCallId: newId(),
      pbxCallId: req.callId() as string,
      publicFlow: binding.flow,
      pbxFlow: pbx ? pbx.target : replyTarget(st.source),
    });
    call.pbxName = pbx?.config.name;
    const contacts = req.contacts();
    if (call.dialog && contacts.ok && contacts.value[0]) call.legs.pbx.remoteTarget = contacts.value[0].uri.raw;
    if (call.dialog) call.legs.pbx.routeSet = requestRouteSet(req);
    const ctx = this.attach(call, st, 'pbx');
    this.withMedia(call, req, () => {
      const out = this.builder.buildOutgoing(req, call, 'pbx', 'public', st.source, binding.contactUri, binding.aor);
      if (!out) return this.finishWithLocal(ctx, 500, 'Server Internal Error');
      if (isRefusal(out)) return this.finishWithLocal(ctx, out.status, out.reason);
      this.startClient(ctx, out, call.legs.public, undefined);
    });
  }

  private forwardInDialog(req: SipMessage, st: ServerTransaction, side: Side, callId: string): void {
    const call = this.calls.find(side, callId);
    if (!call?.dialog || !this.tagsMatch(call, req) || !this.fromDialogPeer(call, side, st.source)) {
      return this.respondLocal(st, 481, 'Call/Transaction Does Not Exist');
    }
    // An INVITE inside a SUBSCRIBE/REFER dialog (RFC 5057 usage sharing) would be a call call authorization never
    // saw (it skips INVITEs with a To tag as re-INVITEs): only a dialog an INVITE created takes one.
    if (req.method === 'INVITE' && call.method !== 'INVITE') return this.respondLocal(st, 481, 'Call/Transaction Does Not Exist');
    call.lastActivityAt = this.deps.clock.now();
    // RFC 3261 §12.2.2: a target refresh request carries its sender's current Contact; requests toward that side
    // (Palisade's own BYE included) go there from now on. Only the URI moves: the flow stays the dialog's own.
    if (req.method === 'INVITE' || req.method === 'UPDATE') {
      const c = req.contacts();
      if (c.ok && c.value[0] && !c.value[0].star) call.legs[side].remoteTarget = c.value[0].uri.raw;
    }
    const to = otherSide(side);
    const ctx = this.attach(call, st, side);
    this.withMedia(call, req, () => {
      const out = this.builder.buildOutgoing(req, call, side, to, st.source);
      if (!out) return this.respondLocal(st, 500, 'Server Internal Error');
      if (isRefusal(out)) return this.respondLocal(st, out.status, out.reason);
      const leg = call.legs[to];
      this.startClient(ctx, out, leg, to === 'pbx' && call.pbxName ? this.deps.pool.findByName(call.pbxName) : undefined);
    });
  }

  private forwardAck(req: SipMessage, source: Source, side: Side): void {
    const callId = req.callId();
    const call = callId ? this.calls.find(side, callId) : undefined;
    if (!call || !this.tagsMatch(call, req) || !this.fromDialogPeer(call, side, source)) {
      this.counters.dropped++;
      return; // stray ACK: nothing to answer (§17.2.3)
    }
    const to = otherSide(side);
    const out = this.builder.buildOutgoing(req, call, side, to, source);
    if (!out || isRefusal(out)) {
      this.counters.dropped++;
      return;
    }
    this.deps.send(call.legs[to].flow, out.serialize());
  }

  private handleCancel(cancel: SipMessage, st: ServerTransaction, branch: string, sentBy: string): void {
    const inviteSt = this.txns.findServer(serverKey(branch, sentBy, 'INVITE'));
    // The branch is the sender's choice: only the INVITE's own source may cancel it.
    if (!inviteSt || inviteSt.source.address !== st.source.address) return this.respondLocal(st, 481, 'Call/Transaction Does Not Exist');
    this.respondLocal(st, 200, 'OK'); // §9.2: the CANCEL itself is answered hop-by-hop
    const ctx = inviteSt.userData as ServerCtx | undefined;
    if (!ctx || inviteSt.state !== 'proceeding') return;
    void cancel;
    if (ctx.ct && ctx.ct.state === 'proceeding') this.sendCancel(ctx);
    else ctx.cancelPending = true; // §9.1: wait for a provisional before cancelling
  }

  private sendCancel(ctx: ServerCtx): void {
    const ct = ctx.ct;
    if (!ct) return;
    const inv = ct.request;
    const headers: Array<[string, string]> = [];
    const via = inv.get('via');
    if (via) headers.push(['Via', via]);
    for (const r of inv.getAll('route')) headers.push(['Route', r]);
    headers.push(['Max-Forwards', '70']);
    headers.push(['From', inv.get('from') ?? '']);
    headers.push(['To', inv.get('to') ?? '']);
    headers.push(['Call-ID', inv.callId() ?? '']);
    const cseq = inv.cseq();
    headers.push(['CSeq', `${cseq.ok ? cseq.value.seq : 1} CANCEL`]);
    const cancel = createRequest({ method: 'CANCEL', requestUri: inv.requestUri ?? '', headers });
    const cancelCtx: ServerCtx = { ...ctx, ct: undefined };
    const t = this.txns.createClient(ct.branch, cancel, ct.target, {
      onResponse: () => {},
      onTimeout: () => {},
    });
    t.userData = cancelCtx;
    t.start();
  }

  // ---------------------------------------------------------------- client side

  private startClient(ctx: ServerCtx, out: SipMessage, leg: Leg, pbx: PbxState | undefined): void {
    const via = out.topVia();
    if (!via.ok || !via.value.branch) return;
    const ct = this.txns.createClient(via.value.branch, out, leg.flow, this);
    ct.userData = ctx;
    ctx.ct = ct;
    const cseq = out.cseq();
    if (cseq.ok) leg.lastCseq = Math.max(leg.lastCseq, cseq.value.seq);
    ct.start();
    if (out.method === 'INVITE' && ctx.call.state === 'early') {
      ctx.ringTimer?.cancel();
      ctx.ringTimer = this.deps.clock.setTimer(RINGING_LIMIT_MS, () => {
        if (ctx.ct === ct && ct.state === 'proceeding') this.sendCancel(ctx);
      });
    }
    // Fast failover: a PBX that says nothing at all within the probe timeout is treated as down for this request.
    // Mid-dialog there is nothing to fail over to: Timer B/F alone decide (an early 408 would abandon a re-INVITE
    // whose late 2xx then goes unacknowledged).
    if (pbx && ctx.side === 'public' && ctx.call.legs.pbx === leg && !this.isDialogMidstream(ctx)) {
      ctx.responseTimer?.cancel();
      ctx.responseTimer = this.deps.clock.setTimer(this.settings.pbxResponseTimeoutMs, () => {
        // Only this request fails over: a slow answer under load (ours or the PBX's) must not mark the PBX
        // down for everyone. Up/down comes from the OPTIONS probes and from transport failures.
        if (ctx.ct === ct && ct.lastStatus === 0 && ct.state === 'calling') ct.fail('timeout');
      });
    }
  }

  onResponse(ct: ClientTransaction, resp: SipMessage): void {
    const ctx = ct.userData as ServerCtx | undefined;
    if (!ctx) return;
    // A late offer (INVITE without SDP, offer in the response) needs relay ports first.
    this.withMedia(ctx.call, resp, () => this.deliverResponse(ct, ctx, resp));
  }

  private deliverResponse(ct: ClientTransaction, ctx: ServerCtx, resp: SipMessage): void {
    const status = resp.status ?? 0;
    const call = ctx.call;
    const from = otherSide(ctx.side); // the side the response came from
    call.lastActivityAt = this.deps.clock.now();
    if (from === 'pbx' && call.pbxName) {
      const p = this.deps.pool.findByName(call.pbxName);
      if (p) this.deps.pool.reportSuccess(p, this.deps.clock.now());
    }
    if (status === 100) return; // hop-by-hop; we sent our own
    if (ctx.cancelPending && status < 200) {
      ctx.cancelPending = false;
      this.sendCancel(ctx);
    }
    const method = ct.request.method ?? '';
    const toTag = resp.to();
    if (toTag.ok && toTag.value.tag !== undefined && call.toTag === undefined && status < 300) call.toTag = toTag.value.tag;
    let answered = false;
    if (status >= 200 && status < 300 && DIALOG_METHODS.has(method)) {
      const leg = call.legs[from];
      const contacts = resp.contacts();
      if (contacts.ok && contacts.value[0]) leg.remoteTarget = contacts.value[0].uri.raw;
      // §12.1.2: the UAC takes the route set, reversed, from the 2xx that creates the dialog; §12.2.1.2: a 2xx to a
      // later request (re-INVITE) does not change it — it usually has no Record-Route at all.
      const rr = resp.recordRoutes();
      if (rr.ok && call.state === 'early') leg.routeSet = rr.value.map((r) => r.raw).reverse();
      if (call.state === 'early' && method === 'INVITE') answered = true;
      if (call.state === 'early') {
        call.state = 'confirmed';
        call.confirmedAt = this.deps.clock.now();
      }
    }
    if (method === 'REGISTER' && from === 'pbx' && status >= 200 && status < 300) this.onRegisterOk(ctx, resp);
    if (from === 'pbx' && ctx.side === 'public' && (status === 401 || status === 407 || status === 403)) this.noteRefusedCredentials(ctx);
    const out = this.builder.buildResponse(resp, ctx.call, ctx.st, ctx.side, from);
    if (!out) return;
    if (answered) this.onAnswered(call, from, resp, ctx.side, out);
    if (ctx.st.state === 'accepted' && status >= 200 && status < 300) {
      // RFC 6026: a 2xx retransmission from downstream is passed on to the caller directly.
      this.deps.send(ctx.st.reply, out.serialize());
    } else {
      ctx.st.respond(out);
    }
    if (status >= 200) this.afterFinal(ctx, method, status);
  }

  onTimeout(ct: ClientTransaction, reason: 'timeout' | 'transport'): void {
    const ctx = ct.userData as ServerCtx | undefined;
    if (!ctx || ctx.ct !== ct) return;
    this.txns.counters.timeouts++;
    const method = ct.request.method ?? '';
    if (ctx.side === 'public' && ctx.call.legs.pbx.flow === ct.target && ct.lastStatus === 0) {
      // Nothing came back from this PBX: fail over to the next one if there is one (the request is unchanged).
      const p = ctx.call.pbxName ? this.deps.pool.findByName(ctx.call.pbxName) : undefined;
      if (p && reason === 'transport') this.deps.pool.reportFailure(p, this.deps.clock.now());
      if (!this.isDialogMidstream(ctx)) {
        this.counters.failovers++;
        const orig = ctx.st.request;
        ctx.outgoing = undefined;
        this.sendToPbx(ctx, orig);
        return;
      }
    }
    if (method === 'ACK') return;
    this.finishWithLocal(ctx, reason === 'timeout' ? 408 : 503, reason === 'timeout' ? 'Request Timeout' : 'Service Unavailable');
  }

  /**
   * In-dialog requests (re-INVITE included) stay with their PBX: no failover for them — another PBX knows nothing
   * of the dialog, and moving `legs.pbx.flow` would send every later request (and Palisade's own BYE) there.
   * Nor for a call that has ended meanwhile.
   */
  private isDialogMidstream(ctx: ServerCtx): boolean {
    const call = ctx.call;
    if (call.state === 'terminated') return true;
    if (!call.dialog) return false;
    if (call.state === 'confirmed') return true;
    const to = ctx.st.request.to();
    return to.ok && to.value.tag !== undefined;
  }

  /** A challenge answering a request that carried no credentials is the normal first round; with credentials it is a failure. */
  private noteRefusedCredentials(ctx: ServerCtx): void {
    const req = ctx.st.request;
    const cred = req.get('authorization') ?? req.get('proxy-authorization');
    if (cred === undefined || !this.deps.onCredentialsRefusedByPbx) return;
    const user = /username\s*=\s*"([^"]{0,128})"/i.exec(cred)?.[1];
    this.deps.onCredentialsRefusedByPbx(ctx.st.source, user);
  }

  private afterFinal(ctx: ServerCtx, method: string, status: number): void {
    ctx.responseTimer?.cancel();
    ctx.ringTimer?.cancel();
    const call = ctx.call;
    if (method === 'BYE' || (method === 'INVITE' && status >= 300 && call.state === 'early') || !call.dialog) {
      if (!(method === 'INVITE' && status >= 300 && call.state === 'confirmed')) this.endCall(call);
    }
  }

  private endCall(call: Call): void {
    if (call.state === 'terminated') return;
    call.limitTimer?.cancel();
    this.deps.media.release(call);
    this.calls.remove(call);
    this.reportEnd(call);
  }

  /**
   * A public out-of-dialog INVITE the pipeline let through that never became a call: whoever counted it must hear it
   * ended. Not when a live call already has this Call-ID: call authorization keeps one entry per Call-ID (it did not
   * count this INVITE again), and that entry is the live call's, reported when that call ends.
   */
  private reportNeverPlaced(req: SipMessage): void {
    if (req.method !== 'INVITE' || !this.deps.onCallEnded) return;
    const to = req.to();
    const callId = req.callId();
    if (!to.ok || to.value.tag !== undefined || callId === undefined) return;
    const live = this.calls.find('public', callId);
    if (live && live.state !== 'terminated' && live.method === 'INVITE' && live.caller === 'public') return;
    this.deps.onCallEnded({ publicCallId: callId, caller: 'public', answeredMs: 0, reason: undefined });
  }

  private reportEnd(call: Call): void {
    if (!this.deps.onCallEnded || call.method !== 'INVITE' || call.caller !== 'public') return;
    const answeredMs = call.confirmedAt === undefined ? 0 : Math.max(0, this.deps.clock.now() - call.confirmedAt);
    this.deps.onCallEnded({ publicCallId: call.legs.public.callId, caller: call.caller, answeredMs, reason: call.endedBy });
  }

  /**
   * A 2xx answered the INVITE that created `call`: remember each leg's From/To (Palisade may have to hang up
   * both sides itself) and start the duration limit call authorization set.
   */
  private onAnswered(call: Call, from: Side, resp: SipMessage, to: Side, out: SipMessage): void {
    const ends = { public: { from: '', to: '' }, pbx: { from: '', to: '' } };
    ends[from] = { from: resp.get('from') ?? '', to: resp.get('to') ?? '' };
    ends[to] = { from: out.get('from') ?? '', to: out.get('to') ?? '' };
    call.ends = ends;
    const limit = call.maxDurationMs;
    if (limit !== undefined && limit > 0) {
      call.limitTimer = this.deps.clock.setTimer(limit, () => {
        if (call.state === 'confirmed') this.terminate(call, 'duration-limit');
      });
    }
  }

  /**
   * Palisade itself ends an established call: BYE into both legs (each a client transaction, so UDP retransmits),
   * then the call is released at once — the peers' answers are not waited for. Used at the duration limit and when
   * media stopped. False when the call is not established (nothing sent).
   */
  terminate(call: Call, reason: string): boolean {
    if (call.state !== 'confirmed' || !call.dialog || !call.ends) return false;
    call.endedBy = reason;
    this.sendBye(call, 'public', reason);
    this.sendBye(call, 'pbx', reason);
    this.counters.terminated++;
    try {
      this.deps.onCallTerminated?.(call, reason);
    } catch {
      // an audit hook never keeps the call up
    }
    this.endCall(call);
    return true;
  }

  private sendBye(call: Call, side: Side, reason: string): void {
    const leg = call.legs[side];
    const ends = call.ends?.[side];
    if (!ends || ends.from === '' || leg.remoteTarget === undefined) return;
    const listener = side === 'pbx' ? this.builder.pbxListener() : this.builder.publicListenerFor(leg.flow);
    if (!listener) return;
    // Toward the caller Palisade speaks as the callee: From and To swap (RFC 3261 §12.2.1.1).
    const asCallee = side === call.caller;
    const branch = newBranch();
    leg.lastCseq += 1;
    leg.cseqOffset += 1; // a later request from the other side into this leg must still go up
    const headers: Array<[string, string]> = [['Via', viaFor(listener, branch)]];
    for (const r of leg.routeSet) headers.push(['Route', r]);
    headers.push(['Max-Forwards', '70']);
    headers.push(['From', asCallee ? ends.to : ends.from]);
    headers.push(['To', asCallee ? ends.from : ends.to]);
    headers.push(['Call-ID', leg.callId]);
    headers.push(['CSeq', `${leg.lastCseq} BYE`]);
    headers.push(['Reason', `SIP;text="${reason}"`]);
    if (this.settings.serverHeader) headers.push(['User-Agent', this.settings.serverHeader]);
    let bye: SipMessage;
    try {
      bye = createRequest({ method: 'BYE', requestUri: leg.remoteTarget, headers });
    } catch {
      return; // a Contact URI the builder refuses: nothing sensible to send
    }
    const t = this.txns.createClient(branch, bye, leg.flow, { onResponse: () => {}, onTimeout: () => {} });
    t.start();
  }

  // ---------------------------------------------------------------- registrations

  private onRegisterOk(ctx: ServerCtx, resp: SipMessage): void {
    const req = ctx.st.request;
    const to = req.to();
    if (!to.ok) return;
    const aor = to.value.uri.raw;
    const now = this.deps.clock.now();
    const contacts = resp.contacts();
    const expiresHeader = resp.expires();
    if (!contacts.ok) return;
    const granted = new Map<string, number>();
    for (const c of contacts.value) {
      if (c.star) continue;
      const token = c.uri.user;
      if (!token) continue;
      granted.set(token, c.expires ?? expiresHeader ?? this.settings.maxExpires);
    }
    const reqContacts = req.contacts();
    if (reqContacts.ok && reqContacts.value.some((c) => c.star)) {
      this.registrations.removeAor(aor);
      return;
    }
    // Only now, with the registrar's 2xx, does a binding (which flow reaches this phone) take effect.
    for (const b of ctx.pendingBindings ?? []) {
      const g = granted.get(b.token);
      if (g === undefined || g <= 0) this.registrations.remove(b.token);
      else this.registrations.upsert({ ...b, expiresAt: now + g * 1000 });
    }
  }

  // ---------------------------------------------------------------- local answers

  private respondLocal(st: ServerTransaction, status: number, reason: string, extra: ReadonlyArray<readonly [string, string]> = []): void {
    const toTag = status > 100 ? newId().slice(-12) : undefined;
    const headers: Array<readonly [string, string]> = [...extra];
    if (this.settings.serverHeader) headers.push(['Server', this.settings.serverHeader]);
    const resp = buildResponseTo(st.request, status, reason, headers, toTag);
    resp.set('Via', this.builder.clientVias(st.request, st.source));
    this.counters.repliesLocal++;
    st.respond(resp);
  }

  private finishWithLocal(ctx: ServerCtx, status: number, reason: string, extra: ReadonlyArray<readonly [string, string]> = []): void {
    ctx.responseTimer?.cancel();
    ctx.ringTimer?.cancel();
    this.respondLocal(ctx.st, status, reason, extra);
    // A BYE nobody answered still ends the call here (the peer is gone): otherwise its record and relay ports leak.
    if (ctx.call.state !== 'confirmed' || !ctx.call.dialog || ctx.st.request.method === 'BYE') this.endCall(ctx.call);
  }

  private answerOptions(st: ServerTransaction): void {
    this.respondLocal(st, 200, 'OK', [
      ['Allow', ALLOW],
      ['Accept', 'application/sdp'],
      ['Supported', 'replaces, timer'],
    ]);
  }

  // ---------------------------------------------------------------- helpers

  private newCall(p: {
    caller: Side;
    method: string;
    now: number;
    fromTag: string | undefined;
    publicCallId: string;
    pbxCallId: string;
    publicFlow: Target;
    pbxFlow: Target;
  }): Call {
    const mkLeg = (side: Side, callId: string, flow: Target): Leg => ({
      side,
      callId,
      flow,
      remoteTarget: undefined,
      routeSet: [],
      cseqOffset: 0,
      lastCseq: 0,
    });
    const call: Call = {
      id: `c${newId()}`,
      createdAt: p.now,
      caller: p.caller,
      dialog: DIALOG_METHODS.has(p.method),
      method: p.method,
      fromTag: p.fromTag,
      toTag: undefined,
      state: 'early',
      legs: { public: mkLeg('public', p.publicCallId, p.publicFlow), pbx: mkLeg('pbx', p.pbxCallId, p.pbxFlow) },
      pbxName: undefined,
      lastActivityAt: p.now,
      confirmedAt: undefined,
      media: undefined,
      identity: undefined,
      trustedPeer: undefined,
    };
    this.calls.add(call);
    return call;
  }

  /** The server transaction's context: which call it serves and, once sent, its client transaction. */
  private attach(call: Call, st: ServerTransaction, side: Side): ServerCtx {
    const ctx: ServerCtx = {
      call,
      st,
      side,
      ct: undefined,
      cancelPending: false,
      tried: new Set(),
      outgoing: undefined,
      responseTimer: undefined,
    };
    st.userData = ctx;
    return ctx;
  }

  /**
   * In-dialog requests from the public side must come from the address the dialog's phone uses: knowing a
   * Call-ID and tags (say, from a leaked trace) is not enough to hang up or re-INVITE someone else's call.
   * The address, not the port: a NAT may rebind the port mid-call.
   */
  private fromDialogPeer(call: Call, side: Side, source: Source): boolean {
    if (side !== 'public') return true; // the PBX side is checked against the configured PBXs already
    return call.legs.public.flow.address === source.address;
  }

  private tagsMatch(call: Call, req: SipMessage): boolean {
    const f = req.from();
    const t = req.to();
    if (!f.ok || !t.ok) return false;
    const tags = [f.value.tag, t.value.tag];
    return call.fromTag === undefined || tags.includes(call.fromTag);
  }

  private isForUs(req: SipMessage): boolean {
    return isAddressedToUs(req, this.settings.localHosts, this.deps.listeners());
  }

  private connectionOpen(flow: Target): boolean {
    return this.deps.isConnectionOpen(flow.connectionId ?? -1);
  }

  // ---------------------------------------------------------------- responses from the wire

  private handleResponse(resp: SipMessage, source: Source, side: Side): void {
    const via = resp.topVia();
    const cseq = resp.cseq();
    if (!via.ok || !cseq.ok || !via.value.branch) {
      this.counters.dropped++;
      return;
    }
    const ct = this.txns.findClient(via.value.branch, cseq.value.method);
    if (!ct) {
      this.counters.staleResponses++;
      return;
    }
    // The response must come from where the request went (no spoofed answers from a third party).
    const t = ct.target;
    const fromExpected =
      side === 'pbx'
        ? this.deps.pool.findBySource(source.transport, source.address, source.port) !== undefined
        : t.connectionId !== undefined
          ? source.connectionId === t.connectionId
          : unmapIPv4(source.address) === t.address && source.port === t.port;
    if (!fromExpected) {
      this.counters.dropped++;
      return;
    }
    ct.receive(resp);
  }

  /** Active record counts for status and metrics. */
  snapshot(): { dialogs: number; registrations: number; serverTxns: number; clientTxns: number } {
    return {
      dialogs: this.calls.activeDialogs,
      registrations: this.registrations.size,
      serverTxns: this.txns.activeServers,
      clientTxns: this.txns.activeClients,
    };
  }
}
