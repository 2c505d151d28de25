/**
 * ICE-lite responder for one client-side media port (RFC 8445 §2.5 lite implementation, §7.3 responding to
 * connectivity checks; consent freshness RFC 7675 uses the same Binding requests).
 *
 * A lite agent sends no checks and is always controlled (RFC 8445 §6.1.1): it only answers Binding requests.
 * Order of the checks, cheapest first, answers where RFC 5389 §7.3 / §10.1.2 and RFC 8445 §7.3 say:
 *
 *   parse (bounded)                    else drop 'malformed'
 *   FINGERPRINT present and valid      else drop 'bad_fingerprint' (RFC 8445 §7.1: checks carry it)
 *   Binding request                    else drop (indications are keepalives; responses were never asked for)
 *   USERNAME and MESSAGE-INTEGRITY     else 400 Bad Request
 *   USERNAME = localUfrag:remoteUfrag  else 401 Unauthorized
 *   MESSAGE-INTEGRITY verifies         else 401 Unauthorized            (no integrity on 400/401: no shared key)
 *   no unknown required attributes     else 420 + UNKNOWN-ATTRIBUTES  (RFC 5389 §7.3.1, after authentication)
 *   no ICE-CONTROLLED                  else 487 Role Conflict          (RFC 8445 §7.3.1.1: we cannot switch)
 *   → Binding success: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT; `authenticated: true`.
 *
 * Only `kind: 'response'` means the source proved it knows the password: the relay latches on that alone
 * ("authenticate-then-latch"). Error answers are sent but never latch.
 *
 * Hot path: no allocation. The result objects are owned by the responder and valid until the next call;
 * the address of the last source is parsed once and cached. (MESSAGE-INTEGRITY-SHA256, which browsers do not
 * send, goes through node:crypto and allocates.)
 */
import { randomBytes } from 'node:crypto';
import {
  parseStun,
  STUN_BINDING,
  STUN_BINDING_ERROR,
  STUN_BINDING_SUCCESS,
  STUN_CLASS_INDICATION,
  STUN_CLASS_REQUEST,
  STUN_MAX_RESPONSE_BYTES,
  StunIntegrityKey,
  StunMessageView,
  verifyFingerprint,
  verifyMessageIntegrity,
  verifyMessageIntegritySha256,
  writeErrorCode,
  writeFingerprint,
  writeMessageIntegrity,
  writeMessageIntegritySha256,
  writeStunHeader,
  writeUnknownAttributes,
  writeXorMappedAddress,
} from './stun.ts';

export const ICE_LITE_DROP_REASONS = [
  'buffer_too_small',
  'malformed',
  'bad_fingerprint',
  'not_binding',
  'indication',
  'not_request',
  'bad_address',
] as const;
export type IceLiteDropReason = (typeof ICE_LITE_DROP_REASONS)[number];

export interface IceLiteSuccess {
  readonly kind: 'response';
  /** Bytes of the Binding success response written at out[0..length). */
  readonly length: number;
  readonly authenticated: true;
  /** The controlling agent nominated this pair (RFC 8445 §7.3.1.5). */
  readonly useCandidate: boolean;
  /** PRIORITY of the check (RFC 8445 §7.1.1); 0 when absent. */
  readonly priority: number;
}

export interface IceLiteErrorResponse {
  readonly kind: 'error';
  /** Bytes of the Binding error response written at out[0..length): send it, do not latch. */
  readonly length: number;
  readonly authenticated: false;
  readonly status: 400 | 401 | 420 | 487;
}

export interface IceLiteDrop {
  readonly kind: 'drop';
  readonly reason: IceLiteDropReason;
}

export type IceLiteResult = IceLiteSuccess | IceLiteErrorResponse | IceLiteDrop;

export interface IceLiteOptions {
  localUfrag: string;
  localPwd: string;
  /** The peer's a=ice-ufrag. Until known, any `localUfrag:<non-empty>` USERNAME is accepted (early checks). */
  remoteUfrag?: string;
}

/** Counters of requests handled, plain numbers for the metrics collector. */
export class IceLiteCounters {
  answered = 0;
  nominated = 0;
  badRequest = 0;
  unauthorized = 0;
  unknownAttribute = 0;
  roleConflict = 0;
  dropped = 0;
}

