import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminRequest } from '../../../src/admin/client.ts';
import { AdminHttpError, reply } from '../../../src/admin/router.ts';
import { type AdminServer, AdminServerError, startAdminServer } from '../../../src/admin/server.ts';
import { isPalisadeError } from '../../../src/core/errors.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-admin-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const sockPath = (): string => join(dir, `a${n++}.sock`);

function errorCode(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const e = (body as { error: unknown }).error;
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** Raw request so we control headers and chunking. */
function rawRequest(
  socketPath: string,
  method: string,
  path: string,
  body: Buffer,
  opts: { chunked?: boolean; contentType?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
    if (!opts.chunked) headers['content-length'] = String(body.length);
    const req = request({ socketPath, method, path, headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()) }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    // The server may answer 413 and close before reading everything: that is expected.
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
    });
    if (opts.chunked) {
      for (let i = 0; i < body.length; i += 4096) req.write(body.subarray(i, i + 4096));
      req.end();
    } else {
      req.end(body);
    }
  });
}

describe('admin server', () => {
  let srv: AdminServer;
  let reloads = 0;
  let path = '';

  before(async () => {
    path = sockPath();
    srv = await startAdminServer({
      socketPath: path,
      handlers: {
        status: () => ({ state: 'running', calls: 3 }),
        reload: async () => {
          reloads++;
          return { ok: true, reloads };
        },
      },
      routes: [
        { method: 'GET', path: '/v1/bans/:ip', handler: (r) => ({ ip: r.params.ip, q: r.query.get('x') }) },
        { method: 'DELETE', path: '/v1/bans/:ip', handler: () => reply(204, null) },
        {
          method: 'POST',
          path: '/v1/echo',
          handler: (r) => {
            if (typeof r.body !== 'object' || r.body === null) throw new AdminHttpError(400, 'ADMIN_BAD_REQUEST', 'need an object');
            return { got: r.body };
          },
        },
        {
          method: 'GET',
          path: '/v1/boom',
          handler: () => {
            throw new Error('secret internals');
          },
        },
      ],
    });
  });
  after(async () => {
    await srv.close();
  });

  it('creates the socket with mode 0600', () => {
    const st = lstatSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('GET /v1/status returns the handler result as JSON', async () => {
    const r = await adminRequest(path, 'GET', '/v1/status');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { state: 'running', calls: 3 });
  });

  it('POST /v1/reload awaits the handler', async () => {
    const r = await adminRequest(path, 'POST', '/v1/reload');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true, reloads: 1 });
    assert.equal(reloads, 1);
  });

  it('answers 404 with a JSON error for an unknown path', async () => {
    const r = await adminRequest(path, 'GET', '/v1/nope');
    assert.equal(r.status, 404);
    assert.equal(errorCode(r.body), 'ADMIN_NOT_FOUND');
  });

  it('answers 405 with Allow for a known path and a wrong method', async () => {
    const r = await rawRequest(path, 'GET', '/v1/reload', Buffer.alloc(0));
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
    assert.equal(errorCode(r.body), 'ADMIN_METHOD_NOT_ALLOWED');
    const p = await adminRequest(path, 'PATCH', '/v1/status');
    assert.equal(p.status, 405);
  });

  it('refuses a body over 16 KiB, declared or streamed, with 413', async () => {
    const big = Buffer.from(JSON.stringify({ pad: 'x'.repeat(20 * 1024) }));
    const a = await rawRequest(path, 'POST', '/v1/echo', big);
    assert.equal(a.status, 413);
    assert.equal(errorCode(a.body), 'ADMIN_BODY_TOO_LARGE');
    const b = await rawRequest(path, 'POST', '/v1/echo', big, { chunked: true });
    assert.equal(b.status, 413);
    // A body just under the limit passes.
    const ok = await adminRequest(path, 'POST', '/v1/echo', { pad: 'y'.repeat(16 * 1024 - 20) });
    assert.equal(ok.status, 200);
  });

  it('answers 400 for invalid JSON and 415 for a non-JSON content type', async () => {
    const a = await rawRequest(path, 'POST', '/v1/echo', Buffer.from('{not json'));
    assert.equal(a.status, 400);
    assert.equal(errorCode(a.body), 'ADMIN_BAD_REQUEST');
    const b = await rawRequest(path, 'POST', '/v1/echo', Buffer.from('a=1'), { contentType: 'text/plain' });
    assert.equal(b.status, 415);
  });

  it('maps AdminHttpError to its status and hides other errors behind 500', async () => {
    const a = await adminRequest(path, 'POST', '/v1/echo', 'string');
    assert.equal(a.status, 400);
    assert.equal(errorCode(a.body), 'ADMIN_BAD_REQUEST');
    const b = await adminRequest(path, 'GET', '/v1/boom');
    assert.equal(b.status, 500);
    assert.equal(errorCode(b.body), 'INTERNAL');
    assert.ok(!JSON.stringify(b.body).includes('secret internals'));
  });

  it('routes pattern params and query, and explicit replies', async () => {
    const a = await adminRequest(path, 'GET', '/v1/bans/2001%3Adb8%3A%3A1?x=y');
    assert.deepEqual(a.body, { ip: '2001:db8::1', q: 'y' });
    const b = await adminRequest(path, 'DELETE', '/v1/bans/192.0.2.1');
    assert.equal(b.status, 204);
  });
});

