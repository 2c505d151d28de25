/**
 * pino behind the Logger interface of src/core/log.ts: modules depend on the interface, main.ts wires this in.
 * Output is JSON lines (stdout unless a destination is given). Keys that may carry secrets are redacted by
 * name at the top level and one or two levels down, as a last line of defence: callers must still never
 * pass secrets (STYLE: never log secrets).
 */
import { type Logger as PinoLogger, pino } from 'pino';
import type { Logger } from '../core/log.ts';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Anything with `write(line)`: a stream, a pino destination, or a test collector. */
export interface LogDestination {
  write(line: string): void;
}

/** Field names whose values never reach a log line. Matched case-sensitively, as pino's redaction does. */
export const REDACTED_KEYS: readonly string[] = [
  'password',
  'passwd',
  'ha1',
  'authorization',
  'Authorization',
  'proxyAuthorization',
  'proxy-authorization',
  'key',
  'privateKey',
  'secret',
  'token',
  'keyPassphrase',
  'cookie',
];

export const REDACT_CENSOR = '[redacted]';

function redactPaths(): string[] {
  const out: string[] = [];
  for (const k of REDACTED_KEYS) {
    // fast-redact paths: bracket notation keeps names with dashes valid.
    const p = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
    const join = (prefix: string): string => (p.startsWith('[') ? `${prefix}${p}` : `${prefix}.${p}`);
    out.push(p, join('*'), join('*.*'));
  }
  return out;
}

function adapt(p: PinoLogger): Logger {
  return {
    debug: (fields, msg) => p.debug(fields, msg),
    info: (fields, msg) => p.info(fields, msg),
    warn: (fields, msg) => p.warn(fields, msg),
    error: (fields, msg) => p.error(fields, msg),
    child: (bindings) => adapt(p.child(bindings)),
  };
}

/** Creates the process logger. `destination` defaults to stdout (fd 1). */
export function createLogger(level: LogLevel, destination?: LogDestination): Logger {
  const options = {
    level,
    base: { name: 'palisade' },
    redact: { paths: redactPaths(), censor: REDACT_CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const p = destination === undefined ? pino(options, pino.destination({ fd: 1, sync: true })) : pino(options, destination);
  return adapt(p);
}