export interface IceLiteResponder {
  /**
   * Handles one STUN datagram from `remoteAddress:remotePort` (as Node reports it) and writes any answer
   * into `out` (at least STUN_MAX_RESPONSE_BYTES long). Never throws. The returned object is reused.
   */
  handle(packet: Uint8Array, remoteAddress: string, remotePort: number, out: Uint8Array): IceLiteResult;
  /** Sets the peer's ufrag once its SDP arrives (or an ICE restart); false (and unchanged) when invalid. */
  setRemoteUfrag(ufrag: string | undefined): boolean;
  readonly counters: IceLiteCounters;
}

export class IceLiteConfigError extends Error {
  readonly code = 'ICE_BAD_CREDENTIALS';
  constructor(readonly field: 'localUfrag' | 'localPwd' | 'remoteUfrag') {
    super(`invalid ICE ${field}`);
    this.name = 'IceLiteConfigError';
  }
}

/** ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4). */
function isIceChars(s: string, min: number, max: number): boolean {
  if (s.length < min || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47;
    if (!ok) return false;
  }
  return true;
}

/** RFC 8839 §5.4: ice-ufrag is 4..256 ice-chars. Check SDP-supplied values with this before use. */
export function isValidIceUfrag(s: string): boolean {
  return isIceChars(s, 4, 256);
}

/** RFC 8839 §5.4: ice-pwd is 22..256 ice-chars. */
export function isValidIcePwd(s: string): boolean {
  return isIceChars(s, 22, 256);
}

const ICE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
export const ICE_UFRAG_CHARS = 8;
export const ICE_PWD_CHARS = 24;

/**
 * Fresh local credentials from the CSPRNG: 64 ice-chars, so each byte's low 6 bits pick one uniformly.
 * 8-char ufrag (48 bits, RFC 8445 §5.3 asks ≥ 24) and 24-char pwd (144 bits, ≥ 128).
 */
export function generateIceCredentials(): { ufrag: string; pwd: string } {
  const r = randomBytes(ICE_UFRAG_CHARS + ICE_PWD_CHARS);
  let ufrag = '';
  let pwd = '';
  for (let i = 0; i < r.length; i++) {
    const ch = ICE_CHARS[(r[i] as number) & 63] as string;
    if (i < ICE_UFRAG_CHARS) ufrag += ch;
    else pwd += ch;
  }
  return { ufrag, pwd };
}

// ---------------------------------------------------------------------------------------------------------
// Address text → bytes, without allocation (the XOR-MAPPED-ADDRESS needs the bytes).

const v4Scratch = new Uint8Array(4);
const v6Groups = new Uint16Array(8);

function parseIpv4(s: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let parts = 0;
  let v = -1;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      v = Math.max(v, 0) * 10 + (c - 48);
      if (v > 255) return false;
    } else if (c === 46 && v >= 0 && parts < 3) {
      out[at + parts++] = v;
      v = -1;
    } else {
      return false;
    }
  }
  if (v < 0 || parts !== 3) return false;
  out[at + 3] = v;
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseIpv6(s: string, end: number, out: Uint8Array): boolean {
  let count = 0;
  let gap = -1;
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    if (count === 8) return false;
    const groupStart = i;
    let v = 0;
    let digits = 0;
    while (i < end) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      if (++digits > 4) return false;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // Embedded IPv4 in the last 32 bits (RFC 4291 §2.2 form 3).
      if (count > 6 || !parseIpv4(s, groupStart, end, v4Scratch, 0)) return false;
      v6Groups[count++] = ((v4Scratch[0] as number) << 8) | (v4Scratch[1] as number);
      v6Groups[count++] = ((v4Scratch[2] as number) << 8) | (v4Scratch[3] as number);
      i = end;
      break;
    }
    if (digits === 0) return false;
    v6Groups[count++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  out.fill(0, 0, 16);
  const head = gap < 0 ? count : gap;
  for (let g = 0; g < head; g++) {
    out[g * 2] = (v6Groups[g] as number) >>> 8;
    out[g * 2 + 1] = (v6Groups[g] as number) & 0xff;
  }
  const tail = count - head;
  for (let g = 0; g < tail; g++) {
    const dst = 8 - tail + g;
    out[dst * 2] = (v6Groups[head + g] as number) >>> 8;
    out[dst * 2 + 1] = (v6Groups[head + g] as number) & 0xff;
  }
  return true;
}

