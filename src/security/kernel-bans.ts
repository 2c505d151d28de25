/**
 * Kernel offload of bans (optional, Linux nftables): banned sources are dropped by the kernel before a socket
 * sees them, so a flood from a banned address costs the daemon nothing at all (the gate's own check stays, for
 * whatever reaches it before the kernel knows and when nft is unavailable).
 *
 * Palisade owns one table (`inet <table>`, default `palisade`) and nothing else in the ruleset:
 *
 *   table inet palisade {
 *     set addr4 { type ipv4_addr; flags timeout; }              single IPv4 bans
 *     set net4  { type ipv4_addr; flags interval, timeout; }    IPv4 range bans
 *     set addr6 / net6                                          the same for IPv6 (IPv6 sources are banned per /64)
 *     chain input { type filter hook input priority -10; policy accept;
 *       ip saddr @addr4 udp dport { SIP ports } counter drop  … (tcp too; net4, addr6, net6)
 *     }
 *   }
 *
 * Only the public SIP listener ports are closed to a banned source (a banned phone keeps SSH, DNS, …); the table
 * is created afresh at start (existing bans re-added from the ban manager) and deleted at stop. Elements carry a
 * kernel timeout a minute past the ban's expiry as a safety net, but the daemon removes them itself when a ban
 * ends. Changes are queued and applied in batches (one `nft -f -` at a time, at most every 20 ms); a failed batch
 * is retried command by command so one bad element (overlapping ranges) does not hold back the others.
 */
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';

export interface KernelBansOptions {
  /** The nft binary. */
  readonly nft: string;
  /** Table name (family inet). */
  readonly table: string;
  /** Public listener ports per L4 protocol (UDP: udp listeners; TCP: tcp, tls, ws, wss). */
  readonly udpPorts: readonly number[];
  readonly tcpPorts: readonly number[];
  readonly logger: Logger;
  /** Wall-clock ms, for the kernel timeout of an element. */
  readonly wallNow: () => number;
  /** Queued additions beyond this are dropped and counted (the gate still enforces them); removals never are. Default 10 000. */
  readonly maxQueue?: number;
  /** Runs nft with a script on stdin (tests may wrap it, e.g. `ip netns exec`). */
  readonly run?: (script: string) => Promise<{ code: number; stderr: string }>;
}

export interface KernelBansStats {
  added: number;
  removed: number;
  batches: number;
  errors: number;
  dropped: number;
  queued: number;
}

export interface KernelBans {
  /** Bans `target` (address or CIDR) in the kernel until `expiresAt` (wall ms; null: until removed). */
  add(target: string, expiresAt: number | null): void;
  remove(target: string): void;
  /** Resolves when every change queued so far has been applied (or has failed). */
  settle(): Promise<void>;
  stats(): KernelBansStats;
  /** Applies what is queued, then deletes the table. */
  close(): Promise<void>;
}

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const BATCH_DELAY_MS = 20;
const NFT_TIMEOUT_MS = 5000;
/** Kernel timeout slack past the ban's own expiry. */
const TIMEOUT_SLACK_S = 60;

type SetName = 'addr4' | 'net4' | 'addr6' | 'net6';

/** Which set a ban target belongs in, and its canonical element text; undefined for anything else. */
export function elementFor(target: string): { set: SetName; element: string } | undefined {
  const slash = target.indexOf('/');
  let addr = (slash < 0 ? target : target.slice(0, slash)).toLowerCase();
  // An IPv4-mapped ban is an IPv4 ban on the wire (the kernel sees IPv4 headers).
  if (addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4) {
    addr = addr.slice(7);
    if (slash >= 0) {
      const bits = Number(target.slice(slash + 1)) - 96;
      return bits >= 0 && bits <= 32 ? elementFor(`${addr}/${bits}`) : undefined;
    }
  }
  const v = isIP(addr);
  if (v === 0) return undefined;
  if (slash >= 0) {
    const bits = Number(target.slice(slash + 1));
    if (!Number.isInteger(bits) || bits < 0 || bits > (v === 4 ? 32 : 128)) return undefined;
    if (bits === (v === 4 ? 32 : 128)) return { set: v === 4 ? 'addr4' : 'addr6', element: addr };
    return { set: v === 4 ? 'net4' : 'net6', element: `${addr}/${bits}` };
  }
  return { set: v === 4 ? 'addr4' : 'addr6', element: addr };
}

function portSet(ports: readonly number[]): string {
  return `{ ${[...new Set(ports)].sort((a, b) => a - b).join(', ')} }`;
}

/** The ruleset script that (re)creates Palisade's table. Exported for tests. */
export function tableScript(table: string, udpPorts: readonly number[], tcpPorts: readonly number[]): string {
  const lines = [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '  set addr4 { type ipv4_addr; flags timeout; }',
    '  set net4 { type ipv4_addr; flags interval, timeout; }',
    '  set addr6 { type ipv6_addr; flags timeout; }',
    '  set net6 { type ipv6_addr; flags interval, timeout; }',
    '  chain input {',
    '    type filter hook input priority -10; policy accept;',
  ];
  for (const [proto, ports] of [
    ['udp', udpPorts],
    ['tcp', tcpPorts],
  ] as const) {
    if (ports.length === 0) continue;
    for (const [fam, sets] of [
      ['ip', ['addr4', 'net4']],
      ['ip6', ['addr6', 'net6']],
    ] as const) {
      for (const s of sets) lines.push(`    ${fam} saddr @${s} ${proto} dport ${portSet(ports)} counter drop`);
    }
  }
  lines.push('  }', '}');
  return `${lines.join('\n')}\n`;
}

