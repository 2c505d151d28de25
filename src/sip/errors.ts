import type { ErrorCode } from '../core/errors.ts';
import type { Err } from '../core/result.ts';
import type { SipParseError } from './types.ts';

/** Builds a SipParseError result. `reason` never echoes more than a short excerpt of the input. */
export function fail(code: ErrorCode, reason: string, method?: string): Err<SipParseError> {
  const error: SipParseError = method === undefined ? { code, reason } : { code, reason, method };
  return { ok: false, error };
}

/** A short, printable excerpt of untrusted text for a reason string. */
export function excerpt(s: string): string {
  const cut = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  let out = '';
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    out += c < 0x20 || c === 0x7f ? '?' : cut[i];
  }
  return out;
}
