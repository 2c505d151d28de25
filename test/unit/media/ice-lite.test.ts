import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import {
  createIceLiteResponder,
  generateIceCredentials,
  IceLiteConfigError,
  type IceLiteResult,
  isValidIcePwd,
  isValidIceUfrag,
  parseIpAddressInto,
} from '../../../src/media/ice-lite.ts';
import {
  ATTR_SOFTWARE,
  encodeStunMessage,
  parseStun,
  readXorMappedAddress,
  STUN_BINDING_ERROR,
  STUN_BINDING_INDICATION,
  STUN_BINDING_SUCCESS,
  STUN_MAX_RESPONSE_BYTES,
  type StunEncodeOptions,
  StunIntegrityKey,
  StunMessageView,
  verifyFingerprint,
  verifyMessageIntegrity,
  verifyMessageIntegritySha256,
  writeFingerprint,
} from '../../../src/media/stun.ts';

const LOCAL_UFRAG = 'Lite';
const LOCAL_PWD = 'asd88fgpdd777uzjYhagZg+x';
const REMOTE_UFRAG = 'Brws';
const localKey = new StunIntegrityKey(LOCAL_PWD);

/** A Binding request as a controlling browser sends it: signed with the responder's password (RFC 8445 §7.2.2). */
function request(over: Partial<StunEncodeOptions> = {}, withIntegrity = true): Buffer {
  const o: StunEncodeOptions = {
    transactionId: randomBytes(12),
    username: `${LOCAL_UFRAG}:${REMOTE_UFRAG}`,
    priority: 0x6e0001ff,
    iceControlling: [0x01020304, 0x05060708],
    ...over,
  };
  if (withIntegrity && !o.integritySha256 && !o.integrity) o.integrity = localKey;
  return encodeStunMessage(o);
}

function responder(knowsRemote = true) {
  return createIceLiteResponder(
    knowsRemote
      ? { localUfrag: LOCAL_UFRAG, localPwd: LOCAL_PWD, remoteUfrag: REMOTE_UFRAG }
      : { localUfrag: LOCAL_UFRAG, localPwd: LOCAL_PWD },
  );
}

function answer(r: IceLiteResult, out: Buffer): { msg: Buffer; view: StunMessageView } {
  assert.notEqual(r.kind, 'drop');
  if (r.kind === 'drop') throw new Error('unreachable');
  const msg = out.subarray(0, r.length);
  const view = new StunMessageView();
  assert.equal(parseStun(msg, view), 'ok');
  assert.equal(verifyFingerprint(msg, view), true, 'every answer carries a valid FINGERPRINT');
  return { msg, view };
}

describe('ICE-lite responder: success', () => {
  it('answers a valid check with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT', () => {
    const ice = responder();
    const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
    const req = request();
    const r = ice.handle(req, '127.0.0.1', 40000, out);
    assert.equal(r.kind, 'response');
    assert.ok(r.kind === 'response' && r.authenticated === true && r.useCandidate === false && r.priority === 0x6e0001ff);
    const { msg, view } = answer(r, out);
    assert.equal(view.messageType, STUN_BINDING_SUCCESS);
    assert.deepEqual(msg.subarray(8, 20), req.subarray(8, 20), 'same transaction ID');
    assert.equal(verifyMessageIntegrity(msg, view, localKey), true);
    const addr = new Uint8Array(16);
    assert.equal(readXorMappedAddress(msg, view, addr), 4);
    assert.deepEqual([...addr.subarray(0, 4)], [127, 0, 0, 1]);
    assert.equal(view.xorMappedPort, 40000);
    assert.equal(ice.counters.answered, 1);
  });

  it('reports USE-CANDIDATE (nomination)', () => {
    const ice = responder();
    const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
    const r = ice.handle(request({ useCandidate: true }), '127.0.0.1', 40000, out);
    assert.ok(r.kind === 'response' && r.useCandidate);
    assert.equal(ice.counters.nominated, 1);
  });

  it('maps IPv6 sources, and reports IPv4-mapped IPv6 sources as IPv4', () => {
    const ice = responder();
    const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
    const addr = new Uint8Array(16);
    let { msg, view } = answer(ice.handle(request(), '::1', 5004, out), out);
    assert.equal(readXorMappedAddress(msg, view, addr), 6);
    assert.equal(Buffer.from(addr).toString('hex'), '00000000000000000000000000000001');
    ({ msg, view } = answer(ice.handle(request(), '::ffff:127.0.0.1', 5004, out), out));
    assert.equal(readXorMappedAddress(msg, view, addr), 4);
    assert.deepEqual([...addr.subarray(0, 4)], [127, 0, 0, 1]);
  });

  it('accepts any remote ufrag until it is known, then only that one', () => {
    const ice = responder(false);
    const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
    assert.equal(ice.handle(request({ username: `${LOCAL_UFRAG}:Whatever` }), '127.0.0.1', 1, out).kind, 'response');
    assert.equal(ice.handle(request({ username: `${LOCAL_UFRAG}:` }), '127.0.0.1', 1, out).kind, 'error');
    assert.equal(ice.setRemoteUfrag('bad ufrag'), false);
    assert.equal(ice.setRemoteUfrag(REMOTE_UFRAG), true);
    assert.equal(ice.handle(request({ username: `${LOCAL_UFRAG}:Whatever` }), '127.0.0.1', 1, out).kind, 'error');
    assert.equal(ice.handle(request(), '127.0.0.1', 1, out).kind, 'response');
  });

  it('answers a MESSAGE-INTEGRITY-SHA256-only check with MESSAGE-INTEGRITY-SHA256 (RFC 8489 §9.1.4)', () => {
    const ice = responder();
    const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
    const r = ice.handle(request({ integritySha256: localKey }), '127.0.0.1', 9, out);
    assert.equal(r.kind, 'response');
    const { msg, view } = answer(r, out);
    assert.equal(view.integrityOffset, -1);
    assert.equal(verifyMessageIntegritySha256(msg, view, localKey), true);
  });
});

