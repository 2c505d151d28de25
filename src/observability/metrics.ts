/**
 * Prometheus metrics on a private prom-client Registry (never the global one, so tests and embedders can
 * run several instances side by side).
 *
 * Naming: `palisade_<area>_<name>_<unit>`; counters end in `_total`, dimensionless gauges end in what they
 * count (`_active`, `_up`). Labels come from small fixed sets only: never an IP, a user or a Call-ID.
 * Labels whose values come from code or config (stage, PBX target) are still capped at
 * MAX_DYNAMIC_LABEL_VALUES distinct values; the excess folds into `other`.
 *
 * Hot-path modules keep plain numeric counters and expose them through `addSampled` or `onCollect`,
 * which are read only at scrape time (STYLE habit 8).
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ErrorCode } from '../core/errors.ts';
import type { SipTransport } from '../core/net.ts';

export const SIP_METHOD_LABELS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'REGISTER',
  'OPTIONS',
  'INFO',
  'MESSAGE',
  'SUBSCRIBE',
  'NOTIFY',
  'REFER',
  'UPDATE',
  'PRACK',
  'PUBLISH',
  'other',
] as const;
export type SipMethodLabel = (typeof SIP_METHOD_LABELS)[number];

export type Direction = 'in' | 'out';
/** public: the internet-facing listeners; pbx: the PBX-facing listener. */
export type Side = 'public' | 'pbx';
export type MessageKind = 'request' | 'response';
export type TransactionType = 'invite_client' | 'invite_server' | 'noninvite_client' | 'noninvite_server';
export type PipelineVerdictLabel = 'continue' | 'reply' | 'drop' | 'challenge';
export type ReloadResult = 'ok' | 'error';

export const TRANSACTION_TYPES: readonly TransactionType[] = ['invite_client', 'invite_server', 'noninvite_client', 'noninvite_server'];

/** Cap on distinct values of a label that is not a closed union (stage names, PBX target names). */
export const MAX_DYNAMIC_LABEL_VALUES = 64;

export interface SipMessageLabels {
  /** Any method string, as parsed from the wire: unknown ones count as `other`. */
  readonly method: string;
  readonly direction: Direction;
  readonly transport: SipTransport;
  readonly side: Side;
  readonly kind: MessageKind;
}

export interface SampledValue {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric whose value is read from another module at scrape time. */
export interface SampledMetric {
  /** Must match `palisade_<area>_<name>…`; counters must end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  /** Bounded label names; omit for an unlabelled metric. */
  readonly labelNames?: readonly string[];
  /** Called at scrape time. A number is the unlabelled value; a list gives one value per label set. */
  read(): number | readonly SampledValue[];
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  countSipMessage(labels: SipMessageLabels): void;
  countSipParseError(code: ErrorCode): void;
  countTransaction(type: TransactionType): void;
  setTransactionsActive(type: TransactionType, n: number): void;
  setDialogsActive(n: number): void;
  setRegistrationsActive(n: number): void;
  countPipelineVerdict(stage: string, verdict: PipelineVerdictLabel): void;
  setPbxUp(target: string, up: boolean): void;
  countPolicyReload(result: ReloadResult): void;
  /** Runs `fn` before every scrape (to copy plain counters into gauges). Returns an unregister function. */
  onCollect(fn: () => void): () => void;
  /** Registers a metric read from `read()` at scrape time. Throws on a bad name (a programming error). */
  addSampled(metric: SampledMetric): void;
  /** Runs the collect callbacks, then renders the exposition text. */
  scrape(): Promise<string>;
}

const METRIC_NAME = /^palisade_[a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9]$/;
const LABEL_VALUE_OTHER = 'other';

const METHOD_SET: ReadonlySet<string> = new Set(SIP_METHOD_LABELS);

/** Folds a wire method to its label: the fixed list above, anything else (case-sensitive, RFC 3261 §7.1) → other. */
export function methodLabel(method: string): SipMethodLabel {
  return METHOD_SET.has(method) ? (method as SipMethodLabel) : 'other';
}

/** Keeps at most `max` distinct values; later new values map to `other`. */
function createLabelCap(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return LABEL_VALUE_OTHER;
    seen.add(value);
    return value;
  };
}

export function isMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

