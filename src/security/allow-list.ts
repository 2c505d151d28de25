/**
 * The live allow list: sources that are never banned (they are still rate limited). Two parts:
 *  - the policy's `security.bans.allow` CIDRs, replaced on every reload;
 *  - runtime entries added with `palisade allow add`, persisted in the data directory (allow.json, written
 *    atomically, mode 0600) so they survive restarts. A corrupt file is set aside and reported, never fatal.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { err, ok, type Result } from '../core/result.ts';
import { type AddressSet, CidrSet, parseCidr } from './cidr.ts';

export interface AllowEntry {
  readonly cidr: string;
  readonly origin: 'policy' | 'runtime';
  /** Wall-clock ms; runtime entries only. */
  readonly addedAt?: number;
  readonly by?: string;
}

export const MAX_RUNTIME_ALLOW = 1024;
const FILE = 'allow.json';

export class AllowList implements AddressSet {
  private policy: CidrSet;
  private policyCidrs: readonly string[];
  private runtime: AllowEntry[] = [];
  private runtimeSet: CidrSet = new CidrSet([]);
  private readonly path: string | undefined;

  constructor(policyCidrs: readonly string[], dataDir?: string) {
    this.policyCidrs = [...policyCidrs];
    this.policy = new CidrSet(policyCidrs);
    this.path = dataDir ? join(dataDir, FILE) : undefined;
  }

  has(address: string): boolean {
    return this.policy.has(address) || this.runtimeSet.has(address);
  }

  setPolicy(cidrs: readonly string[]): void {
    this.policyCidrs = [...cidrs];
    this.policy = new CidrSet(cidrs);
  }

  list(): AllowEntry[] {
    return [...this.policyCidrs.map((cidr): AllowEntry => ({ cidr, origin: 'policy' })), ...this.runtime];
  }

  add(cidr: string, by: string, now: number): Result<AllowEntry, { code: 'ALLOW_BAD_CIDR' | 'ALLOW_FULL' }> {
    if (!parseCidr(cidr)) return err({ code: 'ALLOW_BAD_CIDR' });
    const existing = this.runtime.find((e) => e.cidr === cidr);
    if (existing) return ok(existing);
    if (this.runtime.length >= MAX_RUNTIME_ALLOW) return err({ code: 'ALLOW_FULL' });
    const entry: AllowEntry = { cidr, origin: 'runtime', addedAt: now, by };
    this.runtime.push(entry);
    this.rebuild();
    this.save();
    return ok(entry);
  }

  remove(cidr: string): boolean {
    const before = this.runtime.length;
    this.runtime = this.runtime.filter((e) => e.cidr !== cidr);
    if (this.runtime.length === before) return false;
    this.rebuild();
    this.save();
    return true;
  }

  /** Loads runtime entries; returns a problem description instead of throwing (the file is then set aside). */
  load(now: number): string | undefined {
    if (!this.path || !existsSync(this.path)) return undefined;
    try {
      const data: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
      if (!Array.isArray(data)) throw new Error('not a list');
      const out: AllowEntry[] = [];
      for (const e of data.slice(0, MAX_RUNTIME_ALLOW) as unknown[]) {
        if (typeof e !== 'object' || e === null) continue;
        const r = e as Record<string, unknown>;
        if (typeof r.cidr !== 'string' || !parseCidr(r.cidr)) continue;
        out.push({
          cidr: r.cidr,
          origin: 'runtime',
          addedAt: typeof r.addedAt === 'number' ? r.addedAt : now,
          by: typeof r.by === 'string' ? r.by : 'unknown',
        });
      }
      this.runtime = out;
      this.rebuild();
      return undefined;
    } catch (e) {
      const aside = `${this.path}.corrupt-${now}`;
      try {
        renameSync(this.path, aside);
      } catch {
        // Unreadable and unmovable: start empty, the message says so.
      }
      return `allow list ${this.path} is unreadable (${e instanceof Error ? e.message : 'error'}); moved to ${aside}`;
    }
  }

  private rebuild(): void {
    this.runtimeSet = new CidrSet(this.runtime.map((e) => e.cidr));
  }

  private save(): void {
    if (!this.path) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(this.runtime, null, 1));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
