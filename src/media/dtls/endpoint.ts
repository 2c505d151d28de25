/**
 * One DTLS-SRTP endpoint (RFC 5763, RFC 5764) for a client-side media leg: werift-dtls 0.5.8 runs the DTLS 1.2
 * state machine (flights, retransmission, record protection, ECDHE); Palisade screens every handshake message
 * before werift sees it and adds the peer authentication werift lacks.
 *
 * werift is fed through a transport object that only forwards to `opts.send` and receives through `handle()`, so
 * it never opens a socket; the relay owns the UDP port. Palisade wraps the socket's `onHandleHandshakes` (the one
 * entry point werift's record layer calls with each decrypted, reassembled handshake message) and decides per
 * message: pass it to werift, drop it, or fail the handshake. The decisive checks sit in front of the two messages
 * after which werift would commit:
 *
 *   we are client:  ServerHelloDone → (werift sends flight 5)   gate: ServerKeyExchange signed by the certificate
 *                   server Finished → (werift reports connect)  gate: verify_data matches
 *   we are server:  client Finished → (werift sends flight 6)   gate: a client certificate was sent,
 *                                                                      CertificateVerify signed by it, verify_data
 *
 * A peer Certificate is compared with a=fingerprint (SHA-256 of the DER) as soon as it arrives.
 *
 * The transcript that signatures and verify_data cover is rebuilt here in RFC order (RFC 5246 §7.4.8/§7.4.9,
 * RFC 6347 §4.2.6) from the peer messages Palisade accepted and our own messages from werift's cache. Each peer
 * message type is accepted once per handshake: a later copy that differs is dropped, an identical one only passes
 * when it is what tells werift to retransmit (cookie ClientHello, ServerHelloDone, client Finished), so werift's
 * key-exchange state always comes from the messages that were authenticated. SRTP keys come from our own RFC 5705
 * exporter over werift's master secret and the randoms of the authenticated hellos.
 */

import { DtlsClient, DtlsServer, type DtlsSocket, HashAlgorithm, SignatureAlgorithm } from 'werift-dtls/lib/dtls/src/index.js';
import type { FragmentedHandshake } from 'werift-dtls/lib/dtls/src/record/message/fragment.js';
import type { Options as WeriftOptions } from 'werift-dtls/lib/dtls/src/socket.js';
import {
  DTLS_SRTP_EXPORTER_LABEL,
  dtlsSrtpKeyMaterialLength,
  type SrtpProfileName,
  splitDtlsSrtpKeyMaterial,
  srtpProfileFromDtlsId,
  srtpProfileInfo,
} from '../srtp/index.ts';
import { fingerprintMatches, parseSha256Fingerprint } from './certificate.ts';
import {
  HS,
  hasPlaintextAlert,
  parseCertificateVerify,
  parseClientKeyExchange,
  parseFirstCertificate,
  parseHello,
  parseServerKeyExchange,
  type Sender,
  TRANSCRIPT_ORDER,
  transcriptBytes,
} from './handshake-messages.ts';
import { expectedVerifyData, exportKeyingMaterial, verifyDataMatches, verifyPeerSignature } from './peer-auth.ts';
import {
  DEFAULT_DTLS_PROFILES,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type DtlsConnected,
  type DtlsEndpoint,
  type DtlsEndpointOptions,
  type DtlsFailure,
  type DtlsState,
} from './types.ts';

/** werift buffers handshake fragments until a message completes; more than this many pending is an attack. */
const MAX_PENDING_FRAGMENTS = 64;

type Verdict = 'pass' | 'drop';

interface Msg {
  readonly type: number;
  readonly seq: number;
  readonly body: Buffer;
}

/** werift flights each role sends; their handshake cache slots hold our own messages. */
const LOCAL_FLIGHTS: Readonly<Record<Sender, readonly number[]>> = { client: [1, 3, 5], server: [4, 6] };

export function createDtlsEndpoint(opts: DtlsEndpointOptions): DtlsEndpoint {
  return new Endpoint(opts);
}