const METHOD_INDEX: ReadonlyMap<string, number> = new Map(SIP_METHOD_LABELS.map((m, i) => [m, i]));
const METHOD_OTHER_INDEX = SIP_METHOD_LABELS.length - 1;
const DIRECTIONS: readonly Direction[] = ['in', 'out'];
const SIDES: readonly Side[] = ['public', 'pbx'];
const KINDS: readonly MessageKind[] = ['request', 'response'];
const TRANSPORT_INDEX: Readonly<Record<SipTransport, number>> = { udp: 0, tcp: 1, tls: 2, ws: 3, wss: 4 };
const TRANSPORTS: readonly SipTransport[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
const SIP_MESSAGE_CELLS = SIP_METHOD_LABELS.length * 2 * TRANSPORTS.length * 2 * 2;

const VERDICTS: readonly PipelineVerdictLabel[] = ['continue', 'reply', 'drop', 'challenge'];
const VERDICT_INDEX: Readonly<Record<PipelineVerdictLabel, number>> = { continue: 0, reply: 1, drop: 2, challenge: 3 };

/** Flat index of a label combination: method, direction, transport, side, kind (row-major). */
function sipMessageCell(l: SipMessageLabels): number {
  const m = METHOD_INDEX.get(l.method) ?? METHOD_OTHER_INDEX;
  const d = l.direction === 'in' ? 0 : 1;
  const s = l.side === 'public' ? 0 : 1;
  const k = l.kind === 'request' ? 0 : 1;
  return (((m * 2 + d) * TRANSPORTS.length + TRANSPORT_INDEX[l.transport]) * 2 + s) * 2 + k;
}

function sipMessageLabels(cell: number): Record<string, string> {
  let i = cell;
  const k = i % 2;
  i = (i - k) / 2;
  const s = i % 2;
  i = (i - s) / 2;
  const t = i % TRANSPORTS.length;
  i = (i - t) / TRANSPORTS.length;
  const d = i % 2;
  const m = (i - d) / 2;
  return {
    method: SIP_METHOD_LABELS[m] as string,
    direction: DIRECTIONS[d] as string,
    transport: TRANSPORTS[t] as string,
    side: SIDES[s] as string,
    kind: KINDS[k] as string,
  };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Default process/Node.js metrics; prom-client's own names follow the prefix (palisade_process_process_cpu_…,
  // palisade_process_nodejs_eventloop_lag_…): the prefix marks them as the daemon's process area.
  collectDefaultMetrics({ register: registry, prefix: 'palisade_process_' });

  // Per-message counters are plain numbers (STYLE habit 8): a label-hashing inc() per SIP message costs
  // ~0.4 µs, an array increment a few ns. They are copied into prom-client only at scrape time.
  const sipCells = new Float64Array(SIP_MESSAGE_CELLS);
  new Counter({
    name: 'palisade_sip_messages_total',
    help: 'SIP messages received (in) and sent (out)',
    labelNames: ['method', 'direction', 'transport', 'side', 'kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (let i = 0; i < SIP_MESSAGE_CELLS; i++) {
        const v = sipCells[i] as number;
        if (v > 0) this.inc(sipMessageLabels(i), v);
      }
    },
  });
  const parseErrorCounts = new Map<ErrorCode, number>();
  new Counter({
    name: 'palisade_sip_parse_errors_total',
    help: 'SIP messages rejected by the parser, by error code',
    labelNames: ['code'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, v] of parseErrorCounts) this.inc({ code }, v);
    },
  });
  const transactions = new Counter({
    name: 'palisade_proxy_transactions_total',
    help: 'SIP transactions created',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const transactionsActive = new Gauge({
    name: 'palisade_proxy_transactions_active',
    help: 'SIP transactions currently alive',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const dialogsActive = new Gauge({
    name: 'palisade_proxy_dialogs_active',
    help: 'Dialogs currently tracked',
    registers: [registry],
  });
  const registrationsActive = new Gauge({
    name: 'palisade_registrar_registrations_active',
    help: 'Registration bindings currently held',
    registers: [registry],
  });
  /** stage (capped) → counts indexed like VERDICTS. */
  const verdictCounts = new Map<string, Float64Array>();
  new Counter({
    name: 'palisade_pipeline_verdicts_total',
    help: 'Pipeline stage verdicts',
    labelNames: ['stage', 'verdict'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [stage, counts] of verdictCounts) {
        for (let i = 0; i < VERDICTS.length; i++) {
          const v = counts[i] as number;
          if (v > 0) this.inc({ stage, verdict: VERDICTS[i] as PipelineVerdictLabel }, v);
        }
      }
    },
  });
  const pbxUp = new Gauge({
    name: 'palisade_pbx_up',
    help: '1 when the PBX target answers health probes, else 0',
    labelNames: ['target'] as const,
    registers: [registry],
  });
  const policyReloads = new Counter({
    name: 'palisade_policy_reloads_total',
    help: 'Policy reload attempts by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // Zero-initialise the closed label sets so dashboards see series before the first event.
  for (const t of TRANSACTION_TYPES) {
    transactions.inc({ type: t }, 0);
    transactionsActive.set({ type: t }, 0);
  }
  dialogsActive.set(0);
  registrationsActive.set(0);
  policyReloads.inc({ result: 'ok' }, 0);
  policyReloads.inc({ result: 'error' }, 0);

  const capStage = createLabelCap(MAX_DYNAMIC_LABEL_VALUES);
  const capTarget = createLabelCap(MAX_DYNAMIC_LABEL_VALUES);
  const collectors = new Set<() => void>();

  return {
    registry,
    contentType: registry.contentType,
    countSipMessage(l) {
      const cell = sipMessageCell(l);
      sipCells[cell] = (sipCells[cell] as number) + 1;
    },
    countSipParseError(code) {
      parseErrorCounts.set(code, (parseErrorCounts.get(code) ?? 0) + 1);
    },
    countTransaction(type) {
      transactions.inc({ type });
    },
    setTransactionsActive(type, n) {
      transactionsActive.set({ type }, n);
    },
    setDialogsActive(n) {
      dialogsActive.set(n);
    },
    setRegistrationsActive(n) {
      registrationsActive.set(n);
    },
    countPipelineVerdict(stage, verdict) {
      let counts = verdictCounts.get(stage);
      if (counts === undefined) {
        const label = capStage(stage);
        counts = verdictCounts.get(label) ?? new Float64Array(VERDICTS.length);
        verdictCounts.set(label, counts);
      }
      const vi = VERDICT_INDEX[verdict];
      counts[vi] = (counts[vi] as number) + 1;
    },
    setPbxUp(target, up) {
      pbxUp.set({ target: capTarget(target) }, up ? 1 : 0);
    },
    countPolicyReload(result) {
      policyReloads.inc({ result });
    },
    onCollect(fn) {
      collectors.add(fn);
      return () => {
        collectors.delete(fn);
      };
    },
    addSampled(m) {
      if (!isMetricName(m.name)) throw new RangeError(`metric name ${m.name} does not follow palisade_<area>_<name>`);
      if (m.type === 'counter' && !m.name.endsWith('_total')) throw new RangeError(`counter ${m.name} must end in _total`);
      const labelNames = [...(m.labelNames ?? [])];
      const apply = (metric: Counter | Gauge): void => {
        const v = m.read();
        metric.reset();
        if (typeof v === 'number') {
          write(metric, {}, v);
          return;
        }
        for (const s of v) write(metric, s.labels, s.value);
      };
      if (m.type === 'counter') {
        new Counter({
          name: m.name,
          help: m.help,
          labelNames,
          registers: [registry],
          collect() {
            apply(this);
          },
        });
      } else {
        new Gauge({
          name: m.name,
          help: m.help,
          labelNames,
          registers: [registry],
          collect() {
            apply(this);
          },
        });
      }
    },
    async scrape() {
      for (const fn of collectors) {
        try {
          fn();
        } catch {
          // A faulty collector must not break the scrape of everything else.
        }
      }
      return registry.metrics();
    },
  };
}

function write(metric: Counter | Gauge, labels: Readonly<Record<string, string>>, value: number): void {
  if (!Number.isFinite(value)) return;
  if (metric instanceof Counter) {
    // A counter read from elsewhere is absolute: reset() then inc(value) reproduces it.
    if (value >= 0) metric.inc(labels, value);
    return;
  }
  metric.set(labels, value);
}

export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from './metrics-server.ts';

/**
 * Exposes a record of plain counters kept by another module (`{ banned: 3, flood: 10 }`) as one metric with one
 * label, read at scrape time. The record's keys must be a small fixed set (they become label values).
 */
export function addCounterRecord(
  metrics: Metrics,
  name: string,
  help: string,
  label: string,
  read: () => Readonly<Record<string, number>>,
  type: 'counter' | 'gauge' = 'counter',
): void {
  metrics.addSampled({
    name,
    help,
    type,
    labelNames: [label],
    read: () => Object.entries(read()).map(([k, value]) => ({ labels: { [label]: k }, value })),
  });
}
