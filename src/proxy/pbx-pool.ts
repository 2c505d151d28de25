/**
 * PBX targets with health state. Health comes from two sources:
 *  - active: an OPTIONS probe per target every `intervalMs` (any response, even 404/405, proves the PBX is alive);
 *  - passive: a request that got no answer within `timeoutMs`, or a transport failure (fast failover).
 * `failuresToDown` consecutive failures mark a target down, `successesToUp` consecutive successes bring it back.
 * Selection: the lowest priority with an up target; round-robin among equals.
 */
import type { SipTransport } from '../core/net.ts';
import type { Target } from '../transport/types.ts';

export interface PbxTargetConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly priority: number;
  readonly tlsServerName?: string | undefined;
  readonly tlsVerify: boolean;
}

export interface ProbeConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failuresToDown: number;
  readonly successesToUp: number;
}

export interface PbxState {
  readonly config: PbxTargetConfig;
  readonly target: Target;
  up: boolean;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastChangeAt: number;
  probesSent: number;
}

export class PbxPool {
  private states: PbxState[];
  private rr = 0;
  probe: ProbeConfig;
  /** Called when a target changes state (for logs and metrics). */
  onChange: ((s: PbxState) => void) | undefined;

  constructor(targets: readonly PbxTargetConfig[], probe: ProbeConfig, listenerId: string, now: number) {
    this.probe = probe;
    this.states = targets.map((c) => makeState(c, listenerId, now));
  }

  /** Replaces the target list on reload, keeping the health of targets that did not change. */
  reconfigure(targets: readonly PbxTargetConfig[], probe: ProbeConfig, listenerId: string, now: number): void {
    const old = new Map(this.states.map((s) => [stateKey(s.config), s]));
    this.states = targets.map((c) => {
      const prev = old.get(stateKey(c));
      if (prev) return { ...prev, config: c, target: makeTarget(c, listenerId) };
      return makeState(c, listenerId, now);
    });
    this.probe = probe;
  }

  all(): readonly PbxState[] {
    return this.states;
  }

  anyUp(): boolean {
    return this.states.some((s) => s.up);
  }

  /** Picks a target, skipping the names in `exclude` (already tried for this request). */
  pick(exclude: ReadonlySet<string> = new Set()): PbxState | undefined {
    let best: number | undefined;
    for (const s of this.states) {
      if (s.up && !exclude.has(s.config.name) && (best === undefined || s.config.priority < best)) best = s.config.priority;
    }
    if (best === undefined) return undefined;
    const candidates = this.states.filter((s) => s.up && !exclude.has(s.config.name) && s.config.priority === best);
    const chosen = candidates[this.rr % candidates.length];
    this.rr = (this.rr + 1) % 1_000_000;
    return chosen;
  }

  /** The state whose address a message from the PBX side came from (undefined: not a configured PBX). */
  findBySource(transport: SipTransport, address: string, port: number): PbxState | undefined {
    // Streams arrive from ephemeral ports: match address only for them; UDP must match address:port too,
    // but PBXs often send from a different port than they listen on, so fall back to the address.
    let byAddress: PbxState | undefined;
    for (const s of this.states) {
      if (s.target.address !== address) continue;
      if (transport === 'udp' && s.target.port === port) return s;
      byAddress ??= s;
    }
    return byAddress;
  }

  findByName(name: string): PbxState | undefined {
    return this.states.find((s) => s.config.name === name);
  }

  reportSuccess(s: PbxState, now: number): void {
    s.consecutiveFailures = 0;
    if (s.up) return;
    s.consecutiveSuccesses++;
    if (s.consecutiveSuccesses >= this.probe.successesToUp) {
      s.up = true;
      s.consecutiveSuccesses = 0;
      s.lastChangeAt = now;
      this.onChange?.(s);
    }
  }

  reportFailure(s: PbxState, now: number): void {
    s.consecutiveSuccesses = 0;
    if (!s.up) return;
    s.consecutiveFailures++;
    if (s.consecutiveFailures >= this.probe.failuresToDown) {
      s.up = false;
      s.consecutiveFailures = 0;
      s.lastChangeAt = now;
      this.onChange?.(s);
    }
  }
}

function stateKey(c: PbxTargetConfig): string {
  return `${c.name}|${c.transport}|${c.host}|${c.port}`;
}

function makeTarget(c: PbxTargetConfig, listenerId: string): Target {
  return {
    transport: c.transport,
    address: c.host,
    port: c.port,
    listenerId,
    tlsServerName: c.transport === 'tls' && c.tlsVerify ? (c.tlsServerName ?? c.host) : undefined,
  };
}

function makeState(c: PbxTargetConfig, listenerId: string, now: number): PbxState {
  // Optimistic start: a target is up until probes or requests prove otherwise, so the first call after
  // start-up does not wait for a probe round.
  return {
    config: c,
    target: makeTarget(c, listenerId),
    up: true,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    lastChangeAt: now,
    probesSent: 0,
  };
}
