/**
 * OpenSSL's `s_client` / `s_server` as DTLS 1.2 + use_srtp peers for Palisade's DTLS endpoint. They bind
 * 127.0.0.1 only, print the RFC 5705 keying material (`-keymatexport EXTRACTOR-dtls_srtp`), and are killed by
 * `stop()` (or `stopAllOpenssl()` in an after hook). stdin stays an open pipe: both tools quit on stdin EOF.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const OPENSSL_BIN = process.env.OPENSSL_BIN ?? '/usr/bin/openssl';

/** OpenSSL's names for the DTLS-SRTP profiles (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const OPENSSL_SRTP_NAME = {
  AES_CM_128_HMAC_SHA1_80: 'SRTP_AES128_CM_SHA1_80',
  AES_CM_128_HMAC_SHA1_32: 'SRTP_AES128_CM_SHA1_32',
  AEAD_AES_128_GCM: 'SRTP_AEAD_AES_128_GCM',
} as const;

export interface PeerCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** SHA-256 of the DER, upper-case hex with colons (what the peer's SDP a=fingerprint would say). */
  readonly fingerprint: string;
}

/** A self-signed certificate made by `openssl req`: ECDSA P-256 or RSA 2048, written into `dir`. */
export async function makeOpensslCert(dir: string, kind: 'ec' | 'rsa'): Promise<PeerCert> {
  const certFile = join(dir, `${kind}-cert.pem`);
  const keyFile = join(dir, `${kind}-key.pem`);
  const keyArgs = kind === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  await execFileAsync(
    OPENSSL_BIN,
    ['req', '-x509', ...keyArgs, '-nodes', '-subj', `/CN=peer-${kind}`, '-days', '2', '-keyout', keyFile, '-out', certFile],
    { timeout: 15_000 },
  );
  const fingerprint = new X509Certificate(await readFile(certFile)).fingerprint256;
  return { certFile, keyFile, fingerprint };
}

export interface OpensslPeer {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed so far (stdout and stderr), bounded. */
  output(): string;
  /** Waits (bounded) until `re` matches the output; resolves the match or undefined on timeout / exit. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray | undefined>;
  /** The exported keying material OpenSSL printed, or undefined if it did not within `timeoutMs`. */
  keyingMaterial(timeoutMs: number): Promise<Buffer | undefined>;
  stop(): Promise<void>;
}

const live = new Set<OpensslPeer>();
const OUTPUT_LIMIT = 256 * 1024;

function startPeer(args: string[]): OpensslPeer {
  const child = spawn(OPENSSL_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  const listeners = new Set<() => void>();
  const onText = (s: string): void => {
    if (out.length < OUTPUT_LIMIT) out += s;
    for (const l of [...listeners]) l();
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', onText);
  child.stderr.on('data', onText);
  child.stdin.on('error', () => {}); // EPIPE after the child died must not crash the test
  child.on('error', () => {});
  const exit = new Promise<void>((resolve) => {
    child.once('close', () => {
      exited = true;
      for (const l of [...listeners]) l();
      resolve();
    });
  });
  const peer: OpensslPeer = {
    child,
    output: () => out,
    waitFor: (re, timeoutMs) =>
      new Promise((resolve) => {
        const check = (): void => {
          const m = out.match(re);
          if (m !== null || exited) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m ?? undefined);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          resolve(undefined);
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    keyingMaterial: async (timeoutMs) => {
      const m = await peer.waitFor(/Keying material: ([0-9A-F]+)/, timeoutMs);
      return m?.[1] !== undefined ? Buffer.from(m[1], 'hex') : undefined;
    },
    stop: async () => {
      live.delete(peer);
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 1000);
        await exit;
        clearTimeout(t);
      }
    },
  };
  live.add(peer);
  return peer;
}

export interface DtlsPeerOptions {
  readonly cert: PeerCert;
  readonly profile?: keyof typeof OPENSSL_SRTP_NAME;
  /** Bytes to export: 2 * (key + salt) for the profile (60 for AES-CM, 56 for GCM). */
  readonly exportLength?: number;
}

function common(o: DtlsPeerOptions): string[] {
  return [
    '-dtls1_2',
    '-use_srtp',
    OPENSSL_SRTP_NAME[o.profile ?? 'AES_CM_128_HMAC_SHA1_80'],
    '-cert',
    o.cert.certFile,
    '-key',
    o.cert.keyFile,
    '-keymatexport',
    'EXTRACTOR-dtls_srtp',
    '-keymatexportlen',
    String(o.exportLength ?? 60),
  ];
}

/** `openssl s_client` connecting to 127.0.0.1:port (Palisade is the DTLS server). */
export function startSClient(port: number, o: DtlsPeerOptions): OpensslPeer {
  return startPeer(['s_client', ...common(o), '-connect', `127.0.0.1:${port}`, '-ign_eof']);
}

/** `openssl s_server` on 127.0.0.1:port requesting a client certificate (Palisade is the DTLS client). */
export async function startSServer(port: number, o: DtlsPeerOptions): Promise<OpensslPeer> {
  const p = startPeer(['s_server', ...common(o), '-accept', `127.0.0.1:${port}`, '-verify', '1']);
  if ((await p.waitFor(/^ACCEPT$/m, 10_000)) === undefined) {
    const text = p.output();
    await p.stop();
    throw new Error(`openssl s_server did not start on ${port}: ${text.slice(-500)}`);
  }
  return p;
}

export async function stopAllOpenssl(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}
