/**
 * The policy schema. This zod schema is also the TypeScript type (`Policy`): one source of truth.
 * Every object is strict: unknown keys are errors (a typo must not silently disable a protection).
 * Document every key in config/README.md when you add it.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { createFraudSchema } from '../policy/schema.ts';

const port = z.number().int().min(0).max(65535);
const ms = z.number().int().min(0);
const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'expected an IPv4 or IPv6 address' });
const cidr = z.string().refine(
  (s) => {
    const [addr, bits, extra] = s.split('/');
    if (extra !== undefined || addr === undefined) return false;
    const fam = isIP(addr);
    if (fam === 0) return false;
    if (bits === undefined) return true;
    if (!/^\d{1,3}$/.test(bits)) return false;
    return Number(bits) <= (fam === 4 ? 32 : 128);
  },
  { message: 'expected an address or CIDR such as 192.0.2.0/24' },
);

/** A duration such as `90s`, `10m`, `1h`, `7d` (or a number of seconds); parsed to milliseconds. */
export const durationSchema = z
  .union([z.number().int().min(0), z.string().regex(/^\d+(ms|s|m|h|d)$/, { message: 'expected a duration such as 30s, 10m, 1h or 7d' })])
  .transform((v) => parseDuration(v));

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(v: number | string): number {
  if (typeof v === 'number') return v * 1000;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(v);
  return m ? Number(m[1]) * (DURATION_UNIT_MS[m[2] as string] ?? 1000) : Number.NaN;
}

const bucket = (ratePerSec: number, burst: number) =>
  z
    .strictObject({
      ratePerSec: z.number().min(0.1).max(1_000_000).default(ratePerSec),
      burst: z.number().int().min(1).max(10_000_000).default(burst),
    })
    .prefault({});

/** A secret given inline (discouraged), from a file, or from an environment variable. Never logged. */
export const secretSchema = z.union([
  z.string().min(1),
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().min(1) }),
]);

const tlsSchema = z.strictObject({
  /** PEM certificate chain path; absent → a self-signed certificate is generated into dataDir. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  keyPassphrase: secretSchema.optional(),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3'),
  /** none: no client certificate asked; optional: asked and verified if given; require: mandatory. */
  clientCert: z.enum(['none', 'optional', 'require']).default('none'),
  /** PEM CA bundle used to verify client certificates. */
  ca: z.string().min(1).optional(),
});

const wsSchema = z.strictObject({
  /** Allowed Origin header values; empty list → any origin (non-browser clients send none). */
  origins: z.array(z.string().min(1)).default([]),
  /** Largest accepted frame in bytes. */
  maxPayload: z.number().int().min(1024).max(1048576).default(65536),
  path: z.string().startsWith('/').default('/'),
});

export const listenerSchema = z.strictObject({
  /** Stable id used in logs and metrics; defaults to `<transport>-<port>`. */
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)
    .optional(),
  transport: z.enum(['udp', 'tcp', 'tls', 'ws', 'wss']),
  address: ipAddress.default('0.0.0.0'),
  port,
  /** Public host (name or address) and port to advertise in Via/Contact/Record-Route (NAT'd deployments). */
  advertise: z.string().min(1).optional(),
  advertisePort: port.optional(),
  tls: tlsSchema.optional(),
  ws: wsSchema.optional(),
});

const pbxTargetSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  host: z.string().min(1),
  port: port.default(5060),
  transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
  /** Lower is preferred; equal priorities share load round-robin. */
  priority: z.number().int().min(0).max(1000).default(10),
  /** TLS toward the PBX: verify its certificate against this server name. */
  tlsServerName: z.string().optional(),
  tlsVerify: z.boolean().default(true),
});

