/**
 * Differential test against libsrtp2 (Debian libsrtp2-dev, installed by scripts/install-test-tools.sh):
 * test/fixtures/srtp/srtp-oracle.c is compiled into a temp dir and driven over stdin/stdout. For
 * AES_CM_128_HMAC_SHA1_80, _32 and AEAD_AES_128_GCM, across a sequence wrap: byte-identical SRTP output,
 * packets crossing in both directions, tamper and replay rejected on both sides.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { createSrtpContext, type SrtpContext, SrtpError, srtpProfileInfo } from '../../src/media/srtp/index.ts';
import { flipBits, keysFor, makeRtcp, makeRtp, nth, PROFILES } from '../unit/media/srtp/helpers.ts';

const SOURCE = new URL('../fixtures/srtp/srtp-oracle.c', import.meta.url).pathname;
const ORACLE_PROFILE = { AES_CM_128_HMAC_SHA1_80: '80', AES_CM_128_HMAC_SHA1_32: '32', AEAD_AES_128_GCM: 'gcm' } as const;
/** libsrtp srtp_err_status_t values (srtp2/srtp.h). */
const LIBSRTP_AUTH_FAIL = 7;
const LIBSRTP_REPLAY_FAIL = 9;
const LIBSRTP_REPLAY_OLD = 10;
const WRAP_SEQS = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5];
/** Delivery order across the wrap, with reordering on both sides of it. */
const WRAP_ORDER = [0, 1, 3, 2, 4, 6, 5, 7, 9, 8, 10, 11];

class Oracle {
  private readonly waiting: ((line: string) => void)[] = [];
  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
  }

  private ask(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`oracle timeout: ${line.slice(0, 20)}`)), 5000);
      this.waiting.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.stdin.write(`${line}\n`);
    });
  }

  async init(profile: keyof typeof ORACLE_PROFILE, key: Buffer, salt: Buffer, window = 64): Promise<void> {
    const hex = Buffer.concat([key, salt]).toString('hex');
    assert.equal(await this.ask(`init ${ORACLE_PROFILE[profile]} ${hex} ${window}`), 'ok');
  }

  /** Buffer on success, libsrtp error status (number) on failure. */
  async run(op: 'p' | 'u' | 'pc' | 'uc', packet: Buffer): Promise<Buffer | number> {
    const answer = await this.ask(`${op} ${packet.toString('hex')}`);
    if (answer.startsWith('ok ')) return Buffer.from(answer.slice(3), 'hex');
    const m = /^err (-?\d+)$/.exec(answer);
    assert.ok(m, `unexpected oracle answer ${answer}`);
    return Number(m[1]);
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

let dir = '';
let oracle: Oracle;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-srtp-'));
  const bin = join(dir, 'srtp-oracle');
  execFileSync('cc', ['-O1', '-o', bin, SOURCE, '-lsrtp2'], { stdio: 'pipe', timeout: 60_000 });
  oracle = new Oracle(spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
});

