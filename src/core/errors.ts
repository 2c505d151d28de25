/**
 * Typed errors with stable codes. Tests assert `code`, never the message.
 * Codes are grouped by area; add new ones here so the set stays greppable.
 */
export type ErrorCode =
  // config
  | 'CONFIG_INVALID'
  | 'CONFIG_IO'
  | 'CONFIG_YAML'
  // sip codec
  | 'SIP_EMPTY'
  | 'SIP_TOO_LARGE'
  | 'SIP_BAD_START_LINE'
  | 'SIP_BAD_VERSION'
  | 'SIP_BAD_METHOD'
  | 'SIP_BAD_STATUS'
  | 'SIP_BAD_URI'
  | 'SIP_URI_TOO_LONG'
  | 'SIP_BAD_HEADER'
  | 'SIP_HEADER_TOO_LONG'
  | 'SIP_TOO_MANY_HEADERS'
  | 'SIP_MISSING_HEADER'
  | 'SIP_DUPLICATE_HEADER'
  | 'SIP_BAD_VIA'
  | 'SIP_BAD_CSEQ'
  | 'SIP_BAD_NAME_ADDR'
  | 'SIP_BAD_CONTENT_LENGTH'
  | 'SIP_BODY_TRUNCATED'
  | 'SIP_BAD_MAX_FORWARDS'
  | 'SIP_BAD_VALUE'
  | 'SIP_METHOD_MISMATCH'
  // transport
  | 'TRANSPORT_LISTEN'
  | 'TRANSPORT_CONN_LIMIT'
  | 'TRANSPORT_FRAME'
  // proxy
  | 'PROXY_NO_ROUTE'
  | 'PROXY_LIMIT'
  // admin
  | 'ADMIN_UNREACHABLE'
  | 'ADMIN_BAD_REQUEST'
  // generic
  | 'INTERNAL';

export class PalisadeError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, details: Record<string, unknown> = {}, message?: string) {
    super(message ?? code);
    this.name = 'PalisadeError';
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

export function isPalisadeError(e: unknown): e is PalisadeError {
  return e instanceof PalisadeError;
}