const pbxSchema = z.strictObject({
  /** The PBX-facing listener: the only socket the PBX talks to. */
  listen: z
    .strictObject({
      transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
      address: ipAddress.default('127.0.0.1'),
      port: port.default(5080),
      tls: tlsSchema.optional(),
    })
    .prefault({}),
  targets: z.array(pbxTargetSchema).min(1),
  probe: z
    .strictObject({
      intervalMs: ms.min(100).default(5000),
      timeoutMs: ms.min(50).default(2000),
      failuresToDown: z.number().int().min(1).max(20).default(2),
      successesToUp: z.number().int().min(1).max(20).default(1),
    })
    .prefault({}),
  /** Header carrying the client's real source toward the PBX ("udp 198.51.100.7:5060"). Empty string disables. */
  sourceHeader: z
    .string()
    .regex(/^([A-Za-z0-9-]+)?$/)
    .default('X-Palisade-Source'),
  /** Seconds sent in Retry-After with 503 when no PBX is up. */
  retryAfterSeconds: z.number().int().min(1).max(3600).default(30),
});

const limitsSchema = z.strictObject({
  sip: z
    .strictObject({
      maxMessageBytes: z.number().int().min(1024).max(1048576).default(65536),
      maxHeaders: z.number().int().min(10).max(1000).default(100),
      maxHeaderBytes: z.number().int().min(256).max(65536).default(8192),
      maxUriBytes: z.number().int().min(64).max(8192).default(1024),
    })
    .prefault({}),
  connections: z
    .strictObject({
      perSource: z.number().int().min(1).max(100000).default(32),
      total: z.number().int().min(1).max(1000000).default(10000),
      idleTimeoutMs: ms.min(1000).default(120000),
      /** A connection that has sent no complete message within this time is closed (slowloris). */
      firstMessageTimeoutMs: ms.min(100).default(10000),
    })
    .prefault({}),
  transactions: z.number().int().min(100).max(10_000_000).default(100000),
  dialogs: z.number().int().min(10).max(10_000_000).default(50000),
  registrations: z.number().int().min(10).max(10_000_000).default(100000),
});

const registrarSchema = z.strictObject({
  /** Expires forced into the range [min, max] toward the PBX; the phone gets what the PBX granted. */
  minExpires: z.number().int().min(10).max(86400).default(60),
  maxExpires: z.number().int().min(10).max(604800).default(3600),
});

const timersSchema = z.strictObject({
  /** RFC 3261 §17.1.1.1 */
  t1Ms: ms.min(50).max(10000).default(500),
  t2Ms: ms.min(100).max(60000).default(4000),
  t4Ms: ms.min(100).max(60000).default(5000),
});