describe('ICE-lite responder: refusals never authenticate', () => {
  const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);

  function expectError(r: IceLiteResult, status: number, integrity: boolean): void {
    assert.equal(r.kind, 'error');
    assert.ok(r.kind === 'error' && r.authenticated === false && r.status === status);
    const { view } = answer(r, out);
    assert.equal(view.messageType, STUN_BINDING_ERROR);
    assert.equal(view.errorCode, status);
    assert.equal(view.integrityOffset >= 0, integrity);
    if (integrity) assert.equal(verifyMessageIntegrity(out.subarray(0, r.length), view, localKey), true);
  }

  it('wrong ufrag → 401 without integrity', () => {
    expectError(responder().handle(request({ username: `Othr:${REMOTE_UFRAG}` }), '127.0.0.1', 1, out), 401, false);
    expectError(responder().handle(request({ username: `${LOCAL_UFRAG}:Othr` }), '127.0.0.1', 1, out), 401, false);
  });

  it('tampered MESSAGE-INTEGRITY (fingerprint recomputed) → 401; wrong password → 401', () => {
    const req = request();
    const v = new StunMessageView();
    parseStun(req, v);
    req[v.integrityOffset + 10] = (req[v.integrityOffset + 10] as number) ^ 0x80;
    writeFingerprint(req, v.fingerprintOffset);
    const ice = responder();
    expectError(ice.handle(req, '127.0.0.1', 1, out), 401, false);
    expectError(ice.handle(request({ integrity: new StunIntegrityKey('x'.repeat(24)) }), '127.0.0.1', 1, out), 401, false);
    assert.equal(ice.counters.unauthorized, 2);
    assert.equal(ice.counters.answered, 0);
  });

  it('missing USERNAME or MESSAGE-INTEGRITY → 400', () => {
    const noUser = encodeStunMessage({ transactionId: randomBytes(12), integrity: localKey, iceControlling: [0, 1] });
    expectError(responder().handle(noUser, '127.0.0.1', 1, out), 400, false);
    expectError(responder().handle(request({}, false), '127.0.0.1', 1, out), 400, false);
  });

  it('unknown comprehension-required attribute → 420 with UNKNOWN-ATTRIBUTES, integrity-protected', () => {
    const r = responder().handle(request({ extra: [{ type: 0x0777, value: Buffer.alloc(4) }] }), '127.0.0.1', 1, out);
    expectError(r, 420, true);
    const msg = out.subarray(0, r.kind === 'error' ? r.length : 0);
    assert.ok(msg.includes(Buffer.from([0x00, 0x0a, 0x00, 0x02, 0x07, 0x77])), 'UNKNOWN-ATTRIBUTES lists 0x0777');
    const ok = responder().handle(request({ extra: [{ type: ATTR_SOFTWARE, value: Buffer.from('x') }] }), '127.0.0.1', 1, out);
    assert.equal(ok.kind, 'response', 'comprehension-optional attributes are ignored');
  });

  it('ICE-CONTROLLED → 487 Role Conflict (a lite agent is always controlled): RFC 5769 §2.1 sample request', () => {
    const sample = Buffer.from(
      '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e2074657374' +
        '20636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576' +
        '746a3a6836765920202000080014' +
        '9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf',
      'hex',
    );
    const ice = createIceLiteResponder({ localUfrag: 'evtj', localPwd: 'VOkJxbRl1RmTxUk/WvJxBt', remoteUfrag: 'h6vY' });
    const r = ice.handle(sample, '192.0.2.1', 32853, out);
    assert.ok(r.kind === 'error' && r.status === 487 && r.authenticated === false);
    const { msg, view } = answer(r, out);
    assert.equal(verifyMessageIntegrity(msg, view, new StunIntegrityKey('VOkJxbRl1RmTxUk/WvJxBt')), true);
    assert.deepEqual(msg.subarray(8, 20), sample.subarray(8, 20));
  });

  it('drops bad fingerprints, missing fingerprints, truncations, indications, responses and other methods', () => {
    const ice = responder();
    const drop = (buf: Buffer): string => {
      const r = ice.handle(buf, '127.0.0.1', 1, out);
      return r.kind === 'drop' ? r.reason : `answered ${r.kind}`;
    };
    const flipped = request();
    flipped[25] = (flipped[25] as number) ^ 1;
    assert.equal(drop(flipped), 'bad_fingerprint');
    assert.equal(drop(request({ fingerprint: false })), 'bad_fingerprint');
    const good = request();
    for (let n = 0; n < good.length; n++) assert.equal(drop(good.subarray(0, n)), 'malformed', `prefix ${n}`);
    assert.equal(drop(request({ messageType: STUN_BINDING_INDICATION })), 'indication');
    assert.equal(drop(request({ messageType: STUN_BINDING_SUCCESS })), 'not_request');
    assert.equal(drop(request({ messageType: 0x0003 })), 'not_binding');
    assert.equal(ice.handle(request(), 'not-an-ip', 1, out).kind, 'drop');
    assert.equal(ice.handle(request(), '127.0.0.1', 1, Buffer.alloc(64)).kind, 'drop');
    assert.equal(ice.counters.answered, 0);
  });
});

