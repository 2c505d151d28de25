/**
 * Composition root: the only module that wires the others together.
 * listeners → gate → parse → proxy core (B2BUA-lite) → listeners, plus policy reload, PBX probing,
 * metrics, admin API and signal handling.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { startAdminHttps } from './admin/https.ts';
import { createFraudRoutes } from './admin/routes-fraud.ts';
import { createSecurityRoutes } from './admin/routes-security.ts';
import { startAdminServer } from './admin/server.ts';
import { formatIssue, loadPolicyFile } from './config/load.ts';
import { createPolicyHolder, type PolicyHolder } from './config/reloader.ts';
import { systemClock } from './core/clock.ts';
import { PalisadeError } from './core/errors.ts';
import type { Logger } from './core/log.ts';
import type { SipTransport } from './core/net.ts';
import { countOut } from './daemon/count-out.ts';
import { createAlertChannel, createCallAuthorization, createGeoGate } from './daemon/fraud.ts';
import { type FraudBlockStore, openFraudBlockStore } from './daemon/fraud-block-store.ts';
import { loadOrCreateSecret, proxySettings, resolveListener, resolveTargets, resolveTls, selfSignedIn } from './daemon/resolve.ts';
import { createMediaControl } from './media/control.ts';
import { createDtlsProvider } from './media/dtls-provider.ts';
import { banAuditHooks, createAuditLog } from './observability/audit.ts';
import { createLogger } from './observability/logger.ts';
import { addCounterRecord, createMetrics, startMetricsServer } from './observability/metrics.ts';
import { createSanityStage } from './pipeline/sanity.ts';
import { Pipeline } from './pipeline/stage.ts';
import { B2bua } from './proxy/b2bua.ts';
import { createMediaAnchor } from './proxy/media-anchor.ts';
import { PbxPool } from './proxy/pbx-pool.ts';
import { PbxProber } from './proxy/pbx-prober.ts';
import { BRANCH_PREFIX, isAddressedToUs } from './proxy/topology.ts';
import { CidrSet, sourceKey } from './security/cidr.ts';
import { createDefences } from './security/defences.ts';
import { type KernelBans, openKernelBans } from './security/kernel-bans.ts';
import { parseMessage } from './sip/parser.ts';
import type { SipLimits, SipMessage } from './sip/types.ts';
import { createTransportManager, type ResolvedListener } from './transport/manager.ts';
import type { Source, Target, TransportManager } from './transport/types.ts';

export const PBX_LISTENER_ID = 'pbx';
export const VERSION = '0.1.0';

export interface Daemon {
  stop(reason?: string): Promise<void>;
  /** What SIGTERM does: refuse new calls (503), let established dialogs finish for shutdown.drainMs, then stop. */
  drain(): Promise<void>;
  /** Resolves when the daemon has stopped (signal or stop()). */
  readonly stopped: Promise<void>;
  status(): DaemonStatus;
}

export interface DaemonStatus {
  version: string;
  pid: number;
  uptimeSeconds: number;
  draining: boolean;
  policy: { file: string; lastReload: unknown };
  listeners: Array<{ id: string; transport: SipTransport; address: string; port: number }>;
  pbx: Array<{ name: string; up: boolean; host: string; port: number; transport: string }>;
  dialogs: number;
  registrations: number;
  transactions: number;
  bans: number;
  counters: Record<string, number>;
}