function defaultRun(nft: string): (script: string) => Promise<{ code: number; stderr: string }> {
  return (script) =>
    new Promise((resolve) => {
      let stderr = '';
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(nft, ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      } catch (e) {
        resolve({ code: -1, stderr: e instanceof Error ? e.message : String(e) });
        return;
      }
      child.stderr?.on('data', (c: Buffer) => {
        if (stderr.length < 4096) stderr += c.toString('utf8');
      });
      // A hung nft must not hold bans (or the daemon's stop) forever.
      const timer = setTimeout(() => child.kill('SIGKILL'), NFT_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ code: -1, stderr: e.message });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stderr });
      });
      child.stdin?.on('error', () => {});
      child.stdin?.end(script);
    });
}

/** Creates Palisade's table; an error (no nft, no privilege) means kernel offload is off and the gate alone enforces. */
export async function openKernelBans(o: KernelBansOptions): Promise<Result<KernelBans, string>> {
  if (!TABLE_NAME.test(o.table)) return err(`bad nftables table name ${JSON.stringify(o.table)}`);
  const ports = [...o.udpPorts, ...o.tcpPorts];
  if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) return err('no listener ports to protect');
  const run = o.run ?? defaultRun(o.nft);
  const created = await run(tableScript(o.table, o.udpPorts, o.tcpPorts));
  if (created.code !== 0) return err(`nft failed (${created.code}): ${created.stderr.trim().split('\n')[0] ?? ''}`);

  const maxQueue = o.maxQueue ?? 10_000;
  const st: KernelBansStats = { added: 0, removed: 0, batches: 0, errors: 0, dropped: 0, queued: 0 };
  /** Elements in the kernel now (`set element`): deleting an absent element would fail the whole batch. */
  const present = new Set<string>();
  /** Wanted changes in order; turned into nft commands only when a batch starts, against what is present then. */
  let queue: Array<{ add: boolean; set: SetName; element: string; timeout: string }> = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;

  const enqueue = (c: { add: boolean; set: SetName; element: string; timeout: string }): void => {
    if (closed) return;
    // Only adds are shed: a dropped removal would leave the kernel blocking (a permanent ban: until stop) an address
    // the gate has freed. Removals follow bans the ban store holds, so they are bounded there.
    if (c.add && queue.length >= maxQueue) {
      st.dropped++;
      return;
    }
    queue.push(c);
    st.queued = queue.length;
    timer ??= setTimeout(kick, BATCH_DELAY_MS);
  };

  type Cmd = { cmd: string; key: string; add: boolean };
  const record = (b: Cmd): void => {
    if (b.add) {
      present.add(b.key);
      st.added++;
    } else {
      present.delete(b.key);
      st.removed++;
    }
  };

  const apply = async (batch: Cmd[]): Promise<void> => {
    if (batch.length === 0) return;
    st.batches++;
    const r = await run(`${batch.map((b) => b.cmd).join('\n')}\n`);
    if (r.code === 0) {
      for (const b of batch) record(b);
      return;
    }
    // One bad command fails the whole (transactional) batch: apply one by one.
    for (const b of batch) {
      const one = await run(`${b.cmd}\n`);
      if (one.code === 0) record(b);
      else {
        st.errors++;
        o.logger.warn({ reason: one.stderr.trim().split('\n')[0] ?? '' }, 'kernel ban change refused (the gate still enforces it)');
      }
    }
  };

  /** The wanted changes as commands, given what is present (an element is replaced by delete + add). */
  const plan = (changes: typeof queue): Cmd[] => {
    // What this batch changes, over what is present (no copy of the whole set per batch: it may hold every ban).
    const overlay = new Map<string, boolean>();
    const isIn = (key: string): boolean => overlay.get(key) ?? present.has(key);
    const out: Cmd[] = [];
    for (const c of changes) {
      const key = `${c.set} ${c.element}`;
      if (isIn(key)) {
        out.push({ cmd: `delete element inet ${o.table} ${c.set} { ${c.element} }`, key, add: false });
        overlay.set(key, false);
      }
      if (c.add) {
        out.push({ cmd: `add element inet ${o.table} ${c.set} { ${c.element}${c.timeout} }`, key, add: true });
        overlay.set(key, true);
      }
    }
    return out;
  };

  function kick(): void {
    timer = undefined;
    if (running || queue.length === 0) return;
    const changes = queue;
    queue = [];
    st.queued = 0;
    running = apply(plan(changes)).finally(() => {
      running = undefined;
      if (queue.length > 0) timer ??= setTimeout(kick, BATCH_DELAY_MS);
    });
  }

  const settle = async (): Promise<void> => {
    for (let i = 0; i < 1000 && (running || queue.length > 0); i++) {
      if (!running) {
        if (timer) clearTimeout(timer);
        timer = undefined;
        kick();
      }
      await running;
    }
  };

  return ok({
    add(target, expiresAt) {
      const e = elementFor(target);
      if (!e) return;
      const timeout = expiresAt === null ? '' : ` timeout ${Math.max(1, Math.ceil((expiresAt - o.wallNow()) / 1000) + TIMEOUT_SLACK_S)}s`;
      enqueue({ add: true, set: e.set, element: e.element, timeout });
    },
    remove(target) {
      const e = elementFor(target);
      if (e) enqueue({ add: false, set: e.set, element: e.element, timeout: '' });
    },
    settle,
    stats: () => ({ ...st }),
    async close(): Promise<void> {
      if (closed) return;
      await settle();
      closed = true;
      if (timer) clearTimeout(timer);
      const r = await run(`delete table inet ${o.table}\n`);
      if (r.code !== 0) o.logger.warn({ reason: r.stderr.trim() }, 'could not delete the nftables table');
    },
  });
}