describe('credentials', () => {
  it('generateIceCredentials: ufrag ≥ 4 and pwd ≥ 22 ice-chars, different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const c = generateIceCredentials();
      assert.ok(c.ufrag.length >= 4 && isValidIceUfrag(c.ufrag));
      assert.ok(c.pwd.length >= 22 && isValidIcePwd(c.pwd));
      seen.add(c.pwd);
    }
    assert.equal(seen.size, 50);
  });

  it('rejects invalid credentials with a code', () => {
    assert.throws(
      () => createIceLiteResponder({ localUfrag: 'abc', localPwd: LOCAL_PWD }),
      (e: unknown) => {
        return e instanceof IceLiteConfigError && e.code === 'ICE_BAD_CREDENTIALS' && e.field === 'localUfrag';
      },
    );
    assert.throws(() => createIceLiteResponder({ localUfrag: LOCAL_UFRAG, localPwd: 'short' }), IceLiteConfigError);
    assert.throws(() => createIceLiteResponder({ localUfrag: LOCAL_UFRAG, localPwd: LOCAL_PWD, remoteUfrag: 'a:b;' }), IceLiteConfigError);
  });
});

describe('parseIpAddressInto', () => {
  const out = new Uint8Array(16);
  const hexOf = (n: number): string => Buffer.from(out.subarray(0, n)).toString('hex');

  it('parses IPv4 and IPv6 forms Node reports', () => {
    assert.equal(parseIpAddressInto('192.0.2.1', out), 4);
    assert.equal(hexOf(4), 'c0000201');
    assert.equal(parseIpAddressInto('2001:db8:1234:5678:11:2233:4455:6677', out), 6);
    assert.equal(hexOf(16), '20010db8123456780011223344556677');
    assert.equal(parseIpAddressInto('::', out), 6);
    assert.equal(hexOf(16), '0'.repeat(32));
    assert.equal(parseIpAddressInto('fe80::1%eth0', out), 6);
    assert.equal(hexOf(16), 'fe800000000000000000000000000001');
    assert.equal(parseIpAddressInto('2001:db8::', out), 6);
    assert.equal(hexOf(16), '20010db8000000000000000000000000');
    assert.equal(parseIpAddressInto('64:ff9b::192.0.2.33', out), 6);
    assert.equal(hexOf(16), '0064ff9b0000000000000000c0000221');
  });

  it('rejects malformed addresses', () => {
    for (const s of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1..2.3',
      'a.b.c.d',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      ':1::',
      '12345::',
      '1:2:3:4:5:6:7:',
      'g::1',
    ]) {
      assert.equal(parseIpAddressInto(s, out), 0, s);
    }
  });

  it('agrees with node:net on random IPv6 addresses in full and compressed form', () => {
    for (let i = 0; i < 300; i++) {
      const bytes = randomBytes(16);
      if (i % 3 === 0) bytes.fill(0, 2 + (i % 7), 10 + (i % 5));
      const full = Array.from({ length: 8 }, (_, g) => bytes.readUInt16BE(g * 2).toString(16)).join(':');
      const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      assert.ok(isIPv6(compressed));
      for (const s of [full, compressed]) {
        const fam = parseIpAddressInto(s, out);
        const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
        if (mapped) assert.equal(hexOf(4), bytes.subarray(12).toString('hex'));
        else {
          assert.equal(fam, 6, s);
          assert.equal(hexOf(16), bytes.toString('hex'), s);
        }
      }
    }
  });
});
