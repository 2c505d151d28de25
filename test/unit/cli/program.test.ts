import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AdminServer, startAdminServer } from '../../../src/admin/server.ts';
import { adminSocketPath } from '../../../src/admin/socket-path.ts';
import { DEFAULT_CONFIG_PATH, type StartDaemon } from '../../../src/cli/context.ts';
import { runCli } from '../../../src/cli/program.ts';
import { renderHuman } from '../../../src/cli/render.ts';
import { PalisadeError } from '../../../src/core/errors.ts';
import { capture } from './helpers.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-cli-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writePolicy(name: string, socket: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    [
      'node:',
      `  dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'admin:',
      `  socket: ${JSON.stringify(socket)}`,
      'listeners:',
      '  - transport: udp',
      '    port: 5060',
      'pbx:',
      '  targets:',
      '    - name: pbx1',
      '      host: 127.0.0.1',
      '',
    ].join('\n'),
  );
  return file;
}

describe('admin socket path', () => {
  it('joins a relative socket to dataDir and keeps an absolute one', () => {
    assert.equal(
      adminSocketPath({ node: { dataDir: '/var/lib/palisade' }, admin: { socket: 'palisade.sock' } }),
      '/var/lib/palisade/palisade.sock',
    );
    assert.equal(adminSocketPath({ node: { dataDir: '/var/lib/palisade' }, admin: { socket: '/run/p.sock' } }), '/run/p.sock');
  });
});

describe('renderHuman', () => {
  it('renders nested objects and arrays as indented lines', () => {
    assert.deepEqual(renderHuman({ state: 'running', pbx: [{ name: 'a', up: true }, {}], ports: [5060, 5061], bans: [], x: null }), [
      'state: running',
      'pbx:',
      '  - name: a',
      '    up: true',
      '  - {}',
      'ports: 5060, 5061',
      'bans: (none)',
      'x: -',
    ]);
  });

  it('bounds the output', () => {
    const big = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    const lines = renderHuman(big);
    assert.ok(lines.length <= 201);
    assert.match(lines.at(-1) ?? '', /--json/);
  });
});

describe('runCli', () => {
  it('prints the version and help with exit 0, usage errors with exit 2', async () => {
    const v = capture();
    assert.equal(await runCli(['--version'], v.ctx), 0);
    assert.match(v.out(), /^\d+\.\d+\.\d+\n$/);
    const h = capture();
    assert.equal(await runCli(['--help'], h.ctx), 0);
    assert.match(h.out(), /status/);
    const u = capture();
    assert.equal(await runCli(['frobnicate'], u.ctx), 2);
    assert.match(u.err(), /unknown command/);
    const m = capture();
    assert.equal(await runCli(['policy', 'check'], m.ctx), 2);
    const none = capture();
    assert.equal(await runCli([], none.ctx), 2);
  });

  it('start calls startDaemon with the flag, then $PALISADE_CONFIG, then the default config path', async () => {
    const calls: string[] = [];
    const fake: StartDaemon = async (o) => {
      calls.push(o.configPath);
      return { stop: async () => {} };
    };
    const saved = process.env.PALISADE_CONFIG;
    try {
      delete process.env.PALISADE_CONFIG;
      assert.equal(await runCli(['start'], capture(fake).ctx), 0);
      assert.equal(await runCli(['start', '--config', '/etc/p.yaml'], capture(fake).ctx), 0);
      process.env.PALISADE_CONFIG = '/from/env.yaml';
      assert.equal(await runCli(['start'], capture(fake).ctx), 0);
      assert.equal(await runCli(['start', '-c', '/flag/wins.yaml'], capture(fake).ctx), 0);
    } finally {
      if (saved === undefined) delete process.env.PALISADE_CONFIG;
      else process.env.PALISADE_CONFIG = saved;
    }
    assert.deepEqual(calls, [DEFAULT_CONFIG_PATH, '/etc/p.yaml', '/from/env.yaml', '/flag/wins.yaml']);
    assert.match(DEFAULT_CONFIG_PATH, /config\/palisade\.yaml$/);
  });

  it('start returns only when the daemon has stopped', async () => {
    let finish: () => void = () => {};
    const stopped = new Promise<void>((r) => {
      finish = r;
    });
    let done = false;
    const run = runCli(['start'], capture(async () => ({ stop: async () => {}, stopped })).ctx).then((c) => {
      done = true;
      return c;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    finish();
    assert.equal(await run, 0);
  });

  it('start exits 2 on an invalid policy and 1 on other failures', async () => {
    const invalid = capture(async () => {
      throw new PalisadeError('CONFIG_INVALID', { lines: ['p.yaml:3:5 pbx: required'] }, 'policy invalid');
    });
    assert.equal(await runCli(['start'], invalid.ctx), 2);
    assert.match(invalid.err(), /^palisade: cannot start \(CONFIG_INVALID\):\np\.yaml:3:5 pbx: required\n$/);
    const broken = capture(async () => {
      throw new Error('EADDRINUSE');
    });
    assert.equal(await runCli(['start'], broken.ctx), 1);
    assert.match(broken.err(), /cannot start: EADDRINUSE/);
  });

  it('status and reload talk to a running admin server found through the policy', async () => {
    const policy = writePolicy('ok.yaml', 'admin.sock');
    let reloadOk = true;
    const srv: AdminServer = await startAdminServer({
      socketPath: join(dir, 'data', 'admin.sock'),
      handlers: {
        status: () => ({ state: 'running', listeners: 4 }),
        reload: () => (reloadOk ? { ok: true, version: 2 } : { ok: false, lines: ['p.yaml:1:1 bad'] }),
      },
    });
    try {
      const s = capture();
      assert.equal(await runCli(['status', '--config', policy], s.ctx), 0);
      assert.equal(s.out(), 'state: running\nlisteners: 4\n');
      const j = capture();
      assert.equal(await runCli(['status', '--socket', srv.socketPath, '--json'], j.ctx), 0);
      assert.deepEqual(JSON.parse(j.out()), { state: 'running', listeners: 4 });
      const r = capture();
      assert.equal(await runCli(['reload', '-c', policy], r.ctx), 0);
      assert.match(r.out(), /^reload: ok\n/);
      reloadOk = false;
      const bad = capture();
      assert.equal(await runCli(['reload', '-c', policy], bad.ctx), 2);
      assert.equal(bad.err(), 'reload: policy invalid, running policy kept\np.yaml:1:1 bad\n');
    } finally {
      await srv.close();
    }
  });

  it('status exits 1 with one line when no daemon runs, 2 when the policy cannot be read', async () => {
    const policy = writePolicy('nodaemon.yaml', 'none.sock');
    const s = capture();
    assert.equal(await runCli(['status', '-c', policy], s.ctx), 1);
    assert.equal(s.out(), '');
    assert.equal(s.err().split('\n').filter(Boolean).length, 1);
    assert.match(s.err(), /not running/);
    const missing = capture();
    assert.equal(await runCli(['status', '-c', join(dir, 'absent.yaml')], missing.ctx), 2);
  });
});