export const policySchema = z.strictObject({
  node: z
    .strictObject({
      /** Working directory for generated certificates, the admin socket and persisted state. */
      dataDir: z.string().min(1).default('./data'),
      /** SIP domains this node answers for (Request-URI hosts); its own addresses always count. */
      domains: z.array(z.string().min(1)).default([]),
      /** Value of User-Agent/Server headers Palisade sends; empty omits them. */
      serverHeader: z.string().default(''),
    })
    .prefault({}),
  listeners: z.array(listenerSchema).min(1),
  pbx: pbxSchema,
  topologyHiding: z
    .strictObject({
      /** Extra header names removed from everything that crosses the border (both ways). */
      stripHeaders: z.array(z.string().regex(/^[A-Za-z0-9-]+$/)).default([]),
    })
    .prefault({}),
  registrar: registrarSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  timers: timersSchema.prefault({}),
  shutdown: z.strictObject({ drainMs: ms.max(3_600_000).default(30000) }).prefault({}),
  admin: z
    .strictObject({
      /** Unix socket path, relative to dataDir unless absolute. File permissions (0600) are the auth. */
      socket: z.string().min(1).default('palisade.sock'),
      /** Optional HTTPS admin API with bearer JWTs (HS256) and roles; absent → unix socket only. */
      https: z
        .strictObject({
          address: ipAddress.default('127.0.0.1'),
          port: port.default(9443),
          /** PEM paths; absent → the self-signed certificate the daemon generates into dataDir. */
          cert: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
          minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3'),
          tokens: z.strictObject({
            /** HS256 shared secret, at least 32 bytes (checked again when a file/env secret is read). */
            key: secretSchema.refine((s) => typeof s !== 'string' || Buffer.byteLength(s) >= 32, {
              message: 'token key must be at least 32 bytes',
            }),
            issuer: z.string().min(1).max(256).default('palisade'),
            audience: z.string().min(1).max(256).default('palisade-admin'),
          }),
          /** Requests per minute per client address. */
          rateLimit: z.number().int().min(1).max(100_000).default(120),
        })
        .optional(),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      address: ipAddress.default('127.0.0.1'),
      port: port.default(9090),
      path: z.string().startsWith('/').default('/metrics'),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
  /** The RTP relay that anchors every call's media (SDP is rewritten so both sides send to Palisade). */
  media: z
    .strictObject({
      /** Address the public-side relay sockets bind to. */
      publicAddress: ipAddress.default('127.0.0.1'),
      /** Address written into SDP toward clients when it differs from publicAddress (1:1 NAT, or 0.0.0.0 binds). */
      advertise: ipAddress.optional(),
      /** Address the PBX-side relay sockets bind to; defaults to pbx.listen.address. */
      pbxAddress: ipAddress.optional(),
      portMin: z.number().int().min(1024).max(65534).default(20000),
      portMax: z.number().int().min(1025).max(65535).default(29999),
      maxSessions: z.number().int().min(1).max(100000).default(10000),
      /** A released port is not reused for this long, so late packets of an ended call never reach a new one. */
      portQuarantine: durationSchema.prefault('4s'),
      /** Packets per second accepted per media stream per direction; the excess is dropped and counted. */
      maxPacketRate: z.number().int().min(10).max(100000).default(1000),
      /** An established call whose media stopped both ways for this long is ended (BYE both ways); 0 disables. */
      inactivityTimeout: durationSchema.prefault('60s'),
      /** Clients (by signalling source address) that may use plain RTP; everyone else must offer SRTP or gets 488. */
      plainAllowedFrom: z.array(cidr).default([]),
      /** Codec allow-list by encoding name (case-insensitive: PCMU, PCMA, G722, opus, telephone-event, …); other codecs
       *  are removed from offers, and an offer left with none gets 488. Absent: every codec passes. */
      codecs: z
        .array(z.string().regex(/^[A-Za-z0-9._-]{1,32}$/))
        .min(1)
        .optional(),
      /** Video sections in offers: relayed (pass) or disabled with port 0 (refuse). */
      video: z.enum(['pass', 'refuse']).default('pass'),
    })
    .prefault({}),
  /** Who may place calls and register, and how Palisade proves it (RFC 3261 §22, RFC 7616, RFC 8760). */
  auth: z
    .strictObject({
      /** palisade: Palisade challenges REGISTER (401) and INVITE/other out-of-dialog requests (407) itself and the
       *  PBX trusts it. pbx: requests pass unauthenticated and the PBX challenges (its 401/403 answers still count
       *  as failed attempts for bans). */
      mode: z.enum(['palisade', 'pbx']).default('palisade'),
      realm: z
        .string()
        .regex(/^[\x21-\x7e]{1,64}$/)
        .default('palisade'),
      /** Users file (see `palisade user add`); relative to dataDir. */
      usersFile: z.string().min(1).default('users.yaml'),
      /** MD5 (old phones) is refused unless allowed here for everyone, for these groups, or per user in the users file. */
      allowMd5: z.boolean().default(false),
      md5Groups: z.array(z.string().min(1)).default([]),
      /** Sources (legacy phone subnets) whose challenges list MD5 first: many old phones read only the first
       *  challenge. The order depends on the source, never on the user asked for, so it reveals nothing. */
      md5FirstFor: z.array(cidr).default([]),
      nonceLifetime: durationSchema.prefault(300),
      /** Credentials from an HTTP backend instead of the users file (POST {username, realm} → HA1 or 404). */
      http: z
        .strictObject({
          url: z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' }),
          timeout: durationSchema.prefault('2s'),
          /** Found and not-found answers are cached this long. */
          cacheFor: durationSchema.prefault('60s'),
          /** Consecutive failures that open the circuit breaker… */
          failuresToOpen: z.number().int().min(1).max(1000).default(5),
          /** …for this long (lookups fail fast: 503, never "unknown user"). */
          openFor: durationSchema.prefault('30s'),
          /** Sent as `Authorization: Bearer …`. */
          token: secretSchema.optional(),
        })
        .optional(),
      /** Peers (SIP trunks, the PBX's own other interfaces) recognised by source and/or TLS client certificate. They
       *  skip digest authentication, never the gate. */
      trusted: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
            cidrs: z.array(cidr).default([]),
            /** Subject CN of a verified TLS client certificate. */
            tlsCommonNames: z.array(z.string().min(1)).default([]),
          }),
        )
        .default([]),
    })
    .prefault({}),
  /** fail2ban-style bans, flood limits and scanner detection (all enforced before a message is parsed). */
  security: z
    .strictObject({
      bans: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Offences counted within this window… */
          findTime: durationSchema.prefault('10m'),
          /** …that ban a source (weights: scanner 5, flood 5, replayed nonce 2, others 1). */
          maxRetry: z.number().int().min(1).max(1000).default(5),
          /** Per (source, user): lower to stop brute force on one account behind a shared NAT. */
          maxRetryPerUser: z.number().int().min(1).max(1000).optional(),
          banTime: durationSchema.prefault('1h'),
          /** Each repeat ban of the same source lasts factor × longer, up to maxBanTime. */
          factor: z.number().min(1).max(100).default(2),
          maxBanTime: durationSchema.prefault('7d'),
          /** Never banned (still rate limited). */
          allow: z.array(cidr).default([]),
          /** Kernel offload (Linux nftables, needs root or CAP_NET_ADMIN): banned sources are dropped before the socket. */
          kernel: z
            .strictObject({
              enabled: z.boolean().default(false),
              nft: z.string().min(1).default('/usr/sbin/nft'),
              table: z
                .string()
                .regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/)
                .default('palisade'),
            })
            .prefault({}),
        })
        .prefault({}),
      flood: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Per source and request class. */
          register: bucket(10, 40),
          invite: bucket(20, 60),
          options: bucket(10, 30),
          other: bucket(50, 150),
          /** All sources together; when it runs low, sources above their fair share are refused first. */
          global: bucket(20_000, 40_000),
          /** A source refused this many times within floodWindow commits a flood offence. */
          floodRefusals: z.number().int().min(1).max(100000).default(50),
          floodWindow: durationSchema.prefault('10s'),
        })
        .prefault({}),
      scanner: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Treat a Request-URI host that is not one of our domains or addresses as a scan. */
          checkRequestUriHost: z.boolean().default(true),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Source filters applied at the gate before parsing. */
  access: z
    .strictObject({
      allow: z.array(cidr).default([]),
      deny: z.array(cidr).default([]),
    })
    .prefault({}),
  /** Toll-fraud prevention: destinations, rights, source geography, limits, anomaly rules (src/policy). */
  fraud: createFraudSchema(durationSchema).prefault({}),
  /** Real-time alerts (fraud rules, bans) besides the audit log. */
  alerts: z
    .strictObject({
      webhook: z
        .strictObject({
          url: z.url({ protocol: /^https?$/ }),
          /** Extra request headers (an Authorization token, say); values may come from a file or the environment. */
          headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.union([z.string(), secretSchema])).default({}),
          timeout: durationSchema.prefault('5s'),
          retries: z.number().int().min(0).max(20).default(5),
          /** First retry delay; doubles per attempt. */
          backoff: durationSchema.prefault('1s'),
          /** The same rule and subject within this window is sent once (later ones are counted in `suppressed`). */
          dedupWindow: durationSchema.prefault('5m'),
          /** Most alerts per minute per rule and subject. */
          ratePerMinute: z.number().int().min(1).max(10000).default(6),
          maxQueue: z.number().int().min(1).max(100000).default(1000),
        })
        .optional(),
    })
    .prefault({}),
});

/** The validated, frozen policy the daemon runs on. */
export type Policy = z.infer<typeof policySchema>;
export type ListenerConfig = z.infer<typeof listenerSchema>;
export type PbxTarget = Policy['pbx']['targets'][number];
export type TlsConfig = z.infer<typeof tlsSchema>;
export type Secret = z.infer<typeof secretSchema>;
