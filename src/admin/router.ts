/**
 * The admin API route table. A route is a method, a path pattern (`/v1/bans/:ip`) and a handler; later
 * features (bans, allow list, calls) add rows without touching the server.
 */

export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export const ADMIN_METHODS: readonly AdminMethod[] = ['GET', 'POST', 'PUT', 'DELETE'];

export function isAdminMethod(s: string): s is AdminMethod {
  return (ADMIN_METHODS as readonly string[]).includes(s);
}

export interface AdminRequest {
  readonly method: AdminMethod;
  /** Path without the query string, for example `/v1/bans/192.0.2.1`. */
  readonly path: string;
  /** Values of `:name` segments, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Parsed JSON body; undefined when the request had none. Validate it: it is untrusted input. */
  readonly body: unknown;
  /** Request headers (lower-case names), e.g. `x-palisade-actor` for the audit log. Untrusted. */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
}

/** A handler may return a plain value (sent as 200 JSON) or an explicit reply. */
export interface AdminReply {
  readonly status: number;
  readonly body: unknown;
}

export type AdminHandler = (req: AdminRequest) => unknown;

/**
 * Who may call a route on the HTTPS admin API (the unix socket keeps full access: file permissions are its auth).
 * viewer: read-only; operator: bans, allow list, reload; admin: everything (user management to come).
 */
export type AdminRole = 'viewer' | 'operator' | 'admin';

export const ADMIN_ROLES: readonly AdminRole[] = ['viewer', 'operator', 'admin'];

export function isAdminRole(s: unknown): s is AdminRole {
  return typeof s === 'string' && (ADMIN_ROLES as readonly string[]).includes(s);
}

export interface AdminRoute {
  readonly method: AdminMethod;
  readonly path: string;
  readonly handler: AdminHandler;
  /** Least role allowed to call this route; default viewer for GET, operator otherwise (see `routeRole`). */
  readonly role?: AdminRole;
}

/** The least role a route needs: its own `role`, else viewer for GET and operator for changes. */
export function routeRole(route: AdminRoute): AdminRole {
  return route.role ?? (route.method === 'GET' ? 'viewer' : 'operator');
}

/** True when `have` is at least `need` (viewer < operator < admin). */
export function roleAllows(have: AdminRole, need: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(have) >= ADMIN_ROLES.indexOf(need);
}

/** Wire error codes sent in `{ error: { code, message } }`. Stable: clients switch on them. */
export type AdminErrorCode =
  | 'ADMIN_BAD_REQUEST'
  | 'ADMIN_NOT_FOUND'
  | 'ADMIN_METHOD_NOT_ALLOWED'
  | 'ADMIN_BODY_TOO_LARGE'
  | 'ADMIN_UNSUPPORTED_MEDIA_TYPE'
  /** HTTPS API only: no valid bearer token (401), role too low (403), too many requests (429). */
  | 'ADMIN_UNAUTHORIZED'
  | 'ADMIN_FORBIDDEN'
  | 'ADMIN_RATE_LIMITED'
  | 'INTERNAL';

/** Throw from a handler to answer with this status and code (for example 400 on bad input, 404 unknown ban). */
export class AdminHttpError extends Error {
  readonly status: number;
  readonly code: AdminErrorCode;

  constructor(status: number, code: AdminErrorCode, message: string) {
    super(message);
    this.name = 'AdminHttpError';
    this.status = status;
    this.code = code;
  }
}

const REPLY = Symbol('admin-reply');

/** Marks a handler result as an explicit reply rather than a 200 body. */
export function reply(status: number, body: unknown): AdminReply & { readonly [REPLY]: true } {
  return { status, body, [REPLY]: true };
}

export function isAdminReply(x: unknown): x is AdminReply {
  return typeof x === 'object' && x !== null && REPLY in x;
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: AdminRoute; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly AdminMethod[] }
  | { readonly kind: 'not-found' };

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function matchPattern(pattern: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = splitPath(pattern);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    const s = segments[i] as string;
    if (p.startsWith(':')) {
      let v: string;
      try {
        v = decodeURIComponent(s);
      } catch {
        return undefined;
      }
      params[p.slice(1)] = v;
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}

/** Finds the route for method + path; tells 404 (no such path) from 405 (path exists, other methods). */
export function matchRoute(routes: readonly AdminRoute[], method: string, path: string): RouteMatch {
  const segments = splitPath(path);
  const allow: AdminMethod[] = [];
  for (const route of routes) {
    const params = matchPattern(route.path, segments);
    if (params === undefined) continue;
    if (route.method === method) return { kind: 'found', route, params };
    if (!allow.includes(route.method)) allow.push(route.method);
  }
  return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
}
