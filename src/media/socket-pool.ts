/**
 * Idle bound sockets, kept for the next session instead of closed and bound again.
 *
 * Binding, connecting and closing four UDP sockets per call leg was a third of Palisade's CPU per call. A released
 * leg keeps its sockets bound (disconnected, relay state reset) and waits here:
 *
 * - Quarantine: an entry becomes takeable only `quarantineMs` after it was put back, so late packets of the old
 *   call (and a peer still sending to the port) never reach the next call; they are dropped and counted by the
 *   idle relay meanwhile.
 * - Bounded: at most `limit` entries (the high-water mark, <= `capacity`); put() refuses above it and the caller
 *   closes. The limit can be lowered at run time (out of file descriptors) and raised back up to `capacity`.
 * - Fair: FIFO, so the leg idle the longest goes first. Entries are put with a constant delay, so FIFO is also
 *   the order they become ready; take() looks at the head only (O(1), no allocation).
 */
import type { Clock } from '../core/clock.ts';

export interface IdleSocketPoolOptions {
  clock: Clock;
  quarantineMs: number;
  /** Most entries kept idle (quarantined or ready); >= 0. */
  capacity: number;
}

export class IdleSocketPool<T> {
  readonly capacity: number;
  private readonly clock: Clock;
  private readonly quarantineMs: number;
  private readonly items: Array<T | undefined>;
  private readonly readyAt: Float64Array;
  private head = 0;
  private count = 0;
  private maxEntries: number;

  constructor(opts: IdleSocketPoolOptions) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 0) throw new RangeError('idle capacity must be an integer >= 0');
    this.capacity = opts.capacity;
    this.clock = opts.clock;
    this.quarantineMs = Math.max(0, opts.quarantineMs);
    this.items = new Array<T | undefined>(opts.capacity).fill(undefined);
    this.readyAt = new Float64Array(Math.max(1, opts.capacity));
    this.maxEntries = opts.capacity;
  }

  /** The high-water mark in force (<= capacity). */
  get limit(): number {
    return this.maxEntries;
  }

  /** Lowers (or raises, up to capacity) the high-water mark. Entries above it stay until taken or shed. */
  setLimit(n: number): void {
    this.maxEntries = Math.max(0, Math.min(this.capacity, Math.floor(n)));
  }

  /** Entries held (quarantined or ready). */
  get size(): number {
    return this.count;
  }

  /** Puts back a released entry: takeable after the quarantine. False when full (the caller closes it). */
  put(item: T): boolean {
    return this.insert(item, this.clock.now() + this.quarantineMs);
  }

  /** Adds a fresh entry nothing was ever sent to (pre-bound): takeable at once. False when full. */
  putFresh(item: T): boolean {
    return this.insert(item, this.clock.now());
  }

  /** The entry idle the longest, if its quarantine is over. */
  take(): T | undefined {
    if (this.count === 0) return undefined;
    if ((this.readyAt[this.head] as number) > this.clock.now()) return undefined;
    return this.shed();
  }

  /** How many take() calls would succeed now, counting at most `max`. */
  countReady(max: number): number {
    const now = this.clock.now();
    const n = Math.min(max, this.count);
    let i = 0;
    let at = this.head;
    while (i < n && (this.readyAt[at] as number) <= now) {
      i++;
      at = at + 1 === this.capacity ? 0 : at + 1;
    }
    return i;
  }

  /** Removes the entry idle the longest, quarantined or not (to close it). */
  shed(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.count--;
    return item;
  }

  /** Removes and returns every entry (close()). */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shed(); item !== undefined; item = this.shed()) out.push(item);
    return out;
  }

  private insert(item: T, readyAt: number): boolean {
    if (this.count >= this.maxEntries) return false;
    let tail = this.head + this.count;
    if (tail >= this.capacity) tail -= this.capacity;
    this.items[tail] = item;
    this.readyAt[tail] = readyAt;
    this.count++;
    return true;
  }
}
