/**
 * Kernel offload of bans (security.bans.kernel, nftables), with the real nft binary, in a network namespace of
 * the test's own so the host's firewall is never touched: the daemon (the real CLI) runs inside the namespace,
 * a source banned through the admin API has its datagrams dropped by the kernel — the daemon does not even
 * receive them — while other sources are answered; unbanning lets it back in, and stopping the daemon removes
 * Palisade's table. Needs root (CI runs as root) plus `ip` (iproute2) and `nft` (nftables).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { adminRequest } from '../../src/admin/client.ts';
import { spawnTracked, stopTracked, type TrackedChild } from './harness/proc.ts';
import { ROOT } from './helpers/daemon.ts';

const run = promisify(execFile);
const NS = `palisade-kb-${process.pid}`;
const TABLE = 'palisade_kbtest';
const PORT = 25060;
const T = { timeout: 30_000 };

let dir: string;
let daemon: TrackedChild | undefined;
let socketPath: string;

async function inNs(cmd: string, args: string[], input?: string): Promise<string> {
  const p = run('ip', ['netns', 'exec', NS, cmd, ...args], { timeout: 15_000 });
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
}

/** Sends `count` OPTIONS from `src` to Palisade inside the namespace; returns how many answers came back within 1 s. */
async function probe(src: string, count: number): Promise<number> {
  const script = `
    const dgram = require('node:dgram');
    const s = dgram.createSocket('udp4');
    let answers = 0;
    s.on('message', () => answers++);
    s.bind(0, ${JSON.stringify(src)}, () => {
      const port = s.address().port;
      for (let i = 0; i < ${count}; i++) {
        const m = ['OPTIONS sip:127.0.0.1:${PORT} SIP/2.0',
          'Via: SIP/2.0/UDP ${src}:' + port + ';branch=z9hG4bKkb' + i + 'x' + Date.now() + ';rport',
          'Max-Forwards: 70', 'From: <sip:probe@${src}>;tag=t' + i, 'To: <sip:127.0.0.1>',
          'Call-ID: kb-' + i + '-' + Date.now() + '@${src}', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\\r\\n');
        s.send(m, ${PORT}, '127.0.0.1');
      }
      setTimeout(() => { console.log(answers); s.close(); }, 1000);
    });`;
  return Number((await inNs(process.execPath, ['-e', script])).trim());
}

async function status(): Promise<{ counters: Record<string, number> }> {
  const r = await adminRequest(socketPath, 'GET', '/v1/status');
  assert.equal(r.status, 200);
  return r.body as { counters: Record<string, number> };
}

async function nftSet(name: string): Promise<string> {
  return inNs('nft', ['list', 'set', 'inet', TABLE, name]);
}

async function until(what: string, fn: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  await run('ip', ['netns', 'add', NS]);
  await inNs('ip', ['link', 'set', 'lo', 'up']);
  dir = mkdtempSync(join(tmpdir(), 'palisade-kb-'));
  mkdirSync(join(dir, 'data'), { mode: 0o700 });
  socketPath = join(dir, 'data', 'admin.sock');
  writeFileSync(
    join(dir, 'palisade.yaml'),
    `
node: { dataDir: ${join(dir, 'data')} }
listeners:
  - { id: pub, transport: udp, address: 127.0.0.1, port: ${PORT} }
pbx:
  listen: { transport: udp, address: 127.0.0.2, port: 0 }
  targets: [{ name: pbx1, host: 127.0.0.3, port: 5999 }]
admin: { socket: ${socketPath} }
auth: { mode: pbx }
security:
  flood: { enabled: false }
  bans: { kernel: { enabled: true, table: ${TABLE} } }
metrics: { enabled: false }
logging: { level: info }
`,
  );
  daemon = await spawnTracked(
    'ip',
    [
      'netns',
      'exec',
      NS,
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      'start',
      '--config',
      join(dir, 'palisade.yaml'),
    ],
    { cwd: ROOT },
  );
  await until(
    'the daemon',
    async () => {
      try {
        return (await adminRequest(socketPath, 'GET', '/v1/status')).status === 200;
      } catch {
        return false;
      }
    },
    15_000,
  );
});

after(async () => {
  if (daemon) await stopTracked(daemon, [{ signal: 'SIGKILL', waitMs: 2000 }]);
  await run('ip', ['netns', 'del', NS]).catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the daemon creates its own nftables table for the public SIP port', T, async () => {
  const ruleset = await inNs('nft', ['list', 'table', 'inet', TABLE]);
  assert.match(ruleset, /set addr4/);
  assert.match(ruleset, new RegExp(`ip saddr @addr4 udp dport ${PORT} counter packets \\d+ bytes \\d+ drop`));
  assert.equal(await probe('127.0.0.9', 5), 5, 'not banned yet: every OPTIONS is answered');
});

test('a banned source is dropped by the kernel: the daemon never receives its datagrams; others are answered', T, async () => {
  const add = await adminRequest(socketPath, 'POST', '/v1/bans', { target: '127.0.0.9', reason: 'kernel test', for: '1h' });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  await until('the element in the kernel set', async () => /127\.0\.0\.9/.test(await nftSet('addr4')));
  assert.match(await nftSet('addr4'), /127\.0\.0\.9 timeout/);
  const before = (await status()).counters.datagramsIn ?? 0;
  assert.equal(await probe('127.0.0.9', 2000), 0, 'no answers to the banned source');
  const after = (await status()).counters.datagramsIn ?? 0;
  assert.equal(after - before, 0, 'the daemon received none of the 2000 datagrams');
  const chain = await inNs('nft', ['list', 'chain', 'inet', TABLE, 'input']);
  const dropped = Number(/ip saddr @addr4 udp dport \d+ counter packets (\d+)/.exec(chain)?.[1] ?? '0');
  assert.ok(dropped >= 2000, `kernel counter ${dropped}`);
  assert.equal(await probe('127.0.0.10', 5), 5, 'another source is still answered');
  // A range ban goes into the interval set.
  const range = await adminRequest(socketPath, 'POST', '/v1/bans', { target: '127.0.7.0/24', reason: 'range' });
  assert.equal(range.status, 201, JSON.stringify(range.body));
  await until('the range in the kernel', async () => /127\.0\.7\.0\/24/.test(await nftSet('net4')));
  assert.equal(await probe('127.0.7.5', 20), 0);
});

test('unbanning lets the source back in at once', T, async () => {
  const del = await adminRequest(socketPath, 'DELETE', '/v1/bans/127.0.0.9');
  assert.equal(del.status, 200);
  await until('the element gone', async () => !/127\.0\.0\.9/.test(await nftSet('addr4')));
  assert.equal(await probe('127.0.0.9', 5), 5);
});

test('stopping the daemon removes its table', T, async () => {
  assert.ok(daemon);
  await stopTracked(daemon, [
    { signal: 'SIGINT', waitMs: 5000 },
    { signal: 'SIGKILL', waitMs: 2000 },
  ]);
  daemon = undefined;
  const tables = await inNs('nft', ['list', 'tables']);
  assert.doesNotMatch(tables, new RegExp(TABLE));
});
