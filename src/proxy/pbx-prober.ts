/**
 * Active PBX health checks: an OPTIONS to each target every `intervalMs` from the PBX-facing listener.
 * Any response proves the PBX alive (404/405 included); silence past `timeoutMs` counts as a failure.
 */
import type { Clock, TimerHandle } from '../core/clock.ts';
import { formatHost } from '../core/net.ts';
import { createRequest } from '../sip/build.ts';
import type { SipMessage } from '../sip/types.ts';
import type { ListenerInfo } from '../transport/types.ts';
import type { PbxPool, PbxState } from './pbx-pool.ts';
import { newBranch, newId, viaFor } from './topology.ts';
import type { ClientTransaction, TransactionLayer } from './transaction.ts';

export interface ProberDeps {
  readonly clock: Clock;
  readonly pool: PbxPool;
  readonly txns: TransactionLayer;
  readonly listener: () => ListenerInfo | undefined;
}

export class PbxProber {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private cseq = 1;
  private readonly deps: ProberDeps;

  constructor(deps: ProberDeps) {
    this.deps = deps;
  }

  start(): void {
    this.stopped = false;
    this.round();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** One probe of every target now (also used by tests). */
  round(): void {
    if (this.stopped) return;
    for (const s of this.deps.pool.all()) this.probe(s);
    this.timer?.cancel();
    this.timer = this.deps.clock.setTimer(this.deps.pool.probe.intervalMs, () => this.round());
  }

  private probe(s: PbxState): void {
    const l = this.deps.listener();
    if (!l) return;
    const { pool, clock, txns } = this.deps;
    const branch = newBranch();
    const host = formatHost(s.config.host);
    const req = createRequest({
      method: 'OPTIONS',
      requestUri: `sip:${host}:${s.config.port}`,
      headers: [
        ['Via', viaFor(l, branch)],
        ['Max-Forwards', '70'],
        ['From', `<sip:palisade@${formatHost(l.advertiseHost)}>;tag=${newId()}`],
        ['To', `<sip:${host}:${s.config.port}>`],
        ['Call-ID', newId()],
        ['CSeq', `${this.cseq++} OPTIONS`],
      ],
    });
    s.probesSent++;
    let settled = false;
    const settle = (ok: boolean, ct?: ClientTransaction): void => {
      if (settled) return;
      settled = true;
      timeout.cancel();
      if (ok) pool.reportSuccess(s, clock.now());
      else pool.reportFailure(s, clock.now());
      ct?.terminate();
    };
    const ct = txns.createClient(branch, req, s.target, {
      onResponse: (_t: ClientTransaction, _r: SipMessage) => settle(true),
      onTimeout: () => settle(false),
    });
    const timeout = clock.setTimer(pool.probe.timeoutMs, () => settle(false, ct));
    ct.start();
  }
}
