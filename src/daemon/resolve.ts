/**
 * Turning the validated policy into the options each module takes: listeners with their TLS material (a
 * self-signed certificate generated into dataDir when none is configured), PBX targets with names resolved,
 * proxy settings, and the node secret. Part of the composition root (main.ts), kept apart to keep it readable.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { formatIssue, resolveSecret } from '../config/load.ts';
import type { ListenerConfig, Policy, TlsConfig } from '../config/schema.ts';
import { PalisadeError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ProxySettings } from '../proxy/b2bua.ts';
import type { PbxTargetConfig } from '../proxy/pbx-pool.ts';
import type { ResolvedListener } from '../transport/manager.ts';
import { generateSelfSignedCert } from '../transport/self-signed.ts';

export function proxySettings(p: Policy): ProxySettings {
  const localHosts = new Set<string>(p.node.domains.map((d) => d.toLowerCase()));
  let wildcard = false;
  for (const l of p.listeners) {
    if (l.advertise) localHosts.add(l.advertise.toLowerCase());
    localHosts.add(l.address.toLowerCase());
    if (l.address === '0.0.0.0' || l.address === '::') wildcard = true;
  }
  // A wildcard bind answers on every local address: each of them is "us" (phones often dial our IP).
  if (wildcard) {
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) localHosts.add(i.address.toLowerCase());
  }
  return {
    timers: p.timers,
    maxTransactions: p.limits.transactions,
    maxDialogs: p.limits.dialogs,
    maxRegistrations: p.limits.registrations,
    minExpires: p.registrar.minExpires,
    maxExpires: p.registrar.maxExpires,
    sourceHeader: p.pbx.sourceHeader,
    retryAfterSeconds: p.pbx.retryAfterSeconds,
    stripHeaders: p.topologyHiding.stripHeaders,
    localHosts,
    pbxResponseTimeoutMs: p.pbx.probe.timeoutMs,
    serverHeader: p.node.serverHeader,
    authMode: p.auth.mode,
    identityDomain: p.node.domains[0] ?? p.auth.realm,
  };
}

export async function resolveTargets(p: Policy): Promise<PbxTargetConfig[]> {
  const out: PbxTargetConfig[] = [];
  for (const t of p.pbx.targets) {
    let host = t.host;
    if (isIP(host) === 0) {
      try {
        host = (await lookup(host)).address;
      } catch {
        // Unresolvable now: keep the name; sends fail and the target is marked down by the prober.
      }
    }
    out.push({ ...t, host, tlsServerName: t.tlsServerName ?? (isIP(t.host) === 0 ? t.host : undefined) });
  }
  return out;
}

export function resolveListener(l: ListenerConfig, role: 'public', dataDir: string, configDir: string, log: Logger): ResolvedListener {
  const needsTls = l.transport === 'tls' || l.transport === 'wss';
  return {
    id: l.id ?? `${l.transport}-${l.port}`,
    role,
    transport: l.transport,
    address: l.address,
    port: l.port,
    ...(l.advertise !== undefined ? { advertiseHost: l.advertise } : {}),
    ...(l.advertisePort !== undefined ? { advertisePort: l.advertisePort } : {}),
    ...(needsTls ? { tls: resolveTls(l.tls, dataDir, configDir, log) } : {}),
    ...(l.transport === 'ws' || l.transport === 'wss'
      ? { ws: { origins: [...(l.ws?.origins ?? [])], maxPayload: l.ws?.maxPayload ?? 65536, path: l.ws?.path ?? '/' } }
      : {}),
  };
}

export function resolveTls(
  tls: TlsConfig | undefined,
  dataDir: string,
  configDir: string,
  log: Logger,
): NonNullable<ResolvedListener['tls']> {
  const minVersion = tls?.minVersion ?? 'TLSv1.3';
  const clientCert = tls?.clientCert ?? 'none';
  let certPem: string;
  let keyPem: string;
  if (tls?.cert && tls.key) {
    certPem = readFileSync(resolve(configDir, tls.cert), 'utf8');
    keyPem = readFileSync(resolve(configDir, tls.key), 'utf8');
  } else {
    ({ certPem, keyPem } = selfSignedIn(dataDir, log));
  }
  let passphrase: string | undefined;
  if (tls?.keyPassphrase) {
    const r = resolveSecret(tls.keyPassphrase, configDir);
    if (!r.ok) throw new PalisadeError('CONFIG_INVALID', { path: 'tls.keyPassphrase' }, formatIssue(r.error));
    passphrase = r.value;
  }
  return {
    certPem,
    keyPem,
    minVersion,
    clientCert,
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(tls?.ca ? { caPem: readFileSync(resolve(configDir, tls.ca), 'utf8') } : {}),
  };
}

/** First start without a configured certificate: generate one into dataDir/tls and reuse it afterwards. */
export function selfSignedIn(dataDir: string, log: Logger): { certPem: string; keyPem: string } {
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'self-signed.crt');
  const keyPath = join(dir, 'self-signed.key');
  if (existsSync(certPath) && existsSync(keyPath))
    return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const c = generateSelfSignedCert('palisade', ['localhost', '127.0.0.1', '::1']);
  writeAtomic(keyPath, c.keyPem, 0o600);
  writeAtomic(certPath, c.certPem, 0o644);
  log.warn(
    { cert: certPath, fingerprint256: c.fingerprint256 },
    'generated a self-signed TLS certificate; configure tls.cert/tls.key for production',
  );
  return { certPem: c.certPem, keyPem: c.keyPem };
}

export function loadOrCreateSecret(path: string): Buffer {
  if (existsSync(path)) {
    const b = readFileSync(path);
    if (b.length >= 32) return b.subarray(0, 32);
  }
  const s = randomBytes(32);
  writeAtomic(path, s, 0o600);
  return s;
}

function writeAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
