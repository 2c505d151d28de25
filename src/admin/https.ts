/**
 * The optional HTTPS admin API (`admin.https`): the same route table as the unix socket, for remote tools.
 * Each request goes through, in order (cheapest first):
 *   1. the per-address rate limit          → 429 + Retry-After
 *   2. `Authorization: Bearer <JWT>`       → 401 + WWW-Authenticate: Bearer (RFC 6750 §3)
 *   3. routing                             → 404 / 405
 *   4. the route's least role              → 403
 * and only then is the body read. The token's `sub` is the audit actor (a client's x-palisade-actor is ignored).
 */

import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import { resolve } from 'node:path';
import { resolveSecret } from '../config/load.ts';
import type { Policy } from '../config/schema.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { PalisadeError } from '../core/errors.ts';
import { type Logger, silentLogger } from '../core/log.ts';
import { parseBearer, type TokenSettings, tokenKeyBytes, verifyAdminToken } from './auth.ts';
import { createAdminRateLimiter } from './rate-limit.ts';
import type { AdminRoute } from './router.ts';
import {
  ADMIN_HEADERS_TIMEOUT_MS,
  ADMIN_KEEP_ALIVE_TIMEOUT_MS,
  ADMIN_MAX_BODY_BYTES,
  ADMIN_MAX_CONNECTIONS,
  ADMIN_REQUEST_TIMEOUT_MS,
  type AdminAdmission,
  type AdminHandlers,
  createAdminRequestHandler,
  createCoreRoutes,
  sendError,
} from './server.ts';

export type AdminHttpsPolicy = NonNullable<Policy['admin']['https']>;

export interface AdminHttpsOptions {
  readonly policyHttps: AdminHttpsPolicy;
  readonly handlers: AdminHandlers;
  /** Extra routes (bans, allow list…) appended after the core ones, as for startAdminServer. */
  readonly routes?: readonly AdminRoute[];
  /** Certificate used when the policy names none (the daemon's generated self-signed one). */
  readonly certPem?: string;
  readonly keyPem?: string;
  /** Directory relative `cert`, `key` and `tokens.key.file` paths are resolved against (the policy file's). */
  readonly baseDir?: string;
  /** Environment for `{ env }` secrets; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
  /** now() for the rate limit, wallNow() for token expiry. */
  readonly clock?: Clock;
  readonly maxBodyBytes?: number;
  readonly requestTimeoutMs?: number;
}

export interface AdminHttpsServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const REALM = 'palisade-admin';

function fail(path: string, message: string): never {
  throw new PalisadeError('CONFIG_INVALID', { path: `admin.https.${path}` }, message);
}

function readPem(file: string, baseDir: string, what: 'cert' | 'key'): string {
  try {
    return readFileSync(resolve(baseDir, file), 'utf8');
  } catch (e) {
    return fail(what, `cannot read ${what} file ${resolve(baseDir, file)} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Certificate, key and token key from the policy; throws PalisadeError CONFIG_INVALID naming the field. */
function loadMaterial(opts: AdminHttpsOptions): { certPem: string; keyPem: string; tokenKey: Uint8Array } {
  const p = opts.policyHttps;
  const baseDir = opts.baseDir ?? process.cwd();
  let certPem: string;
  let keyPem: string;
  if (p.cert !== undefined || p.key !== undefined) {
    if (p.cert === undefined || p.key === undefined) fail(p.cert === undefined ? 'cert' : 'key', 'give cert and key together');
    certPem = readPem(p.cert, baseDir, 'cert');
    keyPem = readPem(p.key, baseDir, 'key');
  } else {
    if (opts.certPem === undefined || opts.keyPem === undefined) fail('cert', 'no certificate configured and none generated');
    certPem = opts.certPem;
    keyPem = opts.keyPem;
  }
  const secret = resolveSecret(p.tokens.key, baseDir, {
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    at: { path: 'admin.https.tokens.key' },
  });
  if (!secret.ok) fail('tokens.key', secret.error.message);
  const key = tokenKeyBytes(secret.value);
  if (!key.ok) fail('tokens.key', key.error.message);
  return { certPem, keyPem, tokenKey: key.value };
}

/** Starts the HTTPS admin API; resolves once listening. Throws CONFIG_INVALID (bad material) or a listen error. */
export async function startAdminHttps(opts: AdminHttpsOptions): Promise<AdminHttpsServer> {
  const log = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const p = opts.policyHttps;
  const { certPem, keyPem, tokenKey } = loadMaterial(opts);
  const settings: TokenSettings = { issuer: p.tokens.issuer, audience: p.tokens.audience };
  const limiter = createAdminRateLimiter(p.rateLimit);
  const routes: readonly AdminRoute[] = [...createCoreRoutes(opts.handlers), ...(opts.routes ?? [])];

  const admit = async (req: IncomingMessage): Promise<AdminAdmission> => {
    const from = req.socket.remoteAddress ?? 'unknown';
    const rate = limiter.take(from, clock.now());
    if (!rate.ok) {
      return {
        ok: false,
        status: 429,
        code: 'ADMIN_RATE_LIMITED',
        message: `more than ${p.rateLimit} requests per minute`,
        headers: { 'retry-after': String(rate.retryAfterSec) },
      };
    }
    const bearer = parseBearer(req.headers.authorization);
    const verified = bearer.ok ? await verifyAdminToken(bearer.value, tokenKey, settings, clock.wallNow()) : bearer;
    if (!verified.ok) {
      // RFC 6750 §3.1: no error attribute when the request carried no token at all.
      const challenge =
        verified.error.code === 'TOKEN_MISSING'
          ? `Bearer realm="${REALM}"`
          : `Bearer realm="${REALM}", error="invalid_token", error_description="${verified.error.message.replace(/"/g, "'")}"`;
      log.info({ from, reason: verified.error.code }, 'admin https: token refused');
      return {
        ok: false,
        status: 401,
        code: 'ADMIN_UNAUTHORIZED',
        message: verified.error.message,
        headers: { 'www-authenticate': challenge },
      };
    }
    return { ok: true, principal: { actor: verified.value.sub, role: verified.value.role } };
  };

  const handle = createAdminRequestHandler({ routes, logger: log, maxBodyBytes: opts.maxBodyBytes ?? ADMIN_MAX_BODY_BYTES, admit });
  const requestTimeout = opts.requestTimeoutMs ?? ADMIN_REQUEST_TIMEOUT_MS;
  const server: Server = createServer(
    {
      cert: certPem,
      key: keyPem,
      minVersion: p.minVersion,
      requestTimeout,
      headersTimeout: Math.min(ADMIN_HEADERS_TIMEOUT_MS, requestTimeout),
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 2))),
    },
    (req, res) => {
      handle(req, res).catch(() => sendError(res, 500, 'INTERNAL', 'internal error'));
    },
  );
  server.keepAliveTimeout = ADMIN_KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = ADMIN_MAX_CONNECTIONS;
  // A failed handshake (old TLS version, port scan) is not an error of ours: count it in the debug log only.
  server.on('tlsClientError', (e: Error) => log.debug({ err: e.message }, 'admin https: TLS handshake failed'));

  await new Promise<void>((resolveListen, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen({ host: p.address, port: p.port }, () => {
      server.off('error', onError);
      server.on('error', (e) => log.error({ err: e.message }, 'admin https server error'));
      resolveListen();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : p.port;
  log.info({ address: p.address, port, minVersion: p.minVersion }, 'admin HTTPS API listening');

  let closing: Promise<void> | undefined;
  return {
    address: p.address,
    port,
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
