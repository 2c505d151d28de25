/**
 * Maps a data path (as zod reports it) back to the YAML node it came from, so every config error names
 * FILE:LINE:COLUMN. Positions are 1-based, as editors show them.
 */
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type Pair } from 'yaml';

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

interface Walk {
  /** Deepest node reached along the path (the document's root when nothing matched). */
  readonly node: Node | null;
  /** The mapping pair whose value is `node`, when the last step went through a mapping. */
  readonly pair: Pair | undefined;
  /** True when every path segment was found in the document. */
  readonly complete: boolean;
}

function keyText(pair: Pair): string | undefined {
  const k = pair.key;
  if (isScalar(k)) return String(k.value);
  if (k === null || k === undefined) return undefined;
  return typeof k === 'object' ? undefined : String(k);
}

function deref(doc: Document, node: unknown): Node | null {
  if (isAlias(node)) {
    const target = node.resolve(doc);
    return target ?? null;
  }
  return (node as Node | null | undefined) ?? null;
}

function walk(doc: Document, path: readonly PropertyKey[]): Walk {
  let node: Node | null = deref(doc, doc.contents);
  let pair: Pair | undefined;
  for (const seg of path) {
    if (isMap(node) && typeof seg !== 'symbol') {
      const want = String(seg);
      const found = node.items.find((p) => isPair(p) && keyText(p) === want);
      if (!found) return { node, pair, complete: false };
      pair = found;
      const value = deref(doc, found.value);
      if (value === null) return { node: null, pair, complete: true };
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = deref(doc, node.items[seg]);
      if (item === null) return { node, pair, complete: false };
      pair = undefined;
      node = item;
    } else {
      return { node, pair, complete: false };
    }
  }
  return { node, pair, complete: true };
}

/** Locates nodes by data path in one parsed document. */
export class SourceLocator {
  private readonly doc: Document;
  private readonly lines: LineCounter;

  constructor(doc: Document, lines: LineCounter) {
    this.doc = doc;
    this.lines = lines;
  }

  at(offset: number): SourcePosition {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  private ofNode(node: Node | null | undefined): SourcePosition | undefined {
    const start = node?.range?.[0];
    return start === undefined ? undefined : this.at(start);
  }

  private ofPairKey(pair: Pair | undefined): SourcePosition | undefined {
    const k = pair?.key;
    return isScalar(k) || isMap(k) || isSeq(k) ? this.ofNode(k) : undefined;
  }

  /** True when the path exists in the document (as opposed to being filled in by a default). */
  has(path: readonly PropertyKey[]): boolean {
    return walk(this.doc, path).complete;
  }

  /**
   * Where the value at `path` is written. An empty value (`key:` with nothing after it) points at its key;
   * a path that does not exist points at the deepest mapping or list that does (the parent of a missing key).
   */
  value(path: readonly PropertyKey[]): SourcePosition {
    const w = walk(this.doc, path);
    if (w.complete) {
      const emptyScalar = w.node === null || (isScalar(w.node) && w.node.value === null && w.node.source === '');
      const pos = emptyScalar ? this.ofPairKey(w.pair) : this.ofNode(w.node);
      if (pos) return pos;
    }
    return this.ofNode(w.node) ?? this.ofPairKey(w.pair) ?? { line: 1, column: 1 };
  }

  /** Where the key `path[last]` itself is written (for unknown keys); falls back to the value position. */
  key(path: readonly PropertyKey[]): SourcePosition {
    const w = walk(this.doc, path);
    if (w.complete) {
      const pos = this.ofPairKey(w.pair);
      if (pos) return pos;
    }
    return this.value(path);
  }

  /** A short, value-free description of what is written at `path` (never echoes the value: it may be a secret). */
  describe(path: readonly PropertyKey[]): string {
    const w = walk(this.doc, path);
    if (!w.complete || w.node === null) return 'nothing';
    if (isMap(w.node)) return 'a mapping';
    if (isSeq(w.node)) return 'a list';
    if (isScalar(w.node)) {
      const v = w.node.value;
      if (v === null) return w.node.source === '' ? 'an empty value' : 'null';
      if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
      if (typeof v === 'boolean') return 'a boolean';
      if (typeof v === 'string') return 'a string';
    }
    return 'a value of another type';
  }
}
