/**
 * Admin API: HTTP/1.1 with JSON bodies on a unix socket. The socket file is created 0600 inside the data
 * directory: file permissions are the authentication (DESIGN: control plane).
 *
 * Start-up: a stale socket file left by a crashed daemon is removed; a socket that still accepts
 * connections belongs to a live daemon, and we refuse to start rather than steal it. Anything at the path
 * that is not a socket is left alone (we never delete a file we did not create).
 */

import { chmodSync } from 'node:fs';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { isPalisadeError } from '../core/errors.ts';
import { type Logger, silentLogger } from '../core/log.ts';
import {
  type AdminErrorCode,
  AdminHttpError,
  type AdminRole,
  type AdminRoute,
  isAdminMethod,
  isAdminReply,
  matchRoute,
  roleAllows,
  routeRole,
} from './router.ts';
import { ACTOR_HEADER } from './routes-security.ts';

export interface AdminHandlers {
  status(): unknown;
  reload(): Promise<unknown> | unknown;
}

export interface AdminServerOptions {
  readonly socketPath: string;
  readonly handlers: AdminHandlers;
  /** Extra routes (bans, allow list, calls) appended after the core ones. */
  readonly routes?: readonly AdminRoute[];
  readonly logger?: Logger;
  /** Defaults: 16 KiB body, 10 s per request. */
  readonly maxBodyBytes?: number;
  readonly requestTimeoutMs?: number;
}

export interface AdminServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Start-up failures, local to this module (src/core/errors.ts has no fitting code). */
export type AdminServerErrorCode = 'ADMIN_SOCKET_IN_USE' | 'ADMIN_SOCKET_PATH';

export class AdminServerError extends Error {
  readonly code: AdminServerErrorCode;
  readonly socketPath: string;

  constructor(code: AdminServerErrorCode, socketPath: string, message: string) {
    super(message);
    this.name = 'AdminServerError';
    this.code = code;
    this.socketPath = socketPath;
  }
}

export const ADMIN_MAX_BODY_BYTES = 16 * 1024;
export const ADMIN_REQUEST_TIMEOUT_MS = 10_000;
export const ADMIN_HEADERS_TIMEOUT_MS = 5_000;
export const ADMIN_KEEP_ALIVE_TIMEOUT_MS = 5_000;
export const ADMIN_MAX_CONNECTIONS = 16;
const PROBE_TIMEOUT_MS = 1_000;
/** sockaddr_un.sun_path is 108 bytes on Linux including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** The routes every daemon serves. */
export function createCoreRoutes(handlers: AdminHandlers): AdminRoute[] {
  return [
    { method: 'GET', path: '/v1/status', handler: () => handlers.status() },
    { method: 'POST', path: '/v1/reload', handler: () => handlers.reload() },
  ];
}

