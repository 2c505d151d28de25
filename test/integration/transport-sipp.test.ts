/**
 * SIPp (a real SIP stack) registers through the listeners over UDP and TCP; a minimal registrar in the test
 * answers each REGISTER with 200 through `send`, so framing, flow reuse and replies are checked against a peer
 * that is not ours.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Source } from '../../src/transport/types.ts';
import { type Harness, startHarness } from '../unit/transport/harness.ts';
import { runSipp } from './harness/sipp.ts';

/** 200 OK mirroring the dialog-identifying headers of a request (RFC 3261 §8.2.6.2). */
function okFor(request: string): Buffer | undefined {
  const lines = request.split('\r\n');
  const pick = (name: string): string[] => lines.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  const to = pick('To')[0];
  if (to === undefined || !request.startsWith('REGISTER ')) return undefined;
  const headers = [
    ...pick('Via'),
    ...pick('From'),
    `${to};tag=reg1`,
    ...pick('Call-ID'),
    ...pick('CSeq'),
    ...pick('Contact').map((c) => `${c};expires=300`),
    'Content-Length: 0',
  ];
  return Buffer.from(`SIP/2.0 200 OK\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
}

async function registrar(): Promise<{ h: Harness; replies: () => number }> {
  let replies = 0;
  let mgr: Harness['mgr'] | undefined;
  const h = await startHarness(
    [
      { id: 'udp', transport: 'udp' },
      { id: 'tcp', transport: 'tcp' },
    ],
    {},
    {
      onMessage: (bytes: Buffer, source: Source) => {
        const ok = okFor(bytes.toString('latin1'));
        if (ok === undefined || mgr === undefined) return;
        const r = mgr.send(
          {
            transport: source.transport,
            address: source.address,
            port: source.port,
            connectionId: source.connectionId,
            listenerId: source.listenerId,
          },
          ok,
        );
        if (r === 'sent') replies++;
      },
    },
  );
  mgr = h.mgr;
  return { h, replies: () => replies };
}

describe('SIPp through the listeners', () => {
  for (const transport of ['u1', 't1', 'tn'] as const) {
    it(`registers 30 times over ${transport}`, async () => {
      const { h, replies } = await registrar();
      try {
        const port = h.port(transport === 'u1' ? 'udp' : 'tcp');
        const r = await runSipp({
          scenario: 'uac-register.xml',
          transport,
          remote: `127.0.0.1:${port}`,
          service: 'alice',
          rate: 30,
          maxCalls: 30,
          callLimit: 10,
          wallTimeoutMs: 15_000,
          recvTimeoutMs: 3000,
        });
        assert.equal(r.outcome, 'all-succeeded', `${r.stderr}\n${r.stdout.slice(-500)}`);
        assert.equal(r.successful, 30);
        assert.equal(replies(), 30);
        const s = h.mgr.stats();
        assert.equal(s.framingErrors, 0);
        if (transport === 't1') assert.equal(s.connectionsAccepted, 1, 'one connection reused for every REGISTER');
        if (transport === 'tn') assert.equal(s.connectionsAccepted, 30);
      } finally {
        await h.close();
      }
    });
  }
});
