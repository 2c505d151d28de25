/**
 * Media policy applied to offers by the proxy's media anchor (real MediaControl, real relay sockets): the codec
 * allow-list (media.codecs) removes other codecs from offers in both directions, an offer left with none gets 488,
 * and media.video: refuse disables video sections (port 0) while audio passes. Through the daemon: an offer with no
 * allowed codec gets 488 and never reaches the PBX.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MediaControl } from '../../src/media/control.ts';
import type { MediaAnchor } from '../../src/proxy/media-anchor.ts';
import { attributeValues, parseSdp, type Sdp } from '../../src/sdp/index.ts';
import { testPortRange } from '../unit/media/helpers.ts';
import { INSIDE_IP, type InProcessDaemon, PBX_IP, PUBLIC_IP, startInProcess, type TempDir, tempDir } from './helpers/daemon.ts';
import { fakeCall } from './helpers/fake-call.ts';
import { loopbackAnchor, loopbackControl } from './helpers/loopback-media.ts';
import { type UdpPeer, udpPeer } from './helpers/peers.ts';
import { branch, request, sdp } from './helpers/sip-text.ts';

const CT = 'application/sdp';

/** Plain RTP (the client is plain-allowed here): audio PCMU, PCMA, G729, telephone-event; optional video. */
function offer(video: boolean): Buffer {
  let s =
    'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
    'm=audio 40000 RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n' +
    'a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n';
  if (video) s += 'm=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f\r\n';
  return Buffer.from(s);
}

function parsed(body: Buffer): Sdp {
  const r = parseSdp(body);
  assert.ok(r.ok);
  return r.value;
}

describe('media policy on offers', () => {
  let control: MediaControl;
  let anchor: MediaAnchor;
  let policy: { codecs?: string[]; video: 'pass' | 'refuse' } = { video: 'pass' };

  before(() => {
    control = loopbackControl({ ...testPortRange(40) });
    anchor = loopbackAnchor(control, { plainAllowedFrom: { has: () => true }, offerPolicy: () => policy });
  });
  after(async () => {
    anchor.close();
    await control.close();
  });

  async function rewrite(from: 'public' | 'pbx', body: Buffer, call = fakeCall()) {
    if (!call.media) assert.equal(await anchor.prepare(call, body, CT), true);
    return { r: anchor.rewrite(call, from, body, CT), call };
  }

  it('without a codec list every codec passes, and video passes', async () => {
    policy = { video: 'pass' };
    const { r } = await rewrite('public', offer(true));
    assert.ok(r.ok);
    const out = parsed(r.body);
    assert.deepEqual(out.media[0]?.formats, ['0', '8', '18', '101']);
    assert.notEqual(out.media[1]?.port, 0);
  });

  it('the allow-list removes other codecs (with their rtpmap/fmtp) from a client offer', async () => {
    policy = { codecs: ['PCMA', 'telephone-event'], video: 'pass' };
    const { r } = await rewrite('public', offer(false));
    assert.ok(r.ok);
    const a = parsed(r.body).media[0];
    assert.deepEqual(a?.formats, ['8', '101']);
    assert.deepEqual(attributeValues(a?.attributes ?? [], 'rtpmap'), ['8 PCMA/8000', '101 telephone-event/8000']);
    assert.deepEqual(attributeValues(a?.attributes ?? [], 'fmtp'), ['101 0-16']);
  });

  it('applies to offers from the PBX too', async () => {
    policy = { codecs: ['pcmu'], video: 'pass' };
    const { r } = await rewrite('pbx', offer(false));
    assert.ok(r.ok);
    assert.deepEqual(parsed(r.body).media[0]?.formats, ['0']);
  });

  it('an offer left with no allowed codec gets 488 (telephone-event alone is no codec)', async () => {
    policy = { codecs: ['opus', 'telephone-event'], video: 'pass' };
    const { r } = await rewrite('public', offer(false));
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.status === 488 && /No Common Codec/.test(r.reason));
  });

  it('video: refuse disables the video section (port 0) and keeps audio; the answer is not filtered again', async () => {
    policy = { video: 'refuse' };
    const { r, call } = await rewrite('public', offer(true));
    assert.ok(r.ok);
    const out = parsed(r.body);
    assert.equal(out.media.length, 2, 'the m= line stays (RFC 3264 §6)');
    assert.notEqual(out.media[0]?.port, 0);
    assert.equal(out.media[1]?.port, 0);
    assert.deepEqual(attributeValues(out.media[1]?.attributes ?? [], 'rtpmap'), []);
    // The PBX answers audio only (video rejected): passes back unchanged in shape.
    const answer = Buffer.from(
      'v=0\r\no=- 2 1 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\n' +
        'm=audio 30000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\nm=video 0 RTP/AVP 96\r\n',
    );
    const back = anchor.rewrite(call, 'pbx', answer, CT);
    assert.ok(back.ok);
    const toClient = parsed(back.body);
    assert.deepEqual(toClient.media[0]?.formats, ['8']);
    assert.equal(toClient.media[1]?.port, 0);
  });
});

describe('media policy through the daemon', () => {
  let d: InProcessDaemon;
  let dir: TempDir;
  let pbx: UdpPeer;
  let phone: UdpPeer;

  before(async () => {
    pbx = await udpPeer(PBX_IP);
    phone = await udpPeer('127.0.0.51');
    dir = tempDir('media-policy');
    const base = 10000 + 2 * Math.floor(Math.random() * 4500);
    d = await startInProcess(
      dir,
      `
node: { dataDir: ${dir.path}/data }
listeners:
  - { id: pub, transport: udp, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
auth: { mode: pbx }
security: { flood: { enabled: false } }
metrics: { enabled: false }
logging: { level: silent }
media: { portMin: ${base}, portMax: ${base + 99}, plainAllowedFrom: ['127.0.0.0/8'], codecs: [G722, telephone-event] }
`,
    );
  });
  after(async () => {
    await d?.stop();
    await pbx?.close();
    await phone?.close();
    dir?.remove();
  });

  it('an offer with no codec from media.codecs gets 488 and never reaches the PBX', async () => {
    const invite = request({
      method: 'INVITE',
      uri: `sip:100@${PUBLIC_IP}`,
      via: `SIP/2.0/UDP ${phone.ip}:${phone.port}`,
      branch: branch('codec'),
      from: `<sip:alice@${PUBLIC_IP}>;tag=a1`,
      to: `<sip:100@${PUBLIC_IP}>`,
      callId: `codec-${Date.now()}@test`,
      cseq: 1,
      contact: `<sip:alice@${phone.ip}:${phone.port}>`,
      body: sdp(phone.ip, 40000), // PCMU only
    });
    phone.send(invite, d.port('pub'), PUBLIC_IP);
    const reply = await phone.inbox.next((m) => m.startsWith('SIP/2.0') && !m.startsWith('SIP/2.0 100'), 3000, 'final answer');
    assert.match(reply, /^SIP\/2\.0 488 No Common Codec/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(pbx.inbox.all.filter((m) => m.startsWith('INVITE')).length, 0);
  });
});