/** True when something accepts connections on the unix socket at `path`. */
function probeSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    // A daemon that accepts but hangs is still alive: treat a probe timeout as live.
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function prepareSocketPath(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new AdminServerError('ADMIN_SOCKET_PATH', path, `admin socket path longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new AdminServerError('ADMIN_SOCKET_PATH', path, 'admin socket path exists and is not a socket');
  }
  if (await probeSocket(path)) {
    throw new AdminServerError('ADMIN_SOCKET_IN_USE', path, 'another daemon answers on the admin socket');
  }
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body === undefined ? null : body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  status: number,
  code: AdminErrorCode,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

type BodyResult = { ok: true; text: string } | { ok: false; status: number; code: AdminErrorCode; message: string };

/** Reads at most `limit` bytes; a larger body (declared or streamed) is refused without buffering it. */
function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      resolve({ ok: false, status: 413, code: 'ADMIN_BODY_TOO_LARGE', message: `body larger than ${limit} bytes` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (c: Buffer) => {
      if (settled) return;
      size += c.length;
      if (size > limit) {
        settled = true;
        resolve({ ok: false, status: 413, code: 'ADMIN_BODY_TOO_LARGE', message: `body larger than ${limit} bytes` });
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', () => {
      if (settled) return;
      settled = true;
      resolve({ ok: false, status: 400, code: 'ADMIN_BAD_REQUEST', message: 'request body aborted' });
    });
  });
}

/** Who is asking, as the HTTPS API's bearer token says (the unix socket has no principal: full access). */
export interface AdminPrincipal {
  /** Audit actor: replaces any client-sent x-palisade-actor header. */
  readonly actor: string;
  readonly role: AdminRole;
}

export type AdminAdmission =
  | { readonly ok: true; readonly principal?: AdminPrincipal }
  | {
      readonly ok: false;
      readonly status: number;
      readonly code: AdminErrorCode;
      readonly message: string;
      readonly headers?: Record<string, string>;
    };

export interface AdminRequestHandlerOptions {
  /** The whole route table (core routes included). */
  readonly routes: readonly AdminRoute[];
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /**
   * Runs before routing and before any body byte is read (HTTPS: rate limit, then bearer token). A refusal
   * is sent as is and the connection closed. Absent (unix socket): full access.
   */
  readonly admit?: (req: IncomingMessage) => AdminAdmission | Promise<AdminAdmission>;
}

/** The request handling shared by the unix-socket server and the HTTPS server. */
export function createAdminRequestHandler(opts: AdminRequestHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { routes, maxBodyBytes: maxBody, admit } = opts;
  const log = opts.logger;
  return async (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      req.resume();
      sendError(res, 400, 'ADMIN_BAD_REQUEST', 'malformed request target');
      return;
    }
    let principal: AdminPrincipal | undefined;
    if (admit !== undefined) {
      const a = await admit(req);
      if (!a.ok) {
        // Close rather than drain: an unauthenticated body is not worth reading.
        sendError(res, a.status, a.code, a.message, { ...a.headers, connection: 'close' });
        return;
      }
      principal = a.principal;
    }
    const method = req.method ?? '';
    const match = matchRoute(routes, method, url.pathname);
    if (match.kind === 'not-found') {
      req.resume();
      sendError(res, 404, 'ADMIN_NOT_FOUND', `no route ${url.pathname}`);
      return;
    }
    if (match.kind === 'method-not-allowed' || !isAdminMethod(method)) {
      req.resume();
      const allow = match.kind === 'method-not-allowed' ? match.allow.join(', ') : '';
      sendError(res, 405, 'ADMIN_METHOD_NOT_ALLOWED', `method ${method} not allowed on ${url.pathname}`, { allow });
      return;
    }
    if (principal !== undefined && !roleAllows(principal.role, routeRole(match.route))) {
      sendError(res, 403, 'ADMIN_FORBIDDEN', `role ${principal.role} may not ${method} ${match.route.path}`, { connection: 'close' });
      return;
    }
    const bodyRead = await readBody(req, maxBody);
    if (!bodyRead.ok) {
      // Close after answering: the rest of an oversize body is not worth reading.
      sendError(res, bodyRead.status, bodyRead.code, bodyRead.message, { connection: 'close' });
      return;
    }
    let body: unknown;
    if (bodyRead.text.trim() !== '') {
      const ct = req.headers['content-type'] ?? 'application/json';
      if (!/^application\/json\b/i.test(ct)) {
        sendError(res, 415, 'ADMIN_UNSUPPORTED_MEDIA_TYPE', 'body must be application/json');
        return;
      }
      try {
        body = JSON.parse(bodyRead.text) as unknown;
      } catch {
        sendError(res, 400, 'ADMIN_BAD_REQUEST', 'body is not valid JSON');
        return;
      }
    }
    try {
      const result = await match.route.handler({
        method,
        path: url.pathname,
        params: match.params,
        query: url.searchParams,
        body,
        headers: principal === undefined ? req.headers : { ...req.headers, [ACTOR_HEADER]: principal.actor },
      });
      if (isAdminReply(result)) sendJson(res, result.status, result.body);
      else sendJson(res, 200, result);
    } catch (e) {
      if (e instanceof AdminHttpError) {
        sendError(res, e.status, e.code, e.message);
      } else if (isPalisadeError(e) && e.code === 'ADMIN_BAD_REQUEST') {
        sendError(res, 400, 'ADMIN_BAD_REQUEST', e.message);
      } else {
        log.error({ err: e instanceof Error ? e.message : String(e), route: match.route.path }, 'admin handler failed');
        sendError(res, 500, 'INTERNAL', 'internal error');
      }
    }
  };
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const log = opts.logger ?? silentLogger;
  const maxBody = opts.maxBodyBytes ?? ADMIN_MAX_BODY_BYTES;
  const routes: readonly AdminRoute[] = [...createCoreRoutes(opts.handlers), ...(opts.routes ?? [])];
  const socketPath = opts.socketPath;

  await prepareSocketPath(socketPath);

  const handle = createAdminRequestHandler({ routes, logger: log, maxBodyBytes: maxBody });

  const requestTimeout = opts.requestTimeoutMs ?? ADMIN_REQUEST_TIMEOUT_MS;
  const server = createServer(
    {
      requestTimeout,
      headersTimeout: Math.min(ADMIN_HEADERS_TIMEOUT_MS, requestTimeout),
      // Node checks these timeouts on this interval (default 30 s): keep it well under the timeout itself.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 2))),
    },
    (req, res) => {
      handle(req, res).catch(() => sendError(res, 500, 'INTERNAL', 'internal error'));
    },
  );
  server.keepAliveTimeout = ADMIN_KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = ADMIN_MAX_CONNECTIONS;

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    // bind(2) happens synchronously inside listen(): the umask makes the socket 0600 from its first
    // instant, so no other local user can connect in a window before the chmod below.
    const previous = process.umask(0o177);
    try {
      server.listen({ path: socketPath }, () => {
        server.off('error', onError);
        server.on('error', (e) => log.error({ err: e.message }, 'admin server error'));
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
  chmodSync(socketPath, 0o600);
  const { ino } = await lstat(socketPath);
  log.info({ socket: socketPath }, 'admin API listening');

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        // Remove our socket file, but only if it is still ours (not one a newer daemon created).
        try {
          const st = await lstat(socketPath);
          if (st.ino === ino) await unlink(socketPath);
        } catch {
          // already gone
        }
      })();
      return closing;
    },
  };
}
