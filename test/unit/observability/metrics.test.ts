import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { createMetrics, isMetricName, methodLabel, SIP_METHOD_LABELS, startMetricsServer } from '../../../src/observability/metrics.ts';

function httpGet(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Series lines `name{labels} value` → map name{labels} → value. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics registry', () => {
  it('names every metric palisade_<area>_<name> and prefixes process metrics', async () => {
    const m = createMetrics();
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    assert.ok(names.length > 10);
    for (const n of names) assert.ok(isMetricName(n), `bad metric name ${n}`);
    assert.ok(names.includes('palisade_process_process_cpu_user_seconds_total'));
    for (const n of [
      'palisade_sip_messages_total',
      'palisade_sip_parse_errors_total',
      'palisade_proxy_transactions_total',
      'palisade_proxy_transactions_active',
      'palisade_proxy_dialogs_active',
      'palisade_registrar_registrations_active',
      'palisade_pipeline_verdicts_total',
      'palisade_pbx_up',
      'palisade_policy_reloads_total',
    ]) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
  });

  it('folds unknown and lower-case methods to other', async () => {
    assert.equal(methodLabel('INVITE'), 'INVITE');
    assert.equal(methodLabel('invite'), 'other');
    assert.equal(methodLabel('X-ATTACK-1.2.3.4'), 'other');
    const m = createMetrics();
    m.countSipMessage({ method: 'INVITE', direction: 'in', transport: 'udp', side: 'public', kind: 'request' });
    m.countSipMessage({ method: 'FOO', direction: 'in', transport: 'udp', side: 'public', kind: 'request' });
    m.countSipMessage({ method: 'BAR', direction: 'in', transport: 'udp', side: 'public', kind: 'request' });
    const s = series(await m.scrape());
    assert.equal(s.get('palisade_sip_messages_total{method="INVITE",direction="in",transport="udp",side="public",kind="request"}'), 1);
    assert.equal(s.get('palisade_sip_messages_total{method="other",direction="in",transport="udp",side="public",kind="request"}'), 2);
    assert.ok(![...s.keys()].some((k) => k.includes('FOO') || k.includes('BAR')));
  });

  it('keeps every label combination apart (flat counter table round-trips its labels)', async () => {
    const m = createMetrics();
    const methods = [...SIP_METHOD_LABELS.filter((x) => x !== 'other'), 'FOO'];
    let expected = 0;
    for (const method of methods)
      for (const direction of ['in', 'out'] as const)
        for (const transport of ['udp', 'tcp', 'tls', 'ws', 'wss'] as const)
          for (const side of ['public', 'pbx'] as const)
            for (const kind of ['request', 'response'] as const) {
              m.countSipMessage({ method, direction, transport, side, kind });
              expected++;
            }
    m.countSipMessage({ method: 'BYE', direction: 'out', transport: 'ws', side: 'pbx', kind: 'response' });
    const s = [...series(await m.scrape())].filter(([k]) => k.startsWith('palisade_sip_messages_total{'));
    assert.equal(s.length, expected);
    for (const [k, v] of s) {
      const want = k === 'palisade_sip_messages_total{method="BYE",direction="out",transport="ws",side="pbx",kind="response"}' ? 2 : 1;
      assert.equal(v, want, k);
    }
  });

  it('counts the typed helpers with their labels and zero-initialises closed sets', async () => {
    const m = createMetrics();
    let s = series(await m.scrape());
    assert.equal(s.get('palisade_proxy_transactions_total{type="invite_server"}'), 0);
    assert.equal(s.get('palisade_policy_reloads_total{result="error"}'), 0);
    m.countSipParseError('SIP_BAD_VIA');
    m.countTransaction('invite_client');
    m.setTransactionsActive('invite_client', 3);
    m.setDialogsActive(7);
    m.setRegistrationsActive(11);
    m.countPipelineVerdict('sanity', 'drop');
    m.countPipelineVerdict('sanity', 'drop');
    m.setPbxUp('pbx1', true);
    m.setPbxUp('pbx2', false);
    m.countPolicyReload('ok');
    s = series(await m.scrape());
    assert.equal(s.get('palisade_sip_parse_errors_total{code="SIP_BAD_VIA"}'), 1);
    assert.equal(s.get('palisade_proxy_transactions_total{type="invite_client"}'), 1);
    assert.equal(s.get('palisade_proxy_transactions_active{type="invite_client"}'), 3);
    assert.equal(s.get('palisade_proxy_dialogs_active'), 7);
    assert.equal(s.get('palisade_registrar_registrations_active'), 11);
    assert.equal(s.get('palisade_pipeline_verdicts_total{stage="sanity",verdict="drop"}'), 2);
    assert.equal(s.get('palisade_pbx_up{target="pbx1"}'), 1);
    assert.equal(s.get('palisade_pbx_up{target="pbx2"}'), 0);
    assert.equal(s.get('palisade_policy_reloads_total{result="ok"}'), 1);
  });

  it('caps free-form label values (stage, target) and folds the excess to other', async () => {
    const m = createMetrics();
    for (let i = 0; i < 100; i++) m.countPipelineVerdict(`stage${i}`, 'continue');
    const keys = [...series(await m.scrape()).keys()].filter((k) => k.startsWith('palisade_pipeline_verdicts_total'));
    assert.equal(keys.length, 65);
    assert.ok(keys.includes('palisade_pipeline_verdicts_total{stage="other",verdict="continue"}'));
  });

  it('reads sampled counters and collect callbacks at scrape time', async () => {
    const m = createMetrics();
    const stats = { datagramsIn: 5, connectionsOpen: 2 };
    m.addSampled({
      name: 'palisade_transport_datagrams_in_total',
      help: 'datagrams received',
      type: 'counter',
      read: () => stats.datagramsIn,
    });
    m.addSampled({
      name: 'palisade_transport_connections_open',
      help: 'open connections',
      type: 'gauge',
      labelNames: ['transport'],
      read: () => [
        { labels: { transport: 'tcp' }, value: stats.connectionsOpen },
        { labels: { transport: 'tls' }, value: 1 },
      ],
    });
    let dialogs = 4;
    const off = m.onCollect(() => m.setDialogsActive(dialogs));
    let s = series(await m.scrape());
    assert.equal(s.get('palisade_transport_datagrams_in_total'), 5);
    assert.equal(s.get('palisade_transport_connections_open{transport="tcp"}'), 2);
    assert.equal(s.get('palisade_proxy_dialogs_active'), 4);
    stats.datagramsIn = 9;
    stats.connectionsOpen = 0;
    dialogs = 6;
    s = series(await m.scrape());
    assert.equal(s.get('palisade_transport_datagrams_in_total'), 9);
    assert.equal(s.get('palisade_transport_connections_open{transport="tcp"}'), 0);
    assert.equal(s.get('palisade_proxy_dialogs_active'), 6);
    off();
    dialogs = 99;
    s = series(await m.scrape());
    assert.equal(s.get('palisade_proxy_dialogs_active'), 6);
  });

  it('refuses sampled metrics with bad names', () => {
    const m = createMetrics();
    assert.throws(() => m.addSampled({ name: 'udp_in', help: 'x', type: 'gauge', read: () => 1 }), RangeError);
    assert.throws(() => m.addSampled({ name: 'palisade_transport_in', help: 'x', type: 'counter', read: () => 1 }), RangeError);
  });

  it('a throwing collect callback does not break the scrape', async () => {
    const m = createMetrics();
    m.onCollect(() => {
      throw new Error('boom');
    });
    m.setDialogsActive(2);
    assert.equal(series(await m.scrape()).get('palisade_proxy_dialogs_active'), 2);
  });
});