after(() => {
  oracle?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function ours(profile: keyof typeof ORACLE_PROFILE): SrtpContext {
  return createSrtpContext({ profile, ...keysFor(profile) });
}

function run(ctx: SrtpContext, op: 'protect' | 'unprotect' | 'protectRtcp' | 'unprotectRtcp', p: Buffer): Buffer | number {
  const out = Buffer.alloc(p.length + 64);
  const n = ctx[op](p, out);
  return n < 0 ? n : out.subarray(0, n);
}

for (const profile of PROFILES) {
  const { masterKey, masterSalt } = keysFor(profile);
  const tagLen = srtpProfileInfo(profile).srtpTagLength;

  describe(`libsrtp2 ${profile}`, { timeout: 30_000 }, () => {
    test('SRTP across the wrap: identical bytes, and each side unprotects the other', async () => {
      await oracle.init(profile, masterKey, masterSalt);
      const tx = ours(profile);
      const mine: Buffer[] = [];
      for (const seq of WRAP_SEQS) {
        const rtp = makeRtp(seq, { csrcs: seq % 3 });
        const a = run(tx, 'protect', rtp);
        const b = await oracle.run('p', rtp);
        assert.ok(Buffer.isBuffer(a) && Buffer.isBuffer(b));
        assert.equal(a.toString('hex'), b.toString('hex'), `seq ${seq}`);
        assert.equal(a.length, rtp.length + tagLen);
        mine.push(a);
      }
      // Ours → libsrtp, reordered across the wrap.
      for (const i of WRAP_ORDER) {
        const got = await oracle.run('u', nth(mine, i));
        assert.deepEqual(got, makeRtp(nth(WRAP_SEQS, i), { csrcs: nth(WRAP_SEQS, i) % 3 }), `libsrtp unprotect seq ${WRAP_SEQS[i]}`);
      }
      // libsrtp → ours: a fresh oracle session protects, our receiver unprotects in the same order.
      await oracle.init(profile, masterKey, masterSalt);
      const theirs: Buffer[] = [];
      for (const seq of WRAP_SEQS) theirs.push((await oracle.run('p', makeRtp(seq, { payloadLength: 33 }))) as Buffer);
      const rx = ours(profile);
      for (const i of WRAP_ORDER) {
        assert.deepEqual(run(rx, 'unprotect', nth(theirs, i)), makeRtp(nth(WRAP_SEQS, i), { payloadLength: 33 }));
      }
    });

    test('SRTP tamper and replay are rejected on both sides', async () => {
      await oracle.init(profile, masterKey, masterSalt);
      const tx = ours(profile);
      const rx = ours(profile);
      const seqs = Array.from({ length: 100 }, (_, i) => 65500 + i);
      const mine = seqs.map((s) => run(tx, 'protect', makeRtp(s)) as Buffer);
      const theirs: Buffer[] = [];
      for (const s of seqs) theirs.push((await oracle.run('p', makeRtp(s))) as Buffer);

      for (const bit of [8 * 2 + 3, 8 * 12, 8 * 50 + 1, (nth(mine, 0).length - 1) * 8 + 7]) {
        const badMine = Buffer.from(nth(mine, 0));
        flipBits(badMine, bit >> 3, 0x80 >> (bit & 7));
        assert.equal(await oracle.run('u', badMine), LIBSRTP_AUTH_FAIL, `libsrtp tamper bit ${bit}`);
        const badTheirs = Buffer.from(nth(theirs, 0));
        flipBits(badTheirs, bit >> 3, 0x80 >> (bit & 7));
        assert.equal(run(rx, 'unprotect', badTheirs), SrtpError.AUTH_FAIL, `our tamper bit ${bit}`);
      }
      // Deliver 10..99 (crossing the wrap at index 35), skipping 0..9.
      for (let i = 10; i < 100; i++) {
        assert.ok(Buffer.isBuffer(await oracle.run('u', nth(mine, i))), `libsrtp ${seqs[i]}`);
        assert.ok(Buffer.isBuffer(run(rx, 'unprotect', nth(theirs, i))), `ours ${seqs[i]}`);
      }
      // Same packet twice.
      assert.equal(await oracle.run('u', nth(mine, 99)), LIBSRTP_REPLAY_FAIL);
      assert.equal(run(rx, 'unprotect', nth(theirs, 99)), SrtpError.REPLAY);
      assert.equal(await oracle.run('u', nth(mine, 40)), LIBSRTP_REPLAY_FAIL);
      assert.equal(run(rx, 'unprotect', nth(theirs, 40)), SrtpError.REPLAY);
      // Never received, but older than the 64-packet window.
      assert.equal(await oracle.run('u', nth(mine, 5)), LIBSRTP_REPLAY_OLD);
      assert.equal(run(rx, 'unprotect', nth(theirs, 5)), SrtpError.REPLAY);
    });

    test('SRTCP: each side unprotects the other; tamper and replay rejected on both', async () => {
      await oracle.init(profile, masterKey, masterSalt);
      const tx = ours(profile);
      const rx = ours(profile);
      const rtcp = makeRtcp(0x11223344, 3);
      const mine: Buffer[] = [];
      const theirs: Buffer[] = [];
      for (let i = 0; i < 5; i++) {
        mine.push(run(tx, 'protectRtcp', rtcp) as Buffer);
        theirs.push((await oracle.run('pc', rtcp)) as Buffer);
      }
      assert.equal(nth(mine, 0).length, nth(theirs, 0).length, 'same SRTCP overhead (80-bit tag for _32)');
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await oracle.run('uc', nth(mine, i)), rtcp, `libsrtp uc ${i}`);
        assert.deepEqual(run(rx, 'unprotectRtcp', nth(theirs, i)), rtcp, `ours uc ${i}`);
      }
      assert.equal(await oracle.run('uc', nth(mine, 2)), LIBSRTP_REPLAY_FAIL);
      assert.equal(run(rx, 'unprotectRtcp', nth(theirs, 2)), SrtpError.REPLAY);
      const badMine = run(tx, 'protectRtcp', rtcp) as Buffer;
      const badTheirs = (await oracle.run('pc', rtcp)) as Buffer;
      flipBits(badMine, 10, 0x01);
      flipBits(badTheirs, 10, 0x01);
      assert.equal(await oracle.run('uc', badMine), LIBSRTP_AUTH_FAIL);
      assert.equal(run(rx, 'unprotectRtcp', badTheirs), SrtpError.AUTH_FAIL);
    });
  });
}
