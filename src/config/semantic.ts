/**
 * Cross-field rules the schema cannot express key by key. Pure: takes a parsed policy, returns problems with
 * the data path to blame; the loader turns the paths into line:column.
 */
import type { Policy, TlsConfig } from './schema.ts';

export interface SemanticProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

type SocketKind = 'udp' | 'tcp';

function socketKind(t: string): SocketKind {
  return t === 'udp' ? 'udp' : 'tcp';
}

/** Wildcard binds overlap every address of the same family. */
function addressesOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const v6 = (s: string): boolean => s.includes(':');
  if (a === '0.0.0.0' || b === '0.0.0.0') return !v6(a) && !v6(b);
  // `::` usually binds dual-stack, so it also overlaps IPv4 binds.
  return a === '::' || b === '::';
}

function checkTls(tls: TlsConfig | undefined, at: readonly (string | number)[], out: SemanticProblem[]): void {
  if (!tls) return;
  if (tls.cert !== undefined && tls.key === undefined) out.push({ path: [...at, 'cert'], message: 'cert is set but key is not' });
  if (tls.key !== undefined && tls.cert === undefined) out.push({ path: [...at, 'key'], message: 'key is set but cert is not' });
  if (tls.keyPassphrase !== undefined && tls.key === undefined)
    out.push({ path: [...at, 'keyPassphrase'], message: 'keyPassphrase is set but key is not' });
  if (tls.clientCert !== 'none' && tls.ca === undefined)
    out.push({ path: [...at, 'clientCert'], message: `clientCert "${tls.clientCert}" needs a ca bundle to verify against` });
}

interface Bind {
  readonly kind: SocketKind;
  readonly address: string;
  readonly port: number;
  readonly path: readonly (string | number)[];
  readonly label: string;
}

export function checkPolicySemantics(p: Policy): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const binds: Bind[] = [];
  const ids = new Map<string, number>();

  p.listeners.forEach((l, i) => {
    const at = ['listeners', i] as const;
    const id = l.id ?? `${l.transport}-${l.port}`;
    const prev = ids.get(id);
    if (prev !== undefined)
      out.push({
        path: l.id === undefined ? [...at] : [...at, 'id'],
        message: `listener id "${id}" is already used by listeners[${prev}]; give each listener a distinct id`,
      });
    else ids.set(id, i);

    const secure = l.transport === 'tls' || l.transport === 'wss';
    if (l.tls && !secure) out.push({ path: [...at, 'tls'], message: `tls settings do not apply to a ${l.transport} listener` });
    checkTls(l.tls, [...at, 'tls'], out);
    const web = l.transport === 'ws' || l.transport === 'wss';
    if (l.ws && !web) out.push({ path: [...at, 'ws'], message: `ws settings do not apply to a ${l.transport} listener` });
    if (l.advertisePort !== undefined && l.advertise === undefined)
      out.push({ path: [...at, 'advertisePort'], message: 'advertisePort is set but advertise is not' });
    binds.push({ kind: socketKind(l.transport), address: l.address, port: l.port, path: [...at, 'port'], label: `listeners[${i}]` });
  });

  const pl = p.pbx.listen;
  if (pl.tls && pl.transport !== 'tls')
    out.push({ path: ['pbx', 'listen', 'tls'], message: `tls settings do not apply to a ${pl.transport} listener` });
  checkTls(pl.tls, ['pbx', 'listen', 'tls'], out);
  binds.push({ kind: socketKind(pl.transport), address: pl.address, port: pl.port, path: ['pbx', 'listen', 'port'], label: 'pbx.listen' });
  if (p.metrics.enabled)
    binds.push({ kind: 'tcp', address: p.metrics.address, port: p.metrics.port, path: ['metrics', 'port'], label: 'metrics' });

  // Port 0 asks the OS for a free port, so it never conflicts (tests rely on this).
  for (let i = 0; i < binds.length; i++) {
    const b = binds[i];
    if (!b || b.port === 0) continue;
    for (let j = 0; j < i; j++) {
      const a = binds[j];
      if (!a || a.kind !== b.kind || a.port !== b.port || !addressesOverlap(a.address, b.address)) continue;
      out.push({ path: b.path, message: `${b.kind.toUpperCase()} port ${b.port} is already used by ${a.label}` });
      break;
    }
  }

  const names = new Map<string, number>();
  p.pbx.targets.forEach((t, i) => {
    const prev = names.get(t.name);
    if (prev !== undefined)
      out.push({ path: ['pbx', 'targets', i, 'name'], message: `target name "${t.name}" is already used by pbx.targets[${prev}]` });
    else names.set(t.name, i);
    if (t.tlsServerName !== undefined && t.transport !== 'tls')
      out.push({ path: ['pbx', 'targets', i, 'tlsServerName'], message: `tlsServerName does not apply to a ${t.transport} target` });
  });

  if (p.pbx.probe.timeoutMs > p.pbx.probe.intervalMs)
    out.push({ path: ['pbx', 'probe', 'timeoutMs'], message: 'timeoutMs must not exceed intervalMs' });
  if (p.registrar.minExpires > p.registrar.maxExpires)
    out.push({ path: ['registrar', 'minExpires'], message: 'minExpires must not exceed maxExpires' });
  // RFC 3261 §17.1.2.2: T2 caps the retransmit interval that starts at T1.
  if (p.timers.t1Ms > p.timers.t2Ms) out.push({ path: ['timers', 't1Ms'], message: 't1Ms must not exceed t2Ms' });
  return out;
}