describe('metrics server', () => {
  it('serves GET on the path over a real socket, 404 elsewhere, 405 for other methods', async () => {
    const m = createMetrics();
    m.countSipMessage({ method: 'WEIRD', direction: 'out', transport: 'tls', side: 'pbx', kind: 'response' });
    const srv = await startMetricsServer(m, { address: '127.0.0.1', port: 0, path: '/metrics' });
    try {
      assert.ok(srv.port > 0);
      const ok = await httpGet(srv.port, '/metrics');
      assert.equal(ok.status, 200);
      assert.match(ok.type, /^text\/plain/);
      assert.match(ok.body, /palisade_sip_messages_total\{method="other",direction="out",transport="tls",side="pbx",kind="response"\} 1/);
      assert.match(ok.body, /^palisade_process_process_cpu_user_seconds_total \d/m);
      assert.equal((await httpGet(srv.port, '/metrics?x=1')).status, 200);
      assert.equal((await httpGet(srv.port, '/')).status, 404);
      assert.equal((await httpGet(srv.port, '/metricsx')).status, 404);
      assert.equal((await httpGet(srv.port, '/metrics', 'POST')).status, 405);
    } finally {
      await srv.close();
    }
  });

  it('rejects when the port is taken', async () => {
    const m = createMetrics();
    const a = await startMetricsServer(m, { address: '127.0.0.1', port: 0, path: '/metrics' });
    try {
      await assert.rejects(startMetricsServer(m, { address: '127.0.0.1', port: a.port, path: '/metrics' }), {
        code: 'EADDRINUSE',
      });
    } finally {
      await a.close();
    }
  });
});
