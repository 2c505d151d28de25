#!/usr/bin/env node
// `npm test`: typecheck, lint (biome), unit + property tests, then integration tests (real sockets and real peers,
// one file at a time). Missing Debian test tools are installed when running as root, otherwise one clear line says
// what to install.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

function files(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

if (run('bash', ['scripts/install-test-tools.sh']) !== 0) process.exit(1);

if (run('node_modules/.bin/tsc', ['--noEmit', '-p', 'tsconfig.json']) !== 0) {
  console.error('npm test: typecheck failed');
  process.exit(1);
}

if (run('node_modules/.bin/biome', ['check', 'src', 'test', 'bench', 'scripts']) !== 0) {
  console.error('npm test: lint failed (npx biome check --write src test bench scripts fixes formatting)');
  process.exit(1);
}

const only = process.argv.slice(2);
const unit = [...files('test/unit'), ...files('test/property')];
const integration = files('test/integration');
const selected = (list) => (only.length ? list.filter((f) => only.some((o) => f.includes(o))) : list);

const base = ['--import', 'tsx', '--test', '--test-reporter=spec'];
let failed = 0;
const u = selected(unit);
if (u.length) failed += run(process.execPath, [...base, '--test-concurrency=2', ...u]) !== 0 ? 1 : 0;
const i = selected(integration);
if (i.length) failed += run(process.execPath, [...base, '--test-concurrency=1', ...i]) !== 0 ? 1 : 0;
process.exit(failed ? 1 : 0);