describe('admin server socket lifecycle', () => {
  const handlers = { status: () => ({ up: true }), reload: () => ({ ok: true }) };

  it('replaces a stale socket left by a killed daemon', async () => {
    const path = sockPath();
    // A child listens on the path and is SIGKILLed: the socket file stays, nobody listens.
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', () => reject(new Error('child exited early')));
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok(lstatSync(path).isSocket());
    await assert.rejects(adminRequest(path, 'GET', '/v1/status'), (e) => isPalisadeError(e) && e.code === 'ADMIN_UNREACHABLE');

    const srv = await startAdminServer({ socketPath: path, handlers });
    try {
      const r = await adminRequest(path, 'GET', '/v1/status');
      assert.deepEqual(r.body, { up: true });
      assert.equal(lstatSync(path).mode & 0o777, 0o600);
    } finally {
      await srv.close();
    }
    assert.equal(existsSync(path), false, 'close removes the socket file');
  });

  it('refuses to start when a live daemon answers on the socket', async () => {
    const path = sockPath();
    const first = await startAdminServer({ socketPath: path, handlers });
    try {
      await assert.rejects(
        startAdminServer({ socketPath: path, handlers }),
        (e) => e instanceof AdminServerError && e.code === 'ADMIN_SOCKET_IN_USE',
      );
      const r = await adminRequest(path, 'GET', '/v1/status');
      assert.equal(r.status, 200, 'the first daemon keeps its socket');
    } finally {
      await first.close();
    }
  });

  it('never deletes a regular file at the socket path', async () => {
    const path = sockPath();
    writeFileSync(path, 'keep me');
    await assert.rejects(
      startAdminServer({ socketPath: path, handlers }),
      (e) => e instanceof AdminServerError && e.code === 'ADMIN_SOCKET_PATH',
    );
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  });

  it('closes a connection that never finishes its request (request timeout)', async () => {
    const path = sockPath();
    const srv = await startAdminServer({ socketPath: path, handlers, requestTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      const got = await new Promise<string>((resolve, reject) => {
        const s = connect(path, () => s.write('GET /v1/status HTTP/1.1\r\nHost: x\r\n'));
        let data = '';
        s.setEncoding('utf8');
        s.on('data', (c: string) => {
          data += c;
        });
        s.on('close', () => resolve(data));
        s.on('error', reject);
        setTimeout(() => {
          s.destroy();
          reject(new Error('server kept the slow connection open'));
        }, 5000).unref();
      });
      assert.match(got, /^HTTP\/1\.1 408/);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await srv.close();
    }
  });

  it('creates a missing parent directory', async () => {
    const path = join(dir, `sub${n++}`, 'x.sock');
    const srv = await startAdminServer({ socketPath: path, handlers });
    try {
      assert.equal((await adminRequest(path, 'GET', '/v1/status')).status, 200);
    } finally {
      await srv.close();
    }
  });
});

describe('admin client', () => {
  it('reports ADMIN_UNREACHABLE for a missing socket', async () => {
    await assert.rejects(
      adminRequest(join(dir, 'missing.sock'), 'GET', '/v1/status'),
      (e) => isPalisadeError(e) && e.code === 'ADMIN_UNREACHABLE' && /not running/.test(e.message),
    );
  });

  it('reports ADMIN_UNREACHABLE on timeout when the daemon never answers', async () => {
    const path = sockPath();
    const held: Socket[] = [];
    const mute = createServer((s) => held.push(s));
    await new Promise<void>((r) => mute.listen(path, r));
    try {
      const t0 = Date.now();
      await assert.rejects(
        adminRequest(path, 'GET', '/v1/status', undefined, { timeoutMs: 200 }),
        (e) => isPalisadeError(e) && e.code === 'ADMIN_UNREACHABLE' && e.details.reason === 'timeout',
      );
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => mute.close(() => r()));
    }
  });
});
