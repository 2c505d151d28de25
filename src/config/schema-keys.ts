/**
 * Key names the policy schema accepts, read from its JSON Schema form so this never drifts from schema.ts.
 * Used for "did you mean" hints on unknown keys and by the test that checks config/README.md documents every key.
 */
import { z } from 'zod';
import { policySchema } from './schema.ts';

interface JsonSchemaNode {
  readonly properties?: Readonly<Record<string, JsonSchemaNode>>;
  readonly items?: JsonSchemaNode;
  readonly anyOf?: readonly JsonSchemaNode[];
  readonly oneOf?: readonly JsonSchemaNode[];
}

let cachedRoot: JsonSchemaNode | undefined;

function root(): JsonSchemaNode {
  // `io: 'input'` describes what an operator writes (defaults make keys optional, not absent).
  cachedRoot ??= z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  return cachedRoot;
}

function alternatives(node: JsonSchemaNode): readonly JsonSchemaNode[] {
  return [node, ...(node.anyOf ?? []), ...(node.oneOf ?? [])];
}

/** The keys allowed in the mapping at `path` (zod issue path form), or [] when that path is not a mapping. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let nodes: readonly JsonSchemaNode[] = [root()];
  for (const seg of path) {
    const next: JsonSchemaNode[] = [];
    for (const n of nodes.flatMap(alternatives)) {
      if (typeof seg === 'number') {
        if (n.items) next.push(n.items);
      } else {
        const child = n.properties?.[String(seg)];
        if (child) next.push(child);
      }
    }
    nodes = next;
  }
  const keys = new Set<string>();
  for (const n of nodes.flatMap(alternatives)) for (const k of Object.keys(n.properties ?? {})) keys.add(k);
  return [...keys];
}

/** Every key path the schema accepts, as `listeners[].tls.minVersion`; secrets list `.file` and `.env`. */
export function listSchemaKeyPaths(): string[] {
  const out = new Set<string>();
  const walk = (node: JsonSchemaNode, prefix: string): void => {
    for (const alt of alternatives(node)) {
      for (const [k, child] of Object.entries(alt.properties ?? {})) {
        const p = prefix === '' ? k : `${prefix}.${k}`;
        out.add(p);
        walk(child, p);
      }
      if (alt.items) walk(alt.items, `${prefix}[]`);
    }
  };
  walk(root(), '');
  return [...out];
}

/** Levenshtein distance, small inputs only (key names). */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? Math.max(a.length, b.length);
}

/** The closest allowed key to a misspelt one, if it is close enough to be a plausible typo. */
export function suggestKey(unknown: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of allowed) {
    const d = distance(unknown, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best === undefined) return undefined;
  return bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}