/**
 * Parses an IP address as Node reports it into `out` (16 bytes): returns 4 (out[0..4)), 6 (out[0..16)) or 0.
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack socket) is reported as IPv4: that is what the
 * client sent from. A zone (`%eth0`) is ignored.
 */
export function parseIpAddressInto(s: string, out: Uint8Array): 0 | 4 | 6 {
  if (out.length < 16) return 0;
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  if (s.indexOf(':') < 0) return parseIpv4(s, 0, end, out, 0) ? 4 : 0;
  if (!parseIpv6(s, end, out)) return 0;
  let mapped = out[10] === 0xff && out[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (out[i] !== 0) mapped = false;
  if (!mapped) return 6;
  out.copyWithin(0, 12, 16);
  return 4;
}

// ---------------------------------------------------------------------------------------------------------

const REASON_400 = Buffer.from('Bad Request', 'ascii');
const REASON_401 = Buffer.from('Unauthorized', 'ascii');
const REASON_420 = Buffer.from('Unknown Attribute', 'ascii');
const REASON_487 = Buffer.from('Role Conflict', 'ascii');

const DROPS: Readonly<Record<IceLiteDropReason, IceLiteDrop>> = Object.freeze({
  buffer_too_small: Object.freeze({ kind: 'drop', reason: 'buffer_too_small' }),
  malformed: Object.freeze({ kind: 'drop', reason: 'malformed' }),
  bad_fingerprint: Object.freeze({ kind: 'drop', reason: 'bad_fingerprint' }),
  not_binding: Object.freeze({ kind: 'drop', reason: 'not_binding' }),
  indication: Object.freeze({ kind: 'drop', reason: 'indication' }),
  not_request: Object.freeze({ kind: 'drop', reason: 'not_request' }),
  bad_address: Object.freeze({ kind: 'drop', reason: 'bad_address' }),
});

class IceLiteResponderImpl implements IceLiteResponder {
  readonly counters = new IceLiteCounters();
  private readonly view = new StunMessageView();
  private readonly key: StunIntegrityKey;
  /** `localUfrag:` then, when known, the remote ufrag (RFC 8445 §7.2.2: USERNAME = receiver's ufrag first). */
  private readonly localPrefix: Buffer;
  private expected: Buffer | null = null;
  private lastAddress = '';
  private lastFamily: 0 | 4 | 6 = 0;
  private readonly addressBytes = new Uint8Array(16);
  private readonly success = { kind: 'response' as const, length: 0, authenticated: true as const, useCandidate: false, priority: 0 };
  private readonly failure: { kind: 'error'; length: number; authenticated: false; status: 400 | 401 | 420 | 487 } = {
    kind: 'error',
    length: 0,
    authenticated: false,
    status: 400,
  };

  constructor(opts: IceLiteOptions) {
    if (!isValidIceUfrag(opts.localUfrag)) throw new IceLiteConfigError('localUfrag');
    if (!isValidIcePwd(opts.localPwd)) throw new IceLiteConfigError('localPwd');
    this.key = new StunIntegrityKey(opts.localPwd);
    this.localPrefix = Buffer.from(`${opts.localUfrag}:`, 'ascii');
    if (opts.remoteUfrag !== undefined && !this.setRemoteUfrag(opts.remoteUfrag)) throw new IceLiteConfigError('remoteUfrag');
  }

  setRemoteUfrag(ufrag: string | undefined): boolean {
    if (ufrag === undefined) {
      this.expected = null;
      return true;
    }
    if (!isValidIceUfrag(ufrag)) return false;
    this.expected = Buffer.concat([this.localPrefix, Buffer.from(ufrag, 'ascii')]);
    return true;
  }

  handle(packet: Uint8Array, remoteAddress: string, remotePort: number, out: Uint8Array): IceLiteResult {
    const view = this.view;
    if (out.length < STUN_MAX_RESPONSE_BYTES) return this.drop('buffer_too_small');
    if (parseStun(packet, view) !== 'ok') return this.drop('malformed');
    if (!verifyFingerprint(packet, view)) return this.drop('bad_fingerprint');
    if (view.method !== STUN_BINDING) return this.drop('not_binding');
    if (view.messageClass === STUN_CLASS_INDICATION) return this.drop('indication');
    if (view.messageClass !== STUN_CLASS_REQUEST) return this.drop('not_request');
    if (remoteAddress !== this.lastAddress) {
      this.lastFamily = parseIpAddressInto(remoteAddress, this.addressBytes);
      this.lastAddress = remoteAddress;
    }
    const family = this.lastFamily;
    if (family === 0 || !(remotePort >= 0 && remotePort <= 0xffff)) return this.drop('bad_address');

    // RFC 5389 §10.1.2 (short-term credentials).
    const hasSha1 = view.integrityOffset >= 0;
    const hasSha256 = view.integritySha256Offset >= 0;
    if (view.usernameOffset < 0 || (!hasSha1 && !hasSha256)) {
      this.counters.badRequest++;
      return this.plainError(packet, out, 400, REASON_400);
    }
    if (
      !this.usernameMatches(packet, view.usernameOffset, view.usernameLength) ||
      (hasSha1 && !verifyMessageIntegrity(packet, view, this.key)) ||
      (hasSha256 && !verifyMessageIntegritySha256(packet, view, this.key))
    ) {
      this.counters.unauthorized++;
      return this.plainError(packet, out, 401, REASON_401);
    }
    // RFC 8489 §9.1.4: answer with the algorithm the request used (SHA-1 when it carried both).
    const sha256 = !hasSha1;
    if (view.unknownRequiredCount > 0) {
      this.counters.unknownAttribute++;
      let p = writeStunHeader(out, STUN_BINDING_ERROR, packet, 8);
      p = writeErrorCode(out, p, 420, REASON_420);
      p = writeUnknownAttributes(out, p, view.unknownRequired, view.unknownRequiredCount);
      return this.protectedError(out, p, 420, sha256);
    }
    if (view.iceControlled) {
      // RFC 8445 §7.3.1.1: both sides claim controlled; a lite agent cannot become controlling (§6.1.1).
      this.counters.roleConflict++;
      const p = writeErrorCode(out, writeStunHeader(out, STUN_BINDING_ERROR, packet, 8), 487, REASON_487);
      return this.protectedError(out, p, 487, sha256);
    }

    let p = writeStunHeader(out, STUN_BINDING_SUCCESS, packet, 8);
    p = writeXorMappedAddress(out, p, family, remotePort, this.addressBytes);
    p = sha256 ? writeMessageIntegritySha256(out, p, this.key) : writeMessageIntegrity(out, p, this.key);
    p = writeFingerprint(out, p);
    this.counters.answered++;
    if (view.useCandidate) this.counters.nominated++;
    const s = this.success;
    s.length = p;
    s.useCandidate = view.useCandidate;
    s.priority = view.hasPriority ? view.priority : 0;
    return s;
  }

  private usernameMatches(packet: Uint8Array, off: number, len: number): boolean {
    const want = this.expected;
    if (want !== null) {
      if (len !== want.length) return false;
      for (let i = 0; i < len; i++) if (packet[off + i] !== want[i]) return false;
      return true;
    }
    const prefix = this.localPrefix;
    if (len <= prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (packet[off + i] !== prefix[i]) return false;
    return true;
  }

  private drop(reason: IceLiteDropReason): IceLiteDrop {
    this.counters.dropped++;
    return DROPS[reason];
  }

  /** 400/401: the requester proved nothing, so there is no key to protect the answer with (RFC 5389 §10.1.2). */
  private plainError(packet: Uint8Array, out: Uint8Array, status: 400 | 401, reason: Uint8Array): IceLiteErrorResponse {
    let p = writeStunHeader(out, STUN_BINDING_ERROR, packet, 8);
    p = writeErrorCode(out, p, status, reason);
    p = writeFingerprint(out, p);
    const f = this.failure;
    f.length = p;
    f.status = status;
    return f;
  }

  private protectedError(out: Uint8Array, pos: number, status: 420 | 487, sha256: boolean): IceLiteErrorResponse {
    let p = sha256 ? writeMessageIntegritySha256(out, pos, this.key) : writeMessageIntegrity(out, pos, this.key);
    p = writeFingerprint(out, p);
    const f = this.failure;
    f.length = p;
    f.status = status;
    return f;
  }
}

/** Creates the responder for one ICE session (throws IceLiteConfigError on invalid credentials). */
export function createIceLiteResponder(opts: IceLiteOptions): IceLiteResponder {
  return new IceLiteResponderImpl(opts);
}
