/**
 * A Map with a hard entry bound. Inserting past the bound evicts the oldest entry (insertion order,
 * refreshed by `touch`) and counts it, so every collection the network feeds has a ceiling and a
 * visible eviction counter (STYLE habit 7).
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  readonly maxEntries: number;
  evictions = 0;
  private readonly onEvict: ((key: K, value: V) => void) | undefined;

  constructor(maxEntries: number, onEvict?: (key: K, value: V) => void) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.maxEntries = maxEntries;
    this.onEvict = onEvict;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): this {
    if (this.map.has(key)) {
      this.map.set(key, value);
      return this;
    }
    while (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      const v = this.map.get(oldest.value) as V;
      this.map.delete(oldest.value);
      this.evictions++;
      this.onEvict?.(oldest.value, v);
    }
    this.map.set(key, value);
    return this;
  }

  /** Moves the key to the young end so it is evicted last. */
  touch(key: K): void {
    const v = this.map.get(key);
    if (v === undefined && !this.map.has(key)) return;
    this.map.delete(key);
    this.map.set(key, v as V);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}
