/**
 * Client for the admin API on its unix socket (used by the `palisade` CLI and the Docker health check).
 * A missing socket, a refused connection or a daemon that does not answer in time all surface as
 * PalisadeError('ADMIN_UNREACHABLE'): the one thing a caller needs to know is "the daemon is not there".
 */
import { request } from 'node:http';
import { PalisadeError } from '../core/errors.ts';

export interface AdminResponse {
  readonly status: number;
  /** Parsed JSON, or the raw text when the daemon did not send JSON. */
  readonly body: unknown;
}

export interface AdminRequestOptions {
  /** Whole exchange, connect to last byte. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Extra request headers (for example `x-palisade-actor`); they cannot replace host, accept or the body headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

export const ADMIN_CLIENT_TIMEOUT_MS = 5_000;
/** Replies larger than this are cut off (bans and calls lists are paginated well below it). */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

function describe(errno: string, socketPath: string): string {
  switch (errno) {
    case 'ENOENT':
    case 'ENOTDIR':
      return `daemon not running (no admin socket at ${socketPath})`;
    case 'ECONNREFUSED':
      return `daemon not running (nothing listening on ${socketPath})`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on admin socket ${socketPath} (run as the daemon's user)`;
    default:
      return `admin socket ${socketPath} unreachable: ${errno}`;
  }
}

export function adminRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  opts: AdminRequestOptions = {},
): Promise<AdminResponse> {
  const timeoutMs = opts.timeoutMs ?? ADMIN_CLIENT_TIMEOUT_MS;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { ...opts.headers, host: 'localhost', accept: 'application/json' };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: PalisadeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new PalisadeError('ADMIN_UNREACHABLE', { socketPath, reason: 'timeout', timeoutMs }, 'admin API did not answer in time')),
      timeoutMs,
    );
    const req = request({ socketPath, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail(new PalisadeError('ADMIN_BAD_REQUEST', { socketPath, reason: 'response too large' }, 'admin reply too large'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text === '' ? null : (JSON.parse(text) as unknown);
        } catch {
          // keep the raw text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', (e: NodeJS.ErrnoException) =>
        fail(new PalisadeError('ADMIN_UNREACHABLE', { socketPath, reason: e.code ?? e.message }, 'admin connection failed')),
      );
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const errno = e.code ?? '';
      fail(new PalisadeError('ADMIN_UNREACHABLE', { socketPath, reason: errno || e.message }, describe(errno || e.message, socketPath)));
    });
    req.end(payload);
  });
}