class Endpoint implements DtlsEndpoint {
  state: DtlsState = 'new';
  private readonly role: Sender;
  private readonly profiles: readonly SrtpProfileName[];
  private readonly profileIds: readonly number[];
  private readonly expectedFingerprint: Buffer | undefined;
  private readonly socket: DtlsSocket;
  /** Peer handshake messages accepted in this handshake, by type (one each). */
  private readonly remote = new Map<number, Msg>();
  private peerCertificate: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private live = true;
  /** A peer Finished arrived before its certificate: a timeout then means "no certificate". */
  private finishedWithoutCertificate = false;
  private readonly connectedCbs: Array<(r: DtlsConnected) => void> = [];
  private readonly failedCbs: Array<(reason: DtlsFailure) => void> = [];
  private deliver: (data: Buffer) => void = () => {};

  constructor(private readonly opts: DtlsEndpointOptions) {
    this.role = opts.role;
    this.profiles = opts.profiles !== undefined && opts.profiles.length > 0 ? opts.profiles : DEFAULT_DTLS_PROFILES;
    this.profileIds = this.profiles.map((p) => srtpProfileInfo(p).dtlsId);
    this.expectedFingerprint = parseSha256Fingerprint(opts.remoteFingerprint);
    const transport = {
      type: 'palisade-relay',
      address: { address: '0.0.0.0', family: 'IPv4', port: 0 },
      closed: false,
      onData: (_data: Buffer): void => {},
      send: async (buf: Buffer): Promise<void> => {
        if (!this.live) return;
        try {
          this.opts.send(buf);
        } catch {
          // the relay's send failing is the relay's concern; werift retransmits on its own timer
        }
      },
      close: async (): Promise<void> => {},
    };
    const options: WeriftOptions = {
      transport,
      cert: opts.certificate.certPem,
      key: opts.certificate.keyPem,
      // Our certificate is ECDSA P-256 (createDtlsCertificate).
      signatureHash: { hash: HashAlgorithm.sha256_4, signature: SignatureAlgorithm.ecdsa_3 },
      // werift types the list as its two built-in profiles; the ids are passed through on the wire unchanged.
      srtpProfiles: this.profileIds as NonNullable<WeriftOptions['srtpProfiles']>,
      // RFC 5763 §5: both sides present certificates; the server must ask for the client's.
      certificateRequest: opts.role === 'server',
      extendedMasterSecret: true,
    };
    this.socket = opts.role === 'client' ? new DtlsClient(options) : new DtlsServer(options);
    // werift assigns its record-layer entry point to transport.onData in its constructor.
    this.deliver = transport.onData;
    const next = this.socket.onHandleHandshakes;
    this.socket.onHandleHandshakes = (assembled: FragmentedHandshake[]): Promise<void> => {
      const pass: FragmentedHandshake[] = [];
      for (const h of assembled) {
        if (this.state !== 'handshaking' && this.state !== 'connected') return Promise.resolve();
        if (this.screen(h) === 'pass') pass.push(h);
      }
      if (pass.length === 0 || (this.state !== 'handshaking' && this.state !== 'connected')) return Promise.resolve();
      return next(pass);
    };
    this.socket.onConnect.subscribe(() => this.connected());
    this.socket.onError.subscribe(() => {
      if (this.state === 'handshaking') this.fail('protocol');
    });
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'handshaking';
    if (this.expectedFingerprint === undefined) {
      this.fail('bad_fingerprint');
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'handshaking') this.fail(this.finishedWithoutCertificate ? 'no_certificate' : 'timeout');
    }, this.opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    if (this.socket instanceof DtlsClient) {
      this.socket.connect().catch(() => {
        if (this.state === 'handshaking') this.fail('protocol');
      });
    }
  }

  handle(datagram: Buffer): void {
    if (this.state !== 'handshaking' && this.state !== 'connected') return;
    try {
      if (this.state === 'handshaking' && hasPlaintextAlert(datagram)) {
        // The peer aborted (or said close_notify) before the handshake finished. After it, alerts are ignored:
        // plaintext alerts are unauthenticated and the call's lifetime belongs to signalling.
        this.fail('closed');
        return;
      }
      this.deliver(datagram);
      const pending = (this.socket as unknown as { bufferFragmentedHandshakes?: unknown[] }).bufferFragmentedHandshakes;
      if (this.state === 'handshaking' && (pending?.length ?? 0) > MAX_PENDING_FRAGMENTS) this.fail('protocol');
    } catch {
      // werift's record parser reads lengths without bounds checks; a short or garbled datagram lands here.
    }
  }

  onConnected(cb: (r: DtlsConnected) => void): void {
    this.connectedCbs.push(cb);
  }

  onFailed(cb: (reason: DtlsFailure) => void): void {
    this.failedCbs.push(cb);
  }

  close(): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'closed';
    this.stop();
  }

  /** Decides one reassembled handshake message from the peer before werift processes it. */
  private screen(h: FragmentedHandshake): Verdict {
    if (h.fragment_offset !== 0 || h.fragment.length !== h.length) return 'drop';
    const msg: Msg = { type: h.msg_type, seq: h.message_seq, body: Buffer.from(h.fragment) };
    const prev = this.remote.get(msg.type);
    if (this.state === 'connected') {
      // Only a retransmitted client Finished matters now: werift answers it by resending flight 6.
      return this.role === 'server' && msg.type === HS.finished && prev !== undefined && same(prev, msg) ? 'pass' : 'drop';
    }
    if (prev !== undefined) {
      const retransmitTrigger =
        this.role === 'server' ? msg.type === HS.clientHello || msg.type === HS.finished : msg.type === HS.serverHelloDone;
      return retransmitTrigger && same(prev, msg) ? 'pass' : 'drop';
    }
    return this.role === 'server' ? this.screenAsServer(msg) : this.screenAsClient(msg);
  }

  private screenAsServer(msg: Msg): Verdict {
    switch (msg.type) {
      case HS.clientHello: {
        const hello = parseHello(msg.body, true);
        if (hello === undefined) return 'drop';
        if (!this.offersOurProfile(hello.srtpProfiles)) return this.fail('no_srtp_profile');
        // The cookie-less hello gets werift's HelloVerifyRequest; only the hello that returns our cookie enters
        // the transcript (RFC 6347 §4.2.1).
        if (hello.cookie.length === 0) return 'pass';
        const cookie = this.socket.dtls.cookie;
        if (cookie === undefined || !cookie.equals(hello.cookie)) return 'drop';
        return this.accept(msg);
      }
      case HS.certificate:
        return this.acceptCertificate(msg);
      case HS.clientKeyExchange:
        if (parseClientKeyExchange(msg.body) === undefined) return this.fail('protocol');
        return this.accept(msg);
      case HS.certificateVerify:
        if (parseCertificateVerify(msg.body) === undefined) return this.fail('protocol');
        // werift rejects a CertificateVerify before a Certificate; wait for the retransmitted flight instead.
        if (this.peerCertificate === undefined) return 'drop';
        return this.accept(msg);
      case HS.finished:
        return this.gateClientFinished(msg);
      default:
        return 'drop';
    }
  }

  private screenAsClient(msg: Msg): Verdict {
    const sawServerHello = this.remote.has(HS.serverHello);
    switch (msg.type) {
      case HS.helloVerifyRequest:
        return sawServerHello ? 'drop' : this.accept(msg);
      case HS.serverHello: {
        const hello = parseHello(msg.body, false);
        if (hello === undefined) return this.fail('protocol');
        // RFC 5764 §4.1.1: the server picks exactly one of the profiles we offered.
        const chosen = hello.srtpProfiles;
        if (chosen === undefined || chosen.length !== 1 || !this.profileIds.includes(chosen[0] as number)) {
          return this.fail('no_srtp_profile');
        }
        return this.accept(msg);
      }
      case HS.certificate:
        return this.acceptCertificate(msg);
      case HS.serverKeyExchange:
        if (parseServerKeyExchange(msg.body) === undefined) return this.fail('protocol');
        // werift needs the ServerHello's random first; a reordered key exchange waits for the retransmission.
        if (!sawServerHello) return 'drop';
        return this.accept(msg);
      case HS.certificateRequest:
        return this.accept(msg);
      case HS.serverHelloDone:
        return this.gateServerHelloDone(msg);
      case HS.finished:
        return this.gateServerFinished(msg);
      default:
        return 'drop';
    }
  }

  /** Certificate (either role): present, and its SHA-256 equal to the SDP a=fingerprint (RFC 5763 §5). */
  private acceptCertificate(msg: Msg): Verdict {
    const der = parseFirstCertificate(msg.body);
    if (der === undefined) return this.fail('protocol');
    if (der === null) return this.fail('no_certificate');
    if (this.expectedFingerprint === undefined || !fingerprintMatches(der, this.expectedFingerprint)) {
      return this.fail('bad_fingerprint');
    }
    this.peerCertificate = Buffer.from(der);
    return this.accept(msg);
  }

  /** Client side, before werift sends flight 5: the ServerKeyExchange must be signed by the certificate's key. */
  private gateServerHelloDone(msg: Msg): Verdict {
    const sh = this.remote.get(HS.serverHello);
    const ske = this.remote.get(HS.serverKeyExchange);
    const ch = this.local(HS.clientHello);
    // A missing message was lost on the way: drop ServerHelloDone, the server retransmits its whole flight.
    if (sh === undefined || ske === undefined || ch === undefined || this.peerCertificate === undefined) return 'drop';
    const server = parseHello(sh.body, false);
    const client = parseHello(ch.body, true);
    const kx = parseServerKeyExchange(ske.body);
    if (server === undefined || client === undefined || kx === undefined) return this.fail('protocol');
    // RFC 8422 §5.4: signature over ClientHello.random + ServerHello.random + ServerECDHParams.
    const signedData = Buffer.concat([client.random, server.random, kx.params]);
    if (!verifyPeerSignature(this.peerCertificate, kx.signed.hash, kx.signed.signature, signedData, kx.signed.value)) {
      return this.fail('bad_signature');
    }
    return this.accept(msg);
  }

  /** Client side, before werift reports the connection: the server's verify_data. */
  private gateServerFinished(msg: Msg): Verdict {
    const master = this.socket.cipher.masterSecret as Buffer | undefined;
    if (!this.remote.has(HS.serverHelloDone) || this.local(HS.finished) === undefined || master === undefined) return 'drop';
    const transcript = this.transcriptBefore('server', HS.finished);
    if (transcript === undefined) return this.fail('protocol');
    if (!verifyDataMatches(msg.body, expectedVerifyData(master, 'server', transcript))) return this.fail('bad_finished');
    // werift (which processes flight 4 asynchronously) must have derived its keys from the signed values.
    const sh = parseHello((this.remote.get(HS.serverHello) as Msg).body, false);
    const kx = parseServerKeyExchange((this.remote.get(HS.serverKeyExchange) as Msg).body);
    const cipher = this.socket.cipher;
    if (!bytesEqual(cipher.remoteRandom?.serialize(), sh?.random) || !bytesEqual(cipher.remoteKeyPair?.publicKey, kx?.publicKey)) {
      return this.fail('protocol');
    }
    return this.accept(msg);
  }

  /** Server side, before werift sends flight 6: client certificate, CertificateVerify and verify_data. */
  private gateClientFinished(msg: Msg): Verdict {
    const cke = this.remote.get(HS.clientKeyExchange);
    const cv = this.remote.get(HS.certificateVerify);
    const ch = this.remote.get(HS.clientHello);
    const master = this.socket.cipher.masterSecret as Buffer | undefined;
    if (this.peerCertificate === undefined) this.finishedWithoutCertificate = true;
    if (cke === undefined || cv === undefined || ch === undefined || this.peerCertificate === undefined || master === undefined) {
      return 'drop'; // part of flight 5 was lost; the client retransmits it
    }
    const verify = parseCertificateVerify(cv.body);
    const toVerify = this.transcriptBefore('client', HS.certificateVerify);
    if (verify === undefined || toVerify === undefined) return this.fail('protocol');
    // RFC 5246 §7.4.8: signature over all handshake messages before CertificateVerify.
    if (!verifyPeerSignature(this.peerCertificate, verify.hash, verify.signature, Buffer.concat(toVerify), verify.value)) {
      return this.fail('bad_signature');
    }
    const toFinish = this.transcriptBefore('client', HS.finished);
    if (toFinish === undefined) return this.fail('protocol');
    if (!verifyDataMatches(msg.body, expectedVerifyData(master, 'client', toFinish))) return this.fail('bad_finished');
    // werift must have derived keys from exactly these values.
    const cipher = this.socket.cipher;
    const hello = parseHello(ch.body, true);
    if (
      hello === undefined ||
      !bytesEqual(cipher.remoteRandom?.serialize(), hello.random) ||
      !bytesEqual(cipher.remoteKeyPair?.publicKey, parseClientKeyExchange(cke.body))
    ) {
      return this.fail('protocol');
    }
    return this.accept(msg);
  }

  private accept(msg: Msg): Verdict {
    this.remote.set(msg.type, msg);
    return 'pass';
  }

  private offersOurProfile(offered: readonly number[] | undefined): boolean {
    return offered !== undefined && this.profileIds.some((id) => offered.includes(id));
  }

  /** Our own handshake message of `type` from werift's cache (the latest flight that holds one). */
  private local(type: number): Msg | undefined {
    let found: Msg | undefined;
    const cache = this.socket.dtls.handshakeCache;
    for (const flight of LOCAL_FLIGHTS[this.role]) {
      const m = cache[flight]?.data.find((h) => h.msg_type === type);
      if (m === undefined) continue;
      if (m.fragment_offset !== 0 || m.fragment.length !== m.length) return undefined; // werift never fragments ours
      found = { type, seq: m.message_seq, body: m.fragment };
    }
    return found;
  }

  /** Transcript entries (RFC 6347 §4.2.6 form) of every message sent before (sender, type); undefined if broken. */
  private transcriptBefore(sender: Sender, type: number): Buffer[] | undefined {
    const out: Buffer[] = [];
    for (const [s, t] of TRANSCRIPT_ORDER) {
      if (s === sender && t === type) return out;
      const m = s === this.role ? this.local(t) : this.remote.get(t);
      if (m !== undefined) out.push(transcriptBytes(m.type, m.seq, m.body));
      else if (t !== HS.certificateRequest && t !== HS.certificate && t !== HS.certificateVerify) return undefined;
    }
    return undefined;
  }

  private connected(): void {
    if (this.state !== 'handshaking') return;
    // werift may only report a connection after our gate passed the peer's Finished.
    const master = this.socket.cipher.masterSecret as Buffer | undefined;
    const clientHello = this.role === 'client' ? this.local(HS.clientHello) : this.remote.get(HS.clientHello);
    const serverHello = this.role === 'client' ? this.remote.get(HS.serverHello) : this.local(HS.serverHello);
    const ch = clientHello && parseHello(clientHello.body, true);
    const sh = serverHello && parseHello(serverHello.body, false);
    const profile = sh?.srtpProfiles?.length === 1 ? srtpProfileFromDtlsId(sh.srtpProfiles[0] as number) : undefined;
    if (!this.remote.has(HS.finished) || master === undefined || ch === undefined || sh === undefined) {
      this.fail('protocol');
      return;
    }
    if (profile === undefined || !this.profiles.includes(profile)) {
      this.fail('no_srtp_profile');
      return;
    }
    const material = exportKeyingMaterial(master, DTLS_SRTP_EXPORTER_LABEL, ch.random, sh.random, dtlsSrtpKeyMaterialLength(profile));
    const keys = splitDtlsSrtpKeyMaterial(material, profile, this.role);
    if (!keys.ok) {
      this.fail('protocol');
      return;
    }
    this.state = 'connected';
    this.clearTimer();
    const result: DtlsConnected = { profile, keys: keys.value };
    for (const cb of this.connectedCbs) {
      try {
        cb(result);
      } catch {
        // a listener's error must not break the endpoint
      }
    }
  }

  /** Moves to 'failed', stops werift and reports `reason` once. Returns 'drop' so screens can `return this.fail()`. */
  private fail(reason: DtlsFailure): Verdict {
    if (this.state !== 'handshaking' && this.state !== 'new') return 'drop';
    this.state = 'failed';
    this.stop();
    for (const cb of this.failedCbs) {
      try {
        cb(reason);
      } catch {
        // a listener's error must not break the endpoint
      }
    }
    return 'drop';
  }

  private stop(): void {
    this.clearTimer();
    this.live = false;
    // werift's retransmission loops end when the flight counter passes the flight they wait for.
    this.socket.dtls.flight = Number.MAX_SAFE_INTEGER;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function same(a: Msg, b: Msg): boolean {
  return a.seq === b.seq && a.body.equals(b.body);
}

function bytesEqual(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a !== undefined && b !== undefined && a.equals(b);
}
