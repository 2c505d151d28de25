/** Plain-text result tables for benchmarks: right-aligned numbers, left-aligned text, one header rule. */

export type Cell = string | number;

function render(c: Cell): string {
  if (typeof c === 'string') return c;
  if (!Number.isFinite(c)) return '-';
  return Number.isInteger(c) ? String(c) : c.toFixed(c >= 100 ? 0 : c >= 10 ? 1 : 3);
}

export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const cells = rows.map((r) => r.map(render));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => {
        const w = widths[i] ?? c.length;
        return numeric[i] === true ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
