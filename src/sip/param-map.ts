/**
 * A small insertion-ordered ReadonlyMap over a flat array ([k0, v0, k1, v1, …]). Header and URI parameters
 * number a handful per element, so a linear scan beats hashing, and creating one costs one array instead of a
 * Map's hash table: this is on the parse path of every Via, From, To and URI.
 */
export class ParamMap<V> implements ReadonlyMap<string, V> {
  private readonly kv: (string | V)[];

  constructor() {
    this.kv = [];
  }

  /** Adds a parameter unless the name is already present (the first occurrence wins). */
  add(key: string, value: V): void {
    if (!this.has(key)) this.kv.push(key, value);
  }

  get size(): number {
    return this.kv.length >> 1;
  }

  get(key: string): V | undefined {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === key) return kv[i + 1] as V;
    return undefined;
  }

  has(key: string): boolean {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === key) return true;
    return false;
  }

  forEach(cb: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) cb.call(thisArg, kv[i + 1] as V, kv[i] as string, this);
  }

  *entries(): MapIterator<[string, V]> {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) yield [kv[i] as string, kv[i + 1] as V];
  }

  *keys(): MapIterator<string> {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) yield kv[i] as string;
  }

  *values(): MapIterator<V> {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) yield kv[i + 1] as V;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}
