/**
 * Our own SIP-over-UDP test phone with digest authentication (RFC 3261 §22, RFC 7616, RFC 8760), independent of
 * src/auth: hashes are computed here with node:crypto (MD5, SHA-256, SHA-512/256), so it is a second opinion on
 * the daemon's arithmetic, not a mirror of it.
 *
 *   const phone = await openSipClient({ remoteHost: '127.0.0.1', remotePort, user: 'alice', password: 'pw' });
 *   const reg = await phone.register({ algorithm: 'SHA-256' });       // REGISTER → 401 → REGISTER+Authorization
 *   reg.final.status === 200
 *   const again = await phone.replay(reg.authenticated);               // same Authorization (nonce + nc) again
 *   const call = await phone.call({ to: '100', algorithm: 'SHA-512-256' }); // INVITE → 407 → ACK → INVITE+auth → 200 → ACK → BYE
 *   await phone.close();
 *
 * Also: startMd5OnlyShim — a UDP relay in front of the daemon that removes every challenge but MD5 from 401/407
 * answers. SIPp 3.6 reads only the FIRST WWW-Authenticate/Proxy-Authenticate and aborts ("createAuthHeader:
 * authentication must use MD5 or AKAv1-MD5") when it is not MD5, instead of skipping challenges it does not
 * support (RFC 8760 §2.4). The shim turns SIPp into the MD5-only phone RFC 8760 expects.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { PALISADE_CLI, REPO_ROOT } from './daemon.ts';

export type DigestAlg = 'MD5' | 'SHA-256' | 'SHA-512-256';

const NODE_HASH: Readonly<Record<DigestAlg, string>> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

export function h(alg: DigestAlg, s: string): string {
  return createHash(NODE_HASH[alg]).update(s, 'utf8').digest('hex');
}

export interface SipResponse {
  status: number;
  reason: string;
  /** Header fields in order, names as received. */
  headers: Array<[string, string]>;
  raw: string;
  /** When it arrived (performance.now()). */
  at: number;
}

export interface DigestChallenge {
  /** 'www' for WWW-Authenticate (401), 'proxy' for Proxy-Authenticate (407). */
  kind: 'www' | 'proxy';
  scheme: string;
  params: Record<string, string>;
  /** Upper-cased algorithm token; MD5 when absent (RFC 7616 §3.3). */
  algorithm: string;
}

const COMPACT: Readonly<Record<string, string>> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length' };

function canonical(name: string): string {
  const n = name.toLowerCase();
  return COMPACT[n] ?? n;
}

export function parseResponse(text: string): SipResponse | null {
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  const lines = head.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
  if (m === null) return null;
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && headers.length > 0) {
      const last = headers[headers.length - 1];
      if (last) last[1] += ` ${line.trim()}`;
      continue;
    }
    const c = line.indexOf(':');
    if (c > 0) headers.push([line.slice(0, c).trim(), line.slice(c + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, raw: text, at: performance.now() };
}

export function headerValues(r: SipResponse, name: string): string[] {
  const want = canonical(name);
  return r.headers.filter(([n]) => canonical(n) === want).map(([, v]) => v);
}

export function headerValue(r: SipResponse, name: string): string | undefined {
  return headerValues(r, name)[0];
}

/** Splits auth-params (`a="x, y", b=z`) respecting quoted strings. */
export function parseAuthParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)\s*,?/gy;
  let m: RegExpExecArray | null = re.exec(s);
  while (m !== null && m[0] !== '') {
    const k = (m[1] ?? '').toLowerCase();
    out[k] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[2] ?? '');
    m = re.exec(s);
  }
  return out;
}

