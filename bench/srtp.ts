/**
 * SRTP per-packet cost: protect and unprotect of RTP packets with a 160-byte payload (20 ms of G.711),
 * per profile, plus the alternatives measured when choosing the HMAC-SHA1 and AES-CM implementations.
 * Runs a few seconds. `node --import tsx bench/srtp.ts`
 */
import { createCipheriv, createHmac, hash, randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AesCmKeystream } from '../src/media/srtp/aes-cm.ts';
import { HmacSha1 } from '../src/media/srtp/hmac-sha1.ts';
import { createSrtpContext, SRTP_PROFILE_NAMES, srtpProfileInfo } from '../src/media/srtp/index.ts';

const PAYLOAD = 160;
const N = 20_000;
const ROUNDS = 4;

function makeRtp(): Buffer {
  const b = Buffer.alloc(12 + PAYLOAD);
  b[0] = 0x80;
  b.writeUInt32BE(0x11223344, 8);
  randomBytes(PAYLOAD).copy(b, 12);
  return b;
}

/**
 * Best of ROUNDS after one warm-up round, in µs per call of CPU time (user + system of this process), so a
 * busy shared machine inflates it less than wall time; `fn(i)` is called N times per round.
 */
function measure(fn: (i: number) => void, setup?: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r <= ROUNDS; r++) {
    setup?.();
    gc();
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(i);
    const c = process.cpuUsage(c0);
    const us = (c.user + c.system) / N;
    if (r > 0 && us < best) best = us;
  }
  return best;
}

// A full GC before each round, so garbage from earlier phases is not collected (and counted) inside it.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const rows: [string, string][] = [];

for (const profile of SRTP_PROFILE_NAMES) {
  const info = srtpProfileInfo(profile);
  const keys = { masterKey: randomBytes(info.keyLength), masterSalt: randomBytes(info.saltLength) };
  const rtp = makeRtp();
  const out = Buffer.alloc(1500);
  let tx = createSrtpContext({ profile, ...keys });
  const protectUs = measure(
    (i) => {
      rtp.writeUInt16BE(i & 0xffff, 2);
      tx.protect(rtp, out);
    },
    () => {
      tx = createSrtpContext({ profile, ...keys });
    },
  );
  // Protected packets for the unprotect run (distinct sequence numbers: the replay check is real), each
  // in its own ArrayBuffer as datagrams arrive from a socket.
  const gen = createSrtpContext({ profile, ...keys });
  let packets: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    rtp.writeUInt16BE(i & 0xffff, 2);
    const n = gen.protect(rtp, out);
    const p = Buffer.alloc(n);
    out.copy(p, 0, 0, n);
    packets.push(p);
  }
  let rx = createSrtpContext({ profile, ...keys });
  let failures = 0;
  const unprotectUs = measure(
    (i) => {
      if (rx.unprotect(packets[i] as Buffer, out) < 0) failures++;
    },
    () => {
      rx = createSrtpContext({ profile, ...keys });
    },
  );
  packets = [];
  if (failures > 0) throw new Error(`${profile}: ${failures} unprotect failures`);
  rows.push([`${profile} protect`, protectUs.toFixed(2)]);
  rows.push([`${profile} unprotect`, unprotectUs.toFixed(2)]);
}

// Alternatives for the authentication tag over 172 bytes + ROC.
{
  const key = randomBytes(20);
  const msg = makeRtp();
  const roc = Buffer.alloc(4);
  const tag = Buffer.alloc(10);
  const mac = new HmacSha1(key);
  const ipad = Buffer.alloc(64 + 1500);
  const opad = Buffer.alloc(64 + 20);
  for (let i = 0; i < 64; i++) {
    ipad[i] = (key[i] ?? 0) ^ 0x36;
    opad[i] = (key[i] ?? 0) ^ 0x5c;
  }
  rows.push([
    'HMAC-SHA1: createHmac per packet',
    measure(() => createHmac('sha1', key).update(msg).update(roc).digest().copy(tag)).toFixed(2),
  ]);
  rows.push([
    'HMAC-SHA1: 2 x crypto.hash over pad||msg',
    measure(() => {
      msg.copy(ipad, 64);
      roc.copy(ipad, 64 + msg.length);
      hash('sha1', ipad.subarray(0, 64 + msg.length + 4), 'buffer').copy(opad, 64);
      hash('sha1', opad, 'buffer').copy(tag);
    }).toFixed(2),
  ]);
  rows.push([
    'HMAC-SHA1: JS, precomputed pad states (used)',
    measure(() => {
      mac.compute(msg, 0, msg.length, 0, true);
      mac.writeTag(tag, 0, 10);
    }).toFixed(2),
  ]);
}

// Alternatives for the AES-CM keystream over 160 bytes.
{
  const key = randomBytes(16);
  const iv = randomBytes(16);
  const payload = randomBytes(PAYLOAD);
  const ks = new AesCmKeystream(key, randomBytes(14));
  rows.push([
    'AES-CM: createCipheriv(aes-128-ctr) per packet',
    measure(() => createCipheriv('aes-128-ctr', key, iv).update(payload)).toFixed(2),
  ]);
  rows.push([
    'AES-CM: long-lived ECB over counter blocks (used)',
    measure((i) => ks.xor(payload, 0, PAYLOAD, payload, 0, 1, 0, i)).toFixed(2),
  ]);
}

const w = Math.max(...rows.map(([name]) => name.length));
console.log(`SRTP, ${PAYLOAD}-byte payload, best of ${ROUNDS} x ${N} packets, CPU time, node ${process.version}`);
console.log(`${'operation'.padEnd(w)}  µs/packet`);
for (const [name, us] of rows) console.log(`${name.padEnd(w)}  ${us.padStart(9)}`);