export async function startDaemon(opts: { configPath: string; logger?: Logger; installSignalHandlers?: boolean }): Promise<Daemon> {
  const configPath = resolve(opts.configPath);
  const loaded = loadPolicyFile(configPath);
  if (!loaded.ok) {
    throw new PalisadeError('CONFIG_INVALID', { issues: loaded.error.map(formatIssue) }, loaded.error.map(formatIssue).join('\n'));
  }
  let policy = loaded.value;
  const log = opts.logger ?? createLogger(policy.logging.level);
  const clock = systemClock;
  const startedAt = clock.now();
  const configDir = dirname(configPath);
  // Relative paths in the policy resolve against the policy file's directory (config/README.md).
  const dataDir = resolve(configDir, policy.node.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = loadOrCreateSecret(join(dataDir, 'node.key'));

  const publicListeners = policy.listeners.map((l) => resolveListener(l, 'public', dataDir, configDir, log));
  const pbxListen = policy.pbx.listen;
  const pbxListener: ResolvedListener = {
    id: PBX_LISTENER_ID,
    role: 'pbx',
    transport: pbxListen.transport,
    address: pbxListen.address,
    port: pbxListen.port,
    ...(pbxListen.transport === 'tls' ? { tls: resolveTls(pbxListen.tls, dataDir, configDir, log) } : {}),
  };
  const targets = await resolveTargets(policy);
  const pool = new PbxPool(targets, policy.pbx.probe, PBX_LISTENER_ID, clock.now());
  const metrics = createMetrics();
  pool.onChange = (s) => {
    metrics.setPbxUp(s.config.name, s.up);
    log.warn({ pbx: s.config.name, up: s.up }, s.up ? 'PBX is up' : 'PBX is down');
  };
  for (const s of pool.all()) metrics.setPbxUp(s.config.name, s.up);

  const mediaPolicy = policy.media;
  const pbxMediaAddress = mediaPolicy.pbxAddress ?? pbxListen.address;
  const mediaControl = createMediaControl({
    publicAddress: mediaPolicy.publicAddress,
    ...(mediaPolicy.advertise !== undefined ? { publicAdvertiseAddress: mediaPolicy.advertise } : {}),
    pbxAddress: pbxMediaAddress,
    portMin: mediaPolicy.portMin,
    portMax: mediaPolicy.portMax,
    maxSessions: mediaPolicy.maxSessions,
    quarantineMs: mediaPolicy.portQuarantine,
    clock,
    logger: log.child({ mod: 'media' }),
    maxPacketRate: mediaPolicy.maxPacketRate,
    dtls: await createDtlsProvider(),
  });
  let plainAllowed = new CidrSet(mediaPolicy.plainAllowedFrom);
  const media = createMediaAnchor(mediaControl, {
    publicAdvertise: mediaPolicy.advertise ?? mediaPolicy.publicAddress,
    pbxAdvertise: pbxMediaAddress,
    plainAllowedFrom: { has: (a) => plainAllowed.has(a) },
    inactivityTimeoutMs: mediaPolicy.inactivityTimeout,
    offerPolicy: () => policy.media,
    clock,
  });

  let transport: TransportManager | undefined;
  let localHosts = proxySettings(policy).localHosts;
  const isForUs = (m: SipMessage): boolean => isAddressedToUs(m, localHosts, transport?.listeners() ?? []);
  // Stream connections per source address, so a ban can cut the ones already open (bounded by the connection caps).
  const connsByAddress = new Map<string, Set<number>>();
  const audit = createAuditLog({ path: join(dataDir, 'audit.log'), logger: log.child({ mod: 'audit' }), clock });
  const auditBans = banAuditHooks(audit);
  let kernelBans: KernelBans | undefined;
  const alertChannel = createAlertChannel(policy, { configDir, clock, logger: log.child({ mod: 'alerts' }), node: hostname() });
  const geo = await createGeoGate(policy, dataDir, log.child({ mod: 'geo' }));
  const defences = await createDefences(policy, {
    clock,
    logger: log.child({ mod: 'security' }),
    dataDir,
    secret,
    isForUs,
    ourHosts: () => localHosts,
    events: {
      onBan: (ban) => {
        auditBans.onBan(ban);
        kernelBans?.add(ban.target, ban.expiresAt);
        if (ban.source !== 'manual')
          alertChannel.alert({ rule: `ban.${ban.reason}`, subject: ban.target, action: 'banned the source', severity: 'warning' });
        for (const [address, ids] of connsByAddress) {
          const hit =
            ban.kind === 'address' ? address === ban.target || sourceKey(address) === ban.target : defences.bans.isBanned(address);
          if (!hit) continue;
          for (const id of ids) transport?.closeConnection(id);
        }
      },
      onUnban: (ban, why) => {
        auditBans.onUnban(ban, why);
        kernelBans?.remove(ban.target);
      },
    },
  });
  const send = (target: Target, bytes: Buffer): boolean => {
    if (!transport) return false;
    // A banned source hears nothing more, not even retransmissions of answers it was owed (Timer G).
    if (target.listenerId !== PBX_LISTENER_ID && defences.isBanned(target.address)) return false;
    const r = transport.send(target, bytes);
    countOut(metrics, bytes, target, PBX_LISTENER_ID);
    return r === 'sent' || r === 'queued';
  };
  let limits: SipLimits = policy.limits.sip;
  // Anomaly blocks (block_user) survive a restart like bans: fraud-blocks.json in the data directory.
  let fraudBlocks: FraudBlockStore | undefined;
  // Cheapest first (Kamailio's default order): scanner fingerprints, structural sanity, then digest.
  const callAuth = createCallAuthorization(policy, {
    logger: log.child({ mod: 'fraud' }),
    audit,
    wallNow: () => clock.wallNow(),
    banSource: (address, forMs, why) => {
      const r = defences.bans.ban(address, { forMs, reason: why });
      if (!r.ok) log.warn({ address, why }, 'fraud ban refused (allow-listed?)');
    },
    sourceCountry: (address) => geo.countryOf(address),
    alerts: () => alertChannel,
    onBlocksChanged: () => fraudBlocks?.schedule(),
  });
  fraudBlocks = await openFraudBlockStore({
    dir: dataDir,
    clock,
    snapshot: () => callAuth.blocks(),
    maxEntries: policy.fraud.anomaly.maxSubjects,
    logger: log.child({ mod: 'fraud' }),
    into: callAuth,
  });
  const pipeline = new Pipeline(
    [defences.scannerStage, createSanityStage({ ownBranchPrefix: BRANCH_PREFIX, isForUs }), geo.stage, defences.authStage, callAuth.stage],
    (stage, v) => metrics.countPipelineVerdict(stage, v.kind),
  );

  const proxy = new B2bua(proxySettings(policy), {
    clock,
    logger: log.child({ mod: 'proxy' }),
    send,
    listeners: () => transport?.listeners() ?? [],
    pool,
    media,
    secret,
    isConnectionOpen: (id) => transport?.isConnectionOpen(id) ?? false,
    pipeline,
    onCredentialsRefusedByPbx: (source, user) => defences.offence(source.address, 'auth_failure', user),
    onCallEnded: (e) => callAuth.onCallEnded(e),
    onCallTerminated: (call, reason) => callAuth.onCallTerminated(call, reason),
  });
  const trackConnection = (address: string, id: number): void => {
    let ids = connsByAddress.get(address);
    if (!ids) {
      ids = new Set();
      connsByAddress.set(address, ids);
    }
    ids.add(id);
  };
  const untrackConnection = (address: string, id: number): void => {
    const ids = connsByAddress.get(address);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) connsByAddress.delete(address);
  };
  const onMessage = (bytes: Buffer, source: Source): void => {
    const side = source.listenerId === PBX_LISTENER_ID ? 'pbx' : 'public';
    if (side === 'public') {
      if (!defences.gate.admitMessage(source.address, bytes)) return;
      if (source.connectionId !== undefined) trackConnection(source.address, source.connectionId);
    }
    // Streams need Content-Length for framing (RFC 3261 §18.3); a WebSocket frame delimits the message itself (RFC 7118 §5).
    const r = parseMessage(bytes, { limits, stream: source.transport === 'tcp' || source.transport === 'tls' });
    if (!r.ok) {
      metrics.countSipParseError(r.error.code);
      if (side === 'public') defences.offence(source.address, 'malformed');
      return; // silent drop: an attacker learns nothing from garbage
    }
    const msg = r.value;
    const cseq = msg.isRequest ? undefined : msg.cseq();
    const method = msg.method ?? (cseq?.ok ? cseq.value.method : 'other');
    metrics.countSipMessage({ method, direction: 'in', transport: source.transport, side, kind: msg.isRequest ? 'request' : 'response' });
    proxy.handle(msg, source, side);
  };

  transport = await createTransportManager({
    listeners: [...publicListeners, pbxListener],
    limits: { maxMessageBytes: policy.limits.sip.maxMessageBytes, ...policy.limits.connections },
    events: {
      onMessage,
      onConnectionClosed: (id, source) => {
        untrackConnection(source.address, id);
        proxy.onConnectionClosed(id);
      },
      accept: (_t, address) => defences.gate.admitSource(address),
    },
    clock,
    logger: log.child({ mod: 'transport' }),
  });
  const tm = transport;

  if (policy.security.bans.kernel.enabled) {
    const pub = tm.listeners().filter((l) => l.id !== PBX_LISTENER_ID);
    const k = await openKernelBans({
      nft: policy.security.bans.kernel.nft,
      table: policy.security.bans.kernel.table,
      udpPorts: pub.filter((l) => l.transport === 'udp').map((l) => l.port),
      tcpPorts: pub.filter((l) => l.transport !== 'udp').map((l) => l.port),
      logger: log.child({ mod: 'kernel-bans' }),
      wallNow: () => clock.wallNow(),
    });
    if (k.ok) {
      kernelBans = k.value;
      for (const b of defences.bans.list()) kernelBans.add(b.target, b.expiresAt);
      log.info({ table: policy.security.bans.kernel.table }, 'bans offloaded to the kernel (nftables)');
    } else {
      log.error({ reason: k.error }, 'kernel ban offload unavailable: the gate alone enforces bans');
    }
  }

  const prober = new PbxProber({ clock, pool, txns: proxy.txns, listener: () => tm.listeners().find((l) => l.id === PBX_LISTENER_ID) });
  prober.start();

  metrics.onCollect(() => {
    const s = proxy.snapshot();
    metrics.setDialogsActive(s.dialogs);
    metrics.setRegistrationsActive(s.registrations);
  });
  metrics.addSampled({
    name: 'palisade_proxy_events_total',
    help: 'Proxy core events by kind',
    type: 'counter',
    labelNames: ['event'],
    read: () => Object.entries(proxy.counters).map(([event, value]) => ({ labels: { event }, value })),
  });
  metrics.addSampled({
    name: 'palisade_transport_events_total',
    help: 'Listener events by kind',
    type: 'counter',
    labelNames: ['event'],
    read: () =>
      Object.entries(tm.stats())
        .filter(([k]) => k !== 'connectionsOpen')
        .map(([event, value]) => ({ labels: { event }, value })),
  });
  metrics.addSampled({
    name: 'palisade_transport_connections_open',
    help: 'Open stream connections',
    type: 'gauge',
    read: () => tm.stats().connectionsOpen,
  });
  metrics.addSampled({
    name: 'palisade_sip_transactions_active',
    help: 'Transactions in memory',
    type: 'gauge',
    labelNames: ['role'],
    read: () => [
      { labels: { role: 'server' }, value: proxy.txns.activeServers },
      { labels: { role: 'client' }, value: proxy.txns.activeClients },
    ],
  });
  // Attack defences: bounded label sets only (reasons, rules, offence kinds — never an address or a user).
  const sec = defences.counters;
  addCounterRecord(metrics, 'palisade_gate_dropped_total', 'Packets and connections dropped at the gate, by reason', 'reason', () => ({
    ...defences.gate.counters,
  }));
  addCounterRecord(metrics, 'palisade_auth_challenges_total', 'Digest challenges sent', 'kind', () => ({ challenge: sec.auth.challenges }));
  addCounterRecord(metrics, 'palisade_auth_results_total', 'Digest authentication outcomes', 'result', () => ({
    ok: sec.auth.successes,
    trusted_peer: sec.auth.trusted,
    backend_unavailable: sec.auth.unavailable,
    ...sec.auth.failures,
  }));
  addCounterRecord(metrics, 'palisade_auth_backend_events_total', 'HTTP credential backend events', 'event', () => ({
    ...sec.authBackend,
  }));
  addCounterRecord(
    metrics,
    'palisade_fraud_decisions_total',
    'Call authorization decisions, by rule (allowed or why refused)',
    'rule',
    () => callAuth.decisions,
  );
  addCounterRecord(metrics, 'palisade_fraud_anomalies_total', 'Anomaly findings and destination alerts', 'kind', () => ({
    anomaly: callAuth.stats.anomalies,
    alert: callAuth.stats.alerts,
  }));
  addCounterRecord(
    metrics,
    'palisade_calls_terminated_total',
    'Calls Palisade hung up itself (BYE both ways), by reason',
    'reason',
    () => callAuth.terminations,
  );
  addCounterRecord(metrics, 'palisade_security_offences_total', 'Offences counted toward bans, by kind', 'kind', () => sec.offences);
  addCounterRecord(metrics, 'palisade_security_scanner_total', 'Scanner fingerprints matched, by rule', 'rule', () => sec.scanner);
  addCounterRecord(metrics, 'palisade_bans_added_total', 'Bans added, by reason (manual for operator bans)', 'reason', () => sec.bansAdded);
  addCounterRecord(metrics, 'palisade_bans_lifted_total', 'Bans lifted, by why', 'why', () => sec.bansLifted);
  addCounterRecord(
    metrics,
    'palisade_bans_active',
    'Bans in force',
    'kind',
    () => {
      const b = defences.bans.stats();
      return { address: b.bans, cidr: b.rangeBans };
    },
    'gauge',
  );
  addCounterRecord(metrics, 'palisade_flood_limiter_total', 'Flood limiter decisions', 'result', () => {
    const l = defences.limiter()?.stats();
    return l ? { ok: l.ok, limited: l.limited, global_limited: l.globalLimited, fair_share: l.fairShareRefusals, floods: l.floods } : {};
  });
  const metricsServer = policy.metrics.enabled ? await startMetricsServer(metrics, policy.metrics) : undefined;

  const holder: PolicyHolder = createPolicyHolder(configPath, policy, {
    logger: log.child({ mod: 'config' }),
    watch: true,
    onChange: (next) => {
      policy = next;
      plainAllowed = new CidrSet(next.media.plainAllowedFrom);
      mediaControl.setMaxPacketRate(next.media.maxPacketRate);
      media.setInactivityTimeout(next.media.inactivityTimeout);
      limits = next.limits.sip;
      defences.reconfigure(next);
      callAuth.reconfigure(next);
      alertChannel.reconfigure(next);
      void geo.reconfigure(next, dataDir);
      proxy.reconfigure(proxySettings(next));
      localHosts = proxySettings(next).localHosts;
      void resolveTargets(next).then((t) => pool.reconfigure(t, next.pbx.probe, PBX_LISTENER_ID, clock.now()));
      metrics.countPolicyReload('ok');
      log.info({}, 'policy reloaded');
    },
  });

  const status = (): DaemonStatus => {
    const s = proxy.snapshot();
    return {
      version: VERSION,
      pid: process.pid,
      uptimeSeconds: Math.round((clock.now() - startedAt) / 1000),
      draining: proxy.draining,
      policy: { file: configPath, lastReload: holder.lastReload() ?? null },
      listeners: tm.listeners().map((l) => ({ id: l.id, transport: l.transport, address: l.address, port: l.port })),
      pbx: pool
        .all()
        .map((p) => ({ name: p.config.name, up: p.up, host: p.config.host, port: p.config.port, transport: p.config.transport })),
      dialogs: s.dialogs,
      registrations: s.registrations,
      transactions: s.serverTxns + s.clientTxns,
      bans: defences.bans.stats().bans + defences.bans.stats().rangeBans,
      counters: { ...proxy.counters, ...tm.stats() },
    };
  };
  const reload = (reason: 'sighup' | 'api') => {
    const r = holder.reload(reason);
    if (!r.ok) metrics.countPolicyReload('error');
    return r.ok ? { ok: true } : { ok: false, issues: r.issues.map(formatIssue) };
  };
  const socketPath = isAbsolute(policy.admin.socket) ? policy.admin.socket : join(dataDir, policy.admin.socket);
  const securityRoutes = [
    ...createSecurityRoutes({ bans: defences.bans, allow: defences.allow, audit, now: () => clock.wallNow() }),
    ...createFraudRoutes({ auth: callAuth, audit }),
  ];
  const admin = await startAdminServer({
    socketPath,
    handlers: { status, reload: () => reload('api') },
    routes: securityRoutes,
    logger: log.child({ mod: 'admin' }),
  });
  // Optional HTTPS admin API (bearer JWT roles) on loopback or a management address; the unix socket stays.
  const httpsPolicy = policy.admin.https;
  const adminHttps = httpsPolicy
    ? await startAdminHttps({
        policyHttps: httpsPolicy,
        handlers: { status, reload: () => reload('api') },
        routes: securityRoutes,
        ...(httpsPolicy.cert ? {} : selfSignedIn(dataDir, log)),
        baseDir: configDir,
        logger: log.child({ mod: 'admin-https' }),
        clock,
      })
    : undefined;

  let stopping: Promise<void> | undefined;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const stop = (reason = 'stop'): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, 'stopping');
      prober.stop();
      holder.close();
      await admin.close();
      await adminHttps?.close();
      await metricsServer?.close();
      await tm.close();
      await kernelBans?.close();
      media.close();
      await mediaControl.close();
      await defences.close();
      await fraudBlocks.close();
      geo.close();
      await alertChannel.close();
      await audit.close();
      resolveStopped();
    })();
    return stopping;
  };

  /** SIGTERM: refuse new calls, let established dialogs finish for drainMs, then stop. */
  const drain = async (): Promise<void> => {
    if (proxy.draining) return;
    proxy.draining = true;
    const deadline = clock.now() + policy.shutdown.drainMs;
    log.info({ dialogs: proxy.calls.activeDialogs, drainMs: policy.shutdown.drainMs }, 'draining');
    while (proxy.calls.activeDialogs > 0 && clock.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await stop('sigterm');
  };

  if (opts.installSignalHandlers !== false) {
    const onHup = () => {
      const r = reload('sighup');
      if (!r.ok) log.warn({ issues: r.issues }, 'reload refused: running policy kept');
    };
    const onTerm = () => void drain();
    const onInt = () => void stop('sigint');
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    void stopped.then(() => {
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
    });
  }

  log.info(
    {
      listeners: tm.listeners().map((l) => `${l.transport}:${l.address}:${l.port}`),
      pbx: targets.map((t) => `${t.transport}:${t.host}:${t.port}`),
      admin: socketPath,
    },
    'palisade started',
  );
  return { stop, drain, stopped, status };
}
