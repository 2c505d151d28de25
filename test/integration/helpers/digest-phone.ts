/**
 * A scripted UDP phone that speaks digest to the daemon: bound to a chosen 127.0.0.x address, it builds REGISTER /
 * INVITE / OPTIONS requests toward Palisade's public port and answers challenges with SHA-256, SHA-512-256 or MD5.
 * Shared by the in-process auth tests (proxy-auth, registration-binding, auth-http-backend).
 */
import { createSocket, type Socket } from 'node:dgram';
import { writeUsersFile } from '../../../src/auth/credentials.ts';
import { computeAllHa1, computeResponse } from '../../../src/auth/digest.ts';

export const PUBLIC_IP = '127.0.0.1';
export const INSIDE_IP = '127.0.0.2';
export const PBX_IP = '127.0.0.3';

export interface Peer {
  sock: Socket;
  port: number;
  ip: string;
  inbox: string[];
  next(pred: (m: string) => boolean, ms?: number): Promise<string>;
  /** Sends to Palisade's public listener. */
  send(text: string): void;
}

export type DigestAlg = 'SHA-256' | 'SHA-512-256' | 'MD5';

export interface DigestPhoneKit {
  /** Palisade's public UDP port: set it once the daemon is up. */
  publicPort: number;
  peer(ip: string): Promise<Peer>;
  request(
    p: Peer,
    method: string,
    opts?: { user?: string; auth?: string; ua?: string; callId?: string; dial?: string; cseq?: number },
  ): { text: string; uri: string; callId: string };
  answer(challenge: string, opts: { user: string; password: string; method: string; uri: string; alg: DigestAlg; nc?: string }): string;
}

/** Every value of a header (long name, case-insensitive) in a raw message. */
export const header = (msg: string, name: string): string[] =>
  msg
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(l.indexOf(':') + 1).trim());

function param(challenge: string, name: string): string | undefined {
  return new RegExp(`${name}="?([^",]+)"?`).exec(challenge)?.[1];
}

export function digestPhoneKit(realm: string, waitMs = 2000): DigestPhoneKit {
  let seq = 0;
  const kit: DigestPhoneKit = {
    publicPort: 0,
    async peer(ip) {
      const sock = createSocket('udp4');
      const inbox: string[] = [];
      const waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];
      sock.on('message', (b) => {
        const m = b.toString('latin1');
        const w = waiters.find((x) => x.pred(m));
        if (w) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        } else inbox.push(m);
      });
      await new Promise<void>((r) => sock.bind(0, ip, () => r()));
      return {
        sock,
        ip,
        port: sock.address().port,
        inbox,
        next(pred, ms = waitMs) {
          const i = inbox.findIndex(pred);
          if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as string);
          return new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`timeout; inbox: ${inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`)), ms);
            waiters.push({
              pred,
              resolve: (m) => {
                clearTimeout(t);
                resolve(m);
              },
            });
          });
        },
        send(text) {
          sock.send(Buffer.from(text, 'latin1'), kit.publicPort, PUBLIC_IP);
        },
      };
    },
    request(p, method, opts = {}) {
      const user = opts.user ?? 'alice';
      const dial = opts.dial ?? '100';
      const uri = method === 'REGISTER' ? `sip:${PUBLIC_IP}:${kit.publicPort}` : `sip:${dial}@${PUBLIC_IP}:${kit.publicPort}`;
      const callId = opts.callId ?? `auth-${++seq}@test`;
      const to = method === 'REGISTER' ? `<sip:${user}@${PUBLIC_IP}>` : `<sip:${dial}@${PUBLIC_IP}>`;
      const lines = [
        `${method} ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP ${p.ip}:${p.port};branch=z9hG4bKt${seq}x${Math.random().toString(36).slice(2, 8)};rport`,
        'Max-Forwards: 70',
        `From: <sip:${user}@${PUBLIC_IP}>;tag=ft${seq}`,
        `To: ${to}`,
        `Call-ID: ${callId}`,
        `CSeq: ${seq} ${method}`,
        `Contact: <sip:${user}@${p.ip}:${p.port}>`,
        `User-Agent: ${opts.ua ?? 'PalisadeTestPhone/1.0'}`,
      ];
      if (method === 'REGISTER') lines.push('Expires: 300');
      if (opts.auth) lines.push(`${method === 'REGISTER' ? 'Authorization' : 'Proxy-Authorization'}: ${opts.auth}`);
      lines.push('Content-Length: 0', '', '');
      return { text: lines.join('\r\n'), uri, callId };
    },
    answer(challenge, opts) {
      const nonce = param(challenge, 'nonce') ?? '';
      const ha1 = computeAllHa1(opts.user, realm, opts.password)[
        opts.alg === 'SHA-256' ? 'sha256' : opts.alg === 'MD5' ? 'md5' : 'sha512_256'
      ];
      const nc = opts.nc ?? '00000001';
      const cnonce = 'c0ffee';
      const response = computeResponse({ algorithm: opts.alg, ha1, nonce, method: opts.method, uri: opts.uri, qop: 'auth', nc, cnonce });
      return `Digest username="${opts.user}", realm="${realm}", nonce="${nonce}", uri="${opts.uri}", response="${response}", algorithm=${opts.alg}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
    },
  };
  return kit;
}

/** The users the proxy tests log in as: alice (alias 100a, SHA-256 only, password s3cret-A) and oldphone (MD5 allowed, md5-only). */
export function writeAliceAndOldphone(path: string, realm: string): void {
  writeUsersFile(path, [
    {
      user: 'alice',
      realm,
      ha1: computeAllHa1('alice', realm, 's3cret-A'),
      groups: [],
      aliases: ['100a'],
      disabled: false,
      allowMd5: false,
    },
    {
      user: 'oldphone',
      realm,
      ha1: computeAllHa1('oldphone', realm, 'md5-only'),
      groups: [],
      aliases: [],
      disabled: false,
      allowMd5: true,
    },
  ]);
}

/**
 * A scripted PBX that answers every request 200 (INVITE and REGISTER with a To tag, Contacts echoed), ignores
 * responses and ACK; while `rejectRegister()` is true it answers REGISTER 401 instead.
 */
export function answerAllOk(pbx: Peer, rejectRegister: () => boolean = () => false): void {
  pbx.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    if (m.startsWith('SIP/2.0') || m.startsWith('ACK')) return;
    const method = m.split(' ', 1)[0] ?? '';
    const lines =
      rejectRegister() && method === 'REGISTER'
        ? [
            'SIP/2.0 401 Unauthorized',
            ...m.split('\r\n').filter((l) => /^(via|from|to|call-id|cseq)\s*:/i.test(l)),
            'WWW-Authenticate: Digest realm="x", nonce="abc"',
          ]
        : [
            'SIP/2.0 200 OK',
            ...m.split('\r\n').filter((l) => /^via\s*:/i.test(l)),
            `From: ${header(m, 'From')[0]}`,
            `To: ${header(m, 'To')[0]}${method === 'INVITE' || method === 'REGISTER' ? ';tag=pbx1' : ''}`,
            `Call-ID: ${header(m, 'Call-ID')[0]}`,
            `CSeq: ${header(m, 'CSeq')[0]}`,
            ...header(m, 'Contact').map((c) => `Contact: ${c}`),
          ];
    pbx.sock.send(Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n')), rinfo.port, rinfo.address);
  });
}
