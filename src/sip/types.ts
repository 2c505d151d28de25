/**
 * Contract of the SIP codec (src/sip). The proxy, pipeline and tests depend on these types only.
 * Implementation: parser.ts (parseMessage), message.ts (SipMessage), serializer.ts, uri.ts, headers.ts.
 *
 * Rules:
 *  - Parsers never throw on input: they return Result with a SipParseError whose `code` is stable.
 *  - Header values are located once at parse time and parsed lazily; parsed values are memoised.
 *  - Edits are visible to the next read (no deferred edits, unlike Kamailio's lumps).
 *  - Serialization copies every header that was not edited byte for byte from the input.
 */
import type { ErrorCode } from '../core/errors.ts';
import type { Result } from '../core/result.ts';

export interface SipParseError {
  readonly code: ErrorCode;
  /** Human-readable reason; safe to log (contains no message bytes beyond a short excerpt). */
  readonly reason: string;
  /** For requests whose start line parsed: lets the caller decide whether a 400 reply is possible. */
  readonly method?: string;
}

export interface SipLimits {
  /** Whole message including body. Default 65536. */
  readonly maxMessageBytes: number;
  /** Number of header fields (after folding). Default 100. */
  readonly maxHeaders: number;
  /** One header field, name + value after unfolding. Default 8192. */
  readonly maxHeaderBytes: number;
  /** Request-URI and any URI we parse. Default 1024. */
  readonly maxUriBytes: number;
}

export const DEFAULT_SIP_LIMITS: SipLimits = Object.freeze({
  maxMessageBytes: 65536,
  maxHeaders: 100,
  maxHeaderBytes: 8192,
  maxUriBytes: 1024,
});

export interface ParseOptions {
  readonly limits?: SipLimits;
  /** Stream transports (TCP/TLS/WS): Content-Length is mandatory (RFC 3261 §18.3). */
  readonly stream?: boolean;
}

export interface SipUri {
  readonly scheme: 'sip' | 'sips' | 'tel' | string;
  /** Unescaped user part (undefined when absent). For tel: the number. */
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** Host as written, without IPv6 brackets ("::1", "example.com", "192.0.2.1"). Empty for tel:. */
  readonly host: string;
  readonly port: number | undefined;
  /** Parameter names lower-cased; value null for a flag parameter (";lr"). */
  readonly params: ReadonlyMap<string, string | null>;
  /** URI headers (?a=b&c=d), unescaped. */
  readonly headers: ReadonlyMap<string, string>;
  /** The URI exactly as it appeared. */
  readonly raw: string;
}

export interface Via {
  /** "SIP/2.0" */
  readonly protocol: string;
  /** Upper-case transport token: UDP, TCP, TLS, WS, WSS, SCTP, … */
  readonly transport: string;
  readonly host: string;
  readonly port: number | undefined;
  /** Names lower-cased; value null for a flag (";rport"). */
  readonly params: ReadonlyMap<string, string | null>;
  readonly branch: string | undefined;
  readonly raw: string;
}

export interface NameAddr {
  /** Unquoted display name, undefined when absent. */
  readonly displayName: string | undefined;
  readonly uri: SipUri;
  /** Header parameters (after the URI, outside <>), names lower-cased. */
  readonly params: ReadonlyMap<string, string | null>;
  readonly tag: string | undefined;
  readonly raw: string;
}

export interface Contact extends NameAddr {
  /** True for "Contact: *". uri is then a placeholder and must not be used. */
  readonly star: boolean;
  readonly expires: number | undefined;
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

export interface HeaderField {
  /** Name as written on the wire (may be compact: "v", "f", …). */
  readonly name: string;
  /** Canonical lower-case long name ("via", "from", "call-id", …); compact forms expanded. */
  readonly lname: string;
  /** Value after unfolding, leading/trailing whitespace trimmed. */
  readonly value: string;
}

/**
 * A parsed SIP message. Reads of structured values are lazy and memoised; any edit of a header
 * invalidates the memo of that header so the next read sees the edit.
 */
export interface SipMessage {
  readonly isRequest: boolean;
  /** Requests: method token (case-sensitive, RFC 3261 §7.1). Responses: undefined. */
  readonly method: string | undefined;
  /** Requests: Request-URI as written. */
  readonly requestUri: string | undefined;
  /** Responses: status code. */
  readonly status: number | undefined;
  readonly reason: string | undefined;

  /** Parsed Request-URI (requests only). Ok unless the URI is malformed. */
  uri(): Result<SipUri, SipParseError>;
  setRequestUri(uri: string): void;
  setStatus(status: number, reason: string): void;

  /** All header fields in wire order (multi-value headers are one field per line, not split). */
  headers(): readonly HeaderField[];
  /** First value of a header by any name form (case-insensitive, compact or long). */
  get(name: string): string | undefined;
  /** All values of a header, comma-separated lists split respecting quotes and <>. */
  getAll(name: string): string[];
  has(name: string): boolean;
  /** Replaces every field of that name with one field (or several when an array). */
  set(name: string, value: string | readonly string[]): void;
  /** Inserts a field before the first field of that name (or at the top of the headers if none). */
  prepend(name: string, value: string): void;
  /** Appends a field after the last header. */
  append(name: string, value: string): void;
  /** Removes every field of that name; returns how many were removed. */
  remove(name: string): number;
  /** Removes the first value of a (possibly comma-separated) header, e.g. the top Via. */
  removeFirstValue(name: string): boolean;

  /** Structured accessors (memoised; Result errors carry codes). */
  vias(): Result<readonly Via[], SipParseError>;
  topVia(): Result<Via, SipParseError>;
  from(): Result<NameAddr, SipParseError>;
  to(): Result<NameAddr, SipParseError>;
  callId(): string | undefined;
  cseq(): Result<CSeq, SipParseError>;
  contacts(): Result<readonly Contact[], SipParseError>;
  recordRoutes(): Result<readonly NameAddr[], SipParseError>;
  routes(): Result<readonly NameAddr[], SipParseError>;
  /** Undefined when absent; error when not a number 0..255. */
  maxForwards(): Result<number | undefined, SipParseError>;
  /** Expires header as a number, undefined when absent or malformed. */
  expires(): number | undefined;

  readonly body: Buffer;
  /** Replaces the body and updates Content-Length. contentType undefined removes Content-Type when body is empty. */
  setBody(body: Buffer, contentType?: string): void;

  /** Wire bytes: untouched header lines are copied byte for byte; Content-Length always correct. */
  serialize(): Buffer;
  /** Deep copy; edits to the clone do not affect this message. */
  clone(): SipMessage;
}

/** Signature of the parser (src/sip/parser.ts exports `parseMessage`). */
export type ParseMessage = (bytes: Buffer, options?: ParseOptions) => Result<SipMessage, SipParseError>;

/** Builders (src/sip/build.ts). */
export interface RequestInit {
  readonly method: string;
  readonly requestUri: string;
  /** [name, value] pairs in order. Content-Length is added by the serializer. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer;
}

export interface ResponseInit {
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer;
}