/** Every Digest challenge of a 401/407, in the order received. */
export function parseChallenges(r: SipResponse): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  for (const [kind, name] of [
    ['www', 'www-authenticate'],
    ['proxy', 'proxy-authenticate'],
  ] as const) {
    for (const v of headerValues(r, name)) {
      const sp = v.indexOf(' ');
      const scheme = sp > 0 ? v.slice(0, sp) : v;
      const params = parseAuthParams(sp > 0 ? v.slice(sp + 1) : '');
      out.push({ kind, scheme, params, algorithm: (params.algorithm ?? 'MD5').toUpperCase() });
    }
  }
  return out;
}

export interface AuthorizationInput {
  alg: DigestAlg;
  user: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  nc: number;
  cnonce: string;
  opaque?: string;
  /** Default 'auth'. null: RFC 2069 style (no qop). */
  qop?: 'auth' | null;
  /** Override the computed response (a wrong password without knowing the right one). */
  responseOverride?: string;
}

/** The credentials value (`Digest username=…`) for one challenge. */
export function buildAuthorization(a: AuthorizationInput): string {
  const ha1 = h(a.alg, `${a.user}:${a.realm}:${a.password}`);
  const ha2 = h(a.alg, `${a.method}:${a.uri}`);
  const nc = a.nc.toString(16).padStart(8, '0');
  const qop = a.qop === undefined ? 'auth' : a.qop;
  const response =
    a.responseOverride ??
    (qop === null ? h(a.alg, `${ha1}:${a.nonce}:${ha2}`) : h(a.alg, `${ha1}:${a.nonce}:${nc}:${a.cnonce}:${qop}:${ha2}`));
  const parts = [
    `username="${a.user}"`,
    `realm="${a.realm}"`,
    `nonce="${a.nonce}"`,
    `uri="${a.uri}"`,
    `response="${response}"`,
    `algorithm=${a.alg}`,
  ];
  if (qop !== null) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${a.cnonce}"`);
  if (a.opaque !== undefined) parts.push(`opaque="${a.opaque}"`);
  return `Digest ${parts.join(', ')}`;
}

export interface SipClientOptions {
  /** Local address (default 127.0.0.1); port 0. */
  localIp?: string;
  remoteHost: string;
  remotePort: number;
  user: string;
  password: string;
  /** Host part of From/To/Request-URI (default remoteHost:remotePort, i.e. ours for the daemon). */
  domain?: string;
  userAgent?: string;
}

export interface SentRequest {
  method: string;
  uri: string;
  branch: string;
  cseq: number;
  callId: string;
  fromTag: string;
  /** Header lines after the mandatory ones (e.g. Authorization). */
  extra: string[];
  body: string;
  text: string;
}

export interface AuthExchange {
  /** The 401/407 that challenged the first request. */
  challenge: SipResponse;
  challenges: DigestChallenge[];
  /** The request that carried credentials, and its final answer. */
  authenticated: SentRequest;
  authorization: string;
  final: SipResponse;
  /** The credentials header name used ('Authorization' or 'Proxy-Authorization'). */
  headerName: string;
}

export interface SipClient {
  readonly localAddress: string;
  readonly localPort: number;
  /** Every response received, in order. */
  readonly received: SipResponse[];
  /** Sends a request and resolves with its final response (1xx skipped); retransmits (T1 500 ms, doubling). */
  send(req: SentRequest, timeoutMs?: number): Promise<SipResponse>;
  buildRequest(
    method: string,
    opts?: Partial<Pick<SentRequest, 'uri' | 'cseq' | 'callId' | 'fromTag' | 'extra' | 'body'>> & { to?: string; toTag?: string },
  ): SentRequest;
  /** REGISTER → 401 → REGISTER with credentials for `algorithm` (its challenge must be offered). */
  register(opts?: { algorithm?: DigestAlg; expires?: number; password?: string; timeoutMs?: number }): Promise<AuthExchange>;
  /** The same request again with a new branch and CSeq but the very same credentials (nonce + nc). */
  replay(req: SentRequest, timeoutMs?: number): Promise<SipResponse>;
  /** INVITE → 407 → ACK → INVITE with credentials → 200 → ACK → (holdMs) → BYE → 200. */
  call(opts: {
    to: string;
    algorithm?: DigestAlg;
    holdMs?: number;
    timeoutMs?: number;
  }): Promise<AuthExchange & { bye: SipResponse | null }>;
  close(): Promise<void>;
}

