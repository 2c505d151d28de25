import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSanityStage } from '../../../src/pipeline/sanity.ts';
import { Pipeline, type Stage, type Verdict } from '../../../src/pipeline/stage.ts';
import { parseMessage } from '../../../src/sip/parser.ts';
import type { Source } from '../../../src/transport/types.ts';

const source: Source = {
  transport: 'udp',
  address: '198.51.100.7',
  port: 5060,
  listenerId: 'pub',
  localAddress: '192.0.2.1',
  localPort: 5060,
  connectionId: undefined,
  tls: undefined,
  receivedAt: 0,
};

function msg(opts: { method?: string; uri?: string; mf?: string; branch?: string } = {}) {
  const method = opts.method ?? 'INVITE';
  const text = [
    `${method} ${opts.uri ?? 'sip:100@192.0.2.1'} SIP/2.0`,
    `Via: SIP/2.0/UDP 198.51.100.7:5060;branch=${opts.branch ?? 'z9hG4bKabc'}`,
    `Max-Forwards: ${opts.mf ?? '70'}`,
    'From: <sip:alice@192.0.2.1>;tag=1',
    'To: <sip:100@192.0.2.1>',
    'Call-ID: c1',
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  assert.ok(r.ok, 'fixture parses');
  return r.value;
}

const stage = createSanityStage({
  ownBranchPrefix: 'z9hG4bKpalX',
  isForUs: (m) => m.uri().ok && (m.uri() as { ok: true; value: { user: string | undefined } }).value.user === undefined,
});
const run = (m: ReturnType<typeof msg>): Verdict => stage.run({ msg: m, source, side: 'public', now: 0, facts: {} }) as Verdict;

test('sanity verdicts', () => {
  assert.equal(run(msg()).kind, 'continue');
  assert.deepEqual(run(msg({ mf: '0' })), { kind: 'reply', status: 483, reason: 'Too Many Hops' });
  assert.equal(
    run(msg({ method: 'OPTIONS', uri: 'sip:192.0.2.1', mf: '0' })).kind,
    'continue',
    'OPTIONS to us with MF 0 is answered (§11)',
  );
  assert.deepEqual(run(msg({ branch: 'z9hG4bKpalX.1' })), { kind: 'reply', status: 482, reason: 'Loop Detected' });
  assert.deepEqual(run(msg({ uri: 'http://example.com/' })), { kind: 'reply', status: 416, reason: 'Unsupported URI Scheme' });
});

test('the pipeline stops at the first non-continue verdict and reports every stage it ran', () => {
  const seen: string[] = [];
  const a: Stage = { name: 'a', run: () => ({ kind: 'continue' }) };
  const b: Stage = { name: 'b', run: () => ({ kind: 'drop', reason: 'x' }) };
  const c: Stage = { name: 'c', run: () => assert.fail('c must not run') };
  const p = new Pipeline([a, b, c], (s, v) => seen.push(`${s}:${v.kind}`));
  const r = p.run({ msg: msg(), source, side: 'public', now: 0, facts: {} });
  assert.ok(!(r instanceof Promise), 'synchronous stages keep the run synchronous');
  assert.equal(r.stage, 'b');
  assert.equal(r.verdict.kind, 'drop');
  assert.deepEqual(seen, ['a:continue', 'b:drop']);
  assert.deepEqual(p.names, ['a', 'b', 'c']);
});

test('an asynchronous stage makes the run asynchronous and later stages still run in order', async () => {
  const seen: string[] = [];
  const a: Stage = { name: 'a', run: () => Promise.resolve({ kind: 'continue' } as Verdict) };
  const b: Stage = { name: 'b', run: () => ({ kind: 'reply', status: 403, reason: 'Forbidden' }) };
  const p = new Pipeline([a, b], (s, v) => seen.push(`${s}:${v.kind}`));
  const r = p.run({ msg: msg(), source, side: 'public', now: 0, facts: {} });
  assert.ok(r instanceof Promise);
  const done = await r;
  assert.equal(done.stage, 'b');
  assert.deepEqual(seen, ['a:continue', 'b:reply']);
  const failing = new Pipeline([{ name: 'x', run: () => Promise.reject(new Error('backend down')) }]);
  const f = await failing.run({ msg: msg(), source, side: 'public', now: 0, facts: {} });
  assert.deepEqual(
    f.verdict,
    { kind: 'reply', status: 500, reason: 'Server Internal Error' },
    'a failing stage answers 500, never crashes',
  );
});
