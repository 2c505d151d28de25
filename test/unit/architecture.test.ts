/**
 * DESIGN.md "Layout": imports flow downward — core ← codecs (sip, sdp) ← decisions ← proxy ← main — and the media
 * path is a leaf. This test reads every source file's imports and fails on a broken rule or a runtime import cycle.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(new URL('../../src', import.meta.url).pathname);

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

interface Edge {
  readonly to: string;
  readonly typeOnly: boolean;
}

/** Relative imports of one file (src-relative paths), with whether they are type-only. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const edges: Edge[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const spec = m[3] as string;
    edges.push({ to: relative(SRC, resolve(dirname(file), spec)), typeOnly: m[2] !== undefined });
  }
  const sideEffect = /^\s*import\s+'(\.[^']+)'/gm;
  for (let m = sideEffect.exec(text); m !== null; m = sideEffect.exec(text))
    edges.push({ to: relative(SRC, resolve(dirname(file), m[1] as string)), typeOnly: false });
  return edges;
}

const graph = new Map<string, Edge[]>();
for (const f of files(SRC)) graph.set(relative(SRC, f), importsOf(f));

const area = (p: string): string => p.split('/')[0] ?? p;

function violations(from: (p: string) => boolean, allowed: (to: string) => boolean): string[] {
  const bad: string[] = [];
  for (const [f, edges] of graph) {
    if (!from(f)) continue;
    for (const e of edges) if (!allowed(e.to)) bad.push(`${f} → ${e.to}`);
  }
  return bad;
}

test('the import reader sees the project (a guard against a reader that finds nothing and passes everything)', () => {
  assert.ok(graph.size > 80, `${graph.size} files`);
  const edges = [...graph.values()].reduce((n, e) => n + e.length, 0);
  assert.ok(edges > 300, `${edges} imports`);
  assert.ok(
    graph.get('main.ts')?.some((e) => e.to === 'proxy/b2bua.ts' && !e.typeOnly),
    'main.ts imports the proxy core',
  );
  assert.ok(
    graph.get('proxy/b2bua.ts')?.some((e) => e.to === 'sip/types.ts' && e.typeOnly),
    'type-only imports are recognised',
  );
});

test('every relative import resolves to a source file', () => {
  const missing: string[] = [];
  for (const [f, edges] of graph) for (const e of edges) if (!graph.has(e.to)) missing.push(`${f} → ${e.to}`);
  assert.deepEqual(missing, []);
});

test('core imports nothing else from src', () => {
  assert.deepEqual(
    violations(
      (f) => area(f) === 'core',
      (to) => area(to) === 'core',
    ),
    [],
  );
});

test('the codecs (sip, sdp) import only core and themselves', () => {
  assert.deepEqual(
    violations(
      (f) => area(f) === 'sip',
      (to) => ['core', 'sip'].includes(area(to)),
    ),
    [],
  );
  assert.deepEqual(
    violations(
      (f) => area(f) === 'sdp',
      (to) => ['core', 'sdp'].includes(area(to)),
    ),
    [],
  );
});

test('the media path is a leaf: media imports only core and media', () => {
  assert.deepEqual(
    violations(
      (f) => area(f) === 'media',
      (to) => ['core', 'media'].includes(area(to)),
    ),
    [],
  );
});

test('nothing but main.ts and src/daemon imports the composition root, and nothing below the proxy imports it', () => {
  assert.deepEqual(
    violations(
      (f) => f !== 'main.ts' && area(f) !== 'cli',
      (to) => to !== 'main.ts',
    ),
    [],
  );
  const below = ['core', 'sip', 'sdp', 'config', 'pipeline', 'security', 'auth', 'policy', 'media', 'transport', 'observability'];
  assert.deepEqual(
    violations(
      (f) => below.includes(area(f)),
      (to) => area(to) !== 'proxy' && area(to) !== 'daemon',
    ),
    [],
  );
});

test('there is no runtime import cycle between files', () => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]): void => {
    state.set(f, 'visiting');
    for (const e of graph.get(f) ?? []) {
      if (e.typeOnly || !graph.has(e.to)) continue;
      const s = state.get(e.to);
      if (s === 'visiting') cycles.push([...stack.slice(stack.indexOf(e.to)), e.to].join(' → '));
      else if (s === undefined) visit(e.to, [...stack, e.to]);
    }
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, [f]);
  assert.deepEqual(cycles, []);
});