function token(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

function pickChallenge(list: readonly DigestChallenge[], alg: DigestAlg): DigestChallenge {
  const c = list.find((x) => x.scheme.toLowerCase() === 'digest' && x.algorithm === alg);
  if (c === undefined) throw new Error(`no ${alg} challenge among: ${list.map((x) => x.algorithm).join(', ') || 'none'}`);
  return c;
}

export async function openSipClient(o: SipClientOptions): Promise<SipClient> {
  const sock: Socket = createSocket('udp4');
  const localIp = o.localIp ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, localIp, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  const localPort = sock.address().port;
  const domain = o.domain ?? `${o.remoteHost}:${o.remotePort}`;
  const received: SipResponse[] = [];
  const waiters = new Map<string, (r: SipResponse) => void>();
  sock.on('message', (buf: Buffer, _r: RemoteInfo) => {
    const r = parseResponse(buf.toString('utf8'));
    if (r === null) return;
    received.push(r);
    if (received.length > 10_000) received.shift();
    const via = headerValue(r, 'via') ?? '';
    const branch = /;\s*branch=([^;,\s]+)/i.exec(via)?.[1];
    if (branch !== undefined) waiters.get(branch)?.(r);
  });
  sock.on('error', () => undefined);

  const raw = (text: string): void => {
    sock.send(text, o.remotePort, o.remoteHost);
  };

  const build: SipClient['buildRequest'] = (method, b = {}) => {
    const uri = b.uri ?? (method === 'REGISTER' ? `sip:${domain}` : `sip:${b.to ?? o.user}@${domain}`);
    const branch = `z9hG4bK${token()}`;
    const cseq = b.cseq ?? 1;
    const callId = b.callId ?? `${token(12)}@${localIp}`;
    const fromTag = b.fromTag ?? token(6);
    const toUser = method === 'REGISTER' ? o.user : (b.to ?? o.user);
    const body = b.body ?? '';
    const extra = b.extra ?? [];
    const lines = [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${localIp}:${localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${o.user}@${domain}>;tag=${fromTag}`,
      `To: <sip:${toUser}@${domain}>${b.toTag !== undefined ? `;tag=${b.toTag}` : ''}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:${o.user}@${localIp}:${localPort}>`,
      `User-Agent: ${o.userAgent ?? 'palisade-test-phone/1.0'}`,
      ...extra,
      ...(body !== '' ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return { method, uri, branch, cseq, callId, fromTag, extra, body, text: lines.join('\r\n') };
  };

  const send: SipClient['send'] = (req, timeoutMs = 8000) =>
    new Promise<SipResponse>((resolve, reject) => {
      let interval = 500;
      let retrans: NodeJS.Timeout | undefined;
      const arm = (): void => {
        retrans = setTimeout(() => {
          raw(req.text);
          interval = Math.min(interval * 2, 4000);
          arm();
        }, interval);
      };
      const deadline = setTimeout(() => {
        clearTimeout(retrans);
        waiters.delete(req.branch);
        reject(new Error(`${req.method} (branch ${req.branch}): no final response within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.set(req.branch, (r) => {
        clearTimeout(retrans);
        if (r.status < 200) {
          // Provisional: an INVITE is not retransmitted any more (RFC 3261 §17.1.1.2); wait for the final one.
          return;
        }
        clearTimeout(deadline);
        waiters.delete(req.branch);
        resolve(r);
      });
      raw(req.text);
      if (req.method !== 'ACK') arm();
    });

  const ackFor = (inv: SentRequest, r: SipResponse, sameBranch: boolean, cseq: number): void => {
    const toTag = /;\s*tag=([^;>\s]+)/i.exec(headerValue(r, 'to') ?? '')?.[1];
    const contact = /<([^>]+)>/.exec(headerValue(r, 'contact') ?? '')?.[1];
    const ack = build('ACK', {
      uri: sameBranch ? inv.uri : (contact ?? inv.uri),
      cseq,
      callId: inv.callId,
      fromTag: inv.fromTag,
      to: /^sip:([^@]+)@/.exec(inv.uri)?.[1] ?? o.user,
      ...(toTag !== undefined ? { toTag } : {}),
    });
    const text = sameBranch ? ack.text.replace(ack.branch, inv.branch) : ack.text;
    raw(text);
  };

  const authenticate = async (
    method: 'REGISTER' | 'INVITE',
    first: SentRequest,
    alg: DigestAlg,
    password: string,
    timeoutMs: number,
    reqExtra: (r: SentRequest) => Partial<Pick<SentRequest, 'uri' | 'cseq' | 'callId' | 'fromTag' | 'extra' | 'body'>> & { to?: string },
  ): Promise<AuthExchange> => {
    const challenge = await send(first, timeoutMs);
    if (method === 'INVITE' && challenge.status >= 300) ackFor(first, challenge, true, first.cseq);
    if (challenge.status !== 401 && challenge.status !== 407) {
      throw new Error(`${method}: expected 401/407, got ${challenge.status} ${challenge.reason}`);
    }
    const challenges = parseChallenges(challenge);
    const c = pickChallenge(challenges, alg);
    const headerName = c.kind === 'www' ? 'Authorization' : 'Proxy-Authorization';
    const authorization = buildAuthorization({
      alg,
      user: o.user,
      password,
      realm: c.params.realm ?? '',
      nonce: c.params.nonce ?? '',
      method,
      uri: first.uri,
      nc: 1,
      cnonce: token(8),
      ...(c.params.opaque !== undefined ? { opaque: c.params.opaque } : {}),
    });
    const base = reqExtra(first);
    const authenticated = build(method, {
      ...base,
      uri: first.uri,
      cseq: first.cseq + 1,
      callId: first.callId,
      fromTag: first.fromTag,
      extra: [...(base.extra ?? []), `${headerName}: ${authorization}`],
    });
    const final = await send(authenticated, timeoutMs);
    return { challenge, challenges, authenticated, authorization, final, headerName };
  };

  const sdp = (): string =>
    ['v=0', `o=- 1 1 IN IP4 ${localIp}`, 's=-', `c=IN IP4 ${localIp}`, 't=0 0', 'm=audio 49170 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join(
      '\r\n',
    );

  return {
    localAddress: localIp,
    localPort,
    received,
    send,
    buildRequest: build,
    register: async (r = {}) => {
      const extra = [`Expires: ${r.expires ?? 300}`];
      const first = build('REGISTER', { extra });
      return authenticate('REGISTER', first, r.algorithm ?? 'SHA-256', r.password ?? o.password, r.timeoutMs ?? 8000, () => ({ extra }));
    },
    replay: (req, timeoutMs = 8000) => {
      const again = build(req.method, {
        uri: req.uri,
        cseq: req.cseq + 1,
        callId: req.callId,
        fromTag: req.fromTag,
        extra: req.extra,
        body: req.body,
      });
      return send(again, timeoutMs);
    },
    call: async (c) => {
      const body = sdp();
      const first = build('INVITE', { to: c.to, body });
      const ex = await authenticate('INVITE', first, c.algorithm ?? 'SHA-256', o.password, c.timeoutMs ?? 8000, () => ({ to: c.to, body }));
      if (ex.final.status !== 200) {
        if (ex.final.status >= 300) ackFor(ex.authenticated, ex.final, true, ex.authenticated.cseq);
        return { ...ex, bye: null };
      }
      ackFor(ex.authenticated, ex.final, false, ex.authenticated.cseq);
      await new Promise((res) => setTimeout(res, c.holdMs ?? 100));
      const toTag = /;\s*tag=([^;>\s]+)/i.exec(headerValue(ex.final, 'to') ?? '')?.[1];
      const contact = /<([^>]+)>/.exec(headerValue(ex.final, 'contact') ?? '')?.[1];
      const bye = build('BYE', {
        uri: contact ?? first.uri,
        cseq: ex.authenticated.cseq + 1,
        callId: first.callId,
        fromTag: first.fromTag,
        to: c.to,
        ...(toTag !== undefined ? { toTag } : {}),
      });
      return { ...ex, bye: await send(bye, c.timeoutMs ?? 8000) };
    },
    close: () =>
      new Promise<void>((resolve) => {
        waiters.clear();
        sock.close(() => resolve());
      }),
  };
}

export interface Md5OnlyShim {
  /** Where SIPp should send ("127.0.0.1:port"). */
  readonly address: string;
  readonly port: number;
  /** Challenges removed so far. */
  removed(): number;
  close(): Promise<void>;
}

/**
 * A UDP relay for ONE client: requests from the client go to `target` (with `;rport` added to the top Via so the
 * daemon answers the relay), answers come back with every non-MD5 Digest challenge removed.
 */
export async function startMd5OnlyShim(target: { host: string; port: number }, localIp = '127.0.0.1'): Promise<Md5OnlyShim> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  const bind = (s: Socket): Promise<void> =>
    new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, localIp, () => resolve());
    });
  await bind(front);
  await bind(back);
  let client: RemoteInfo | null = null;
  let removed = 0;
  front.on('message', (buf, r) => {
    client = r;
    const text = buf
      .toString('latin1')
      .replace(/^(Via: [^\r\n]*?)(\r\n)/im, (_m, via: string, crlf: string) =>
        /;\s*rport/i.test(via) ? `${via}${crlf}` : `${via};rport${crlf}`,
      );
    back.send(Buffer.from(text, 'latin1'), target.port, target.host);
  });
  back.on('message', (buf) => {
    if (client === null) return;
    const text = buf.toString('latin1').replace(/^(WWW|Proxy)-Authenticate:[^\r\n]*\r\n/gim, (line) => {
      if (/algorithm="?MD5"?\s*(,|\r)/i.test(line)) return line;
      removed++;
      return '';
    });
    front.send(Buffer.from(text, 'latin1'), client.port, client.address);
  });
  front.on('error', () => undefined);
  back.on('error', () => undefined);
  const port = front.address().port;
  return {
    address: `${localIp}:${port}`,
    port,
    removed: () => removed,
    close: async () => {
      await new Promise<void>((r) => front.close(() => r()));
      await new Promise<void>((r) => back.close(() => r()));
    },
  };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the palisade CLI (`node --import tsx src/cli/main.ts …`) with optional stdin; bounded (SIGKILL at timeoutMs). */
export function runPalisadeCli(
  args: readonly string[],
  o: { stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PALISADE_CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < 1 << 20) stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 1 << 20) stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(o.stdin ?? '');
  });
}

/** `palisade user add USER --password-stdin --users FILE [--realm R] [--allow-md5]`; throws when the CLI fails. */
export async function addUser(
  usersFile: string,
  user: string,
  password: string,
  o: { allowMd5?: boolean; realm?: string } = {},
): Promise<void> {
  const args = ['user', 'add', user, '--password-stdin', '--users', usersFile];
  if (o.realm !== undefined) args.push('--realm', o.realm);
  if (o.allowMd5 === true) args.push('--allow-md5');
  const r = await runPalisadeCli(args, { stdin: `${password}\n` });
  if (r.code !== 0) throw new Error(`palisade user add ${user} failed (${String(r.code)}): ${r.stderr}`);
}
