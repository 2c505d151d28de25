/**
 * Review tests for the daemon's alert channel: a webhook header secret read from a file is picked up on reload when
 * the file appears or changes, even though the policy text did not change; the GeoIP database in use is the one the
 * latest reload names, whatever order the opens finish in.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPolicyText } from '../../../src/config/load.ts';
import type { Policy } from '../../../src/config/schema.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { createAlertChannel, createGeoGate } from '../../../src/daemon/fraud.ts';
import { buildTestMmdb } from '../../integration/harness/mmdb.ts';

function policyWithWebhook(url: string): Policy {
  const text = `listeners:
  - transport: udp
    port: 5060
pbx:
  targets:
    - name: pbx1
      host: 127.0.0.1
alerts:
  webhook:
    url: ${url}
    retries: 0
    headers:
      Authorization: { file: token.txt }
`;
  const r = loadPolicyText(text, 'policy.yaml');
  if (!r.ok) throw new Error(`policy rejected: ${JSON.stringify(r.error)}`);
  return r.value;
}

test('a webhook header secret file that appears or is rotated is used after a reload of an unchanged policy', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-alert-review-'));
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(String(req.headers.authorization));
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const channel = createAlertChannel(policyWithWebhook(`http://127.0.0.1:${port}/hook`), {
    configDir: dir,
    clock: systemClock,
    logger: silentLogger,
    node: 'review',
  });
  t.after(async () => {
    await channel.close();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  const nextDelivery = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no webhook delivery within 3 s')), 3000);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  assert.equal(channel.stats(), undefined, 'no secret yet: webhook disabled');
  writeFileSync(join(dir, 'token.txt'), 'Bearer one\n');
  channel.reconfigure(policyWithWebhook(`http://127.0.0.1:${port}/hook`));
  assert.notEqual(channel.stats(), undefined, 'the secret file now exists: the webhook is built on reload');
  let delivered = nextDelivery();
  channel.alert({ rule: 'test.one', subject: 'user:a', action: 'alerted', severity: 'warning' });
  await delivered;
  assert.deepEqual(seen, ['Bearer one']);

  writeFileSync(join(dir, 'token.txt'), 'Bearer two\n'); // rotated
  channel.reconfigure(policyWithWebhook(`http://127.0.0.1:${port}/hook`));
  delivered = nextDelivery();
  channel.alert({ rule: 'test.two', subject: 'user:b', action: 'alerted', severity: 'warning' });
  await delivered;
  assert.deepEqual(seen, ['Bearer one', 'Bearer two']);
});

function policyWithGeo(database: string): Policy {
  const text = `listeners:
  - transport: udp
    port: 5060
pbx:
  targets:
    - name: pbx1
      host: 127.0.0.1
fraud:
  geo:
    database: ${database}
`;
  const r = loadPolicyText(text, 'policy.yaml');
  if (!r.ok) throw new Error(`policy rejected: ${JSON.stringify(r.error)}`);
  return r.value;
}

test('geo: a reload back to the database in use wins over an earlier reload whose open finishes later', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-geo-review-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await buildTestMmdb(dir, { name: 'a.mmdb' });
  await buildTestMmdb(dir, { name: 'b.mmdb', extra: ['127.0.0.2/32=IT'] });
  const gate = await createGeoGate(policyWithGeo('a.mmdb'), dir, silentLogger);
  t.after(() => gate.close());
  assert.equal(gate.countryOf('127.0.0.2'), 'DE');
  const toB = gate.reconfigure(policyWithGeo('b.mmdb'), dir); // opens b (asynchronous)
  const backToA = gate.reconfigure(policyWithGeo('a.mmdb'), dir); // a is in use: nothing to open
  await Promise.all([toB, backToA]);
  assert.equal(gate.countryOf('127.0.0.2'), 'DE', 'the policy names a.mmdb: its answers, not b’s');
  // And a reader opened after close() is not installed.
  const late = gate.reconfigure(policyWithGeo('b.mmdb'), dir);
  gate.close();
  await late;
  assert.equal(gate.countryOf('127.0.0.2'), undefined, 'closed: no database');
});

test('geo: a database replaced at the same path (geoipupdate) is read again on reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-geo-replace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await buildTestMmdb(dir, { name: 'a.mmdb' });
  const gate = await createGeoGate(policyWithGeo('a.mmdb'), dir, silentLogger);
  t.after(() => gate.close());
  assert.equal(gate.countryOf('127.0.0.2'), 'DE');
  await gate.reconfigure(policyWithGeo('a.mmdb'), dir);
  assert.equal(gate.countryOf('127.0.0.2'), 'DE', 'unchanged file: same answers');
  await new Promise((r) => setTimeout(r, 20)); // a later mtime
  await buildTestMmdb(dir, { name: 'a.mmdb', extra: ['127.0.0.2/32=IT'] });
  await gate.reconfigure(policyWithGeo('a.mmdb'), dir);
  assert.equal(gate.countryOf('127.0.0.2'), 'IT', 'the replaced file is in use');
});
