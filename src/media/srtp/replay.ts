/**
 * Packet index estimation (RFC 3711 §3.3.1, Appendix A) and the replay list (§3.3.2).
 */

/** Largest replay window accepted: half the sequence space, so index estimation stays unambiguous. */
export const MAX_REPLAY_WINDOW = 32768;
/** RFC 3711 §3.3.2: the window size MUST be at least 64. */
export const MIN_REPLAY_WINDOW = 64;

/**
 * Appendix A: the rollover counter value v the sender most likely used for `seq`, given the highest
 * sequence number seen `sl` and the current rollover counter `roc`. May return roc - 1 (a late packet from
 * before the last wrap) or roc + 1 (the first packets after a wrap).
 */
export function guessRoc(roc: number, sl: number, seq: number): number {
  if (sl < 32768) return seq - sl > 32768 ? roc - 1 : roc;
  return sl - 32768 > seq ? roc + 1 : roc;
}

/**
 * Sliding window over packet indices: `highest` is the largest authenticated index; indices in
 * (highest - size, highest] are remembered in a ring bitmap. Indices go up to 2^48 and stay exact as
 * doubles.
 */
export class ReplayWindow {
  readonly size: number;
  private readonly ringBits: number;
  private readonly bits: Uint32Array;
  /** Largest accepted index, or -1 before the first. */
  highest = -1;

  constructor(size: number) {
    this.size = size;
    let ring = 32;
    while (ring < size) ring *= 2;
    this.ringBits = ring;
    this.bits = new Uint32Array(ring >>> 5);
  }

  /** True when `index` is new: ahead of the window, or inside it and not yet seen. */
  check(index: number): boolean {
    if (index > this.highest) return true;
    if (this.highest - index >= this.size) return false;
    const pos = index % this.ringBits;
    return ((this.bits[pos >>> 5] as number) & (1 << (pos & 31))) === 0;
  }

  /** Records `index` as received; call only after it authenticated and passed `check`. */
  accept(index: number): void {
    const bits = this.bits;
    if (index > this.highest) {
      const delta = this.highest < 0 ? this.ringBits : index - this.highest;
      if (delta >= this.ringBits) {
        bits.fill(0);
      } else {
        // Forget the ring slots the window slides over.
        for (let k = this.highest + 1; k < index; k++) {
          const p = k % this.ringBits;
          bits[p >>> 5] = (bits[p >>> 5] as number) & ~(1 << (p & 31));
        }
      }
      this.highest = index;
    }
    const pos = index % this.ringBits;
    bits[pos >>> 5] = (bits[pos >>> 5] as number) | (1 << (pos & 31));
  }
}
