/**
 * Human-readable rendering of a JSON reply whose shape the CLI does not hard-code (status, reload), as
 * indented `key: value` lines. Bounded in depth and lines: a daemon reply never floods the terminal.
 */
const MAX_DEPTH = 6;
const MAX_LINES = 200;

function scalar(v: unknown): string | undefined {
  if (v === null) return '-';
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    default:
      return undefined;
  }
}

function walk(value: unknown, indent: string, depth: number, out: string[]): void {
  if (out.length >= MAX_LINES) return;
  if (Array.isArray(value)) {
    for (const item of value) {
      const s = scalar(item);
      if (s !== undefined) out.push(`${indent}- ${s}`);
      else if (depth >= MAX_DEPTH) out.push(`${indent}- …`);
      else {
        // YAML-like: the item's first line shares the dash (`- id: udp-0`), the rest align under it.
        const start = out.length;
        walk(item, `${indent}  `, depth + 1, out);
        const first = out[start];
        if (first === undefined) out.push(`${indent}- {}`);
        else out[start] = `${indent}- ${first.slice(indent.length + 2)}`;
      }
      if (out.length >= MAX_LINES) return;
    }
    return;
  }
  if (typeof value !== 'object' || value === null) {
    out.push(`${indent}${scalar(value) ?? ''}`);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (out.length >= MAX_LINES) return;
    const s = scalar(v);
    if (s !== undefined) out.push(`${indent}${k}: ${s}`);
    else if (Array.isArray(v) && v.length === 0) out.push(`${indent}${k}: (none)`);
    else if (Array.isArray(v) && v.every((x) => scalar(x) !== undefined)) out.push(`${indent}${k}: ${v.map(scalar).join(', ')}`);
    else if (depth >= MAX_DEPTH) out.push(`${indent}${k}: …`);
    else {
      out.push(`${indent}${k}:`);
      walk(v, `${indent}  `, depth + 1, out);
    }
  }
}

export function renderHuman(value: unknown): string[] {
  const out: string[] = [];
  walk(value, '', 0, out);
  if (out.length >= MAX_LINES) out.push('… (use --json for the full reply)');
  return out;
}
