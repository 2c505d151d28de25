import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { type GeoIp, type GeoRule, geoDecision, normaliseAddress, openGeoIp } from '../../../src/policy/geo.ts';
import { buildTestMmdb, TEST_MMDB_COUNTRIES } from '../../integration/harness/mmdb.ts';

let dir: string;
let dbPath: string;
let geo: GeoIp;

async function mustOpen(path: string): Promise<GeoIp> {
  const r = await openGeoIp(path);
  if (!r.ok) assert.fail(`openGeoIp(${path}): ${r.error.reason}`);
  return r.value;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'palisade-geo-'));
  dbPath = await buildTestMmdb(dir);
  geo = await mustOpen(dbPath);
});

after(async () => {
  geo.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openGeoIp with the test database (scripts/build-test-mmdb.pl)', () => {
  it('reads the metadata', () => {
    assert.equal(geo.info.databaseType, 'GeoIP2-Country');
    assert.equal(geo.info.ipVersion, 6);
    assert.ok(geo.info.nodeCount > 0);
    assert.ok(Math.abs(geo.info.builtAtMs - Date.now()) < 3_600_000, 'built just now');
  });

  it('answers the table at the top of the script', () => {
    for (const [address, country] of Object.entries(TEST_MMDB_COUNTRIES)) {
      assert.equal(geo.countryOf(address), country, address);
    }
  });

  it('falls back to registered_country only when country is absent', () => {
    assert.equal(geo.countryOf('127.0.0.5'), 'JP');
    assert.equal(geo.countryOf('127.0.0.6'), undefined);
  });

  it('unmaps IPv4-mapped IPv6 in any spelling', () => {
    assert.equal(geo.countryOf('::ffff:127.0.0.2'), 'DE');
    assert.equal(geo.countryOf('::FFFF:127.0.0.4'), 'CU');
    assert.equal(geo.countryOf('0:0:0:0:0:ffff:127.0.0.3'), 'US');
    assert.equal(geo.countryOf('::ffff:127.9.9.9'), 'FR');
  });

  it('answers undefined, never throws, for what is not an address', () => {
    const before = geo.stats();
    for (const s of [
      '',
      'abc',
      '127.0.0',
      '127.0.0.256',
      ' 127.0.0.2',
      '127.0.0.2 ',
      '127.000.0.2',
      '::ffff:999.1.1.1',
      '1::2::3',
      'x'.repeat(10_000),
    ]) {
      assert.equal(geo.countryOf(s), undefined, JSON.stringify(s.slice(0, 20)));
    }
    // Not strings at all (a caller bug): still no throw.
    assert.equal(geo.countryOf(undefined as unknown as string), undefined);
    assert.equal(geo.countryOf({} as unknown as string), undefined);
    const s = geo.stats();
    assert.equal(s.invalid - before.invalid, 12);
    assert.equal(s.lookups - before.lookups, 12);
  });

  it('counts found and not-found lookups', () => {
    const before = geo.stats();
    geo.countryOf('127.0.0.2');
    geo.countryOf('10.0.0.1');
    geo.countryOf('fe80::1%eth0');
    const s = geo.stats();
    assert.equal(s.found - before.found, 1);
    assert.equal(s.notFound - before.notFound, 2);
    assert.equal(s.errors, 0);
  });

  it('fuzz: any string gives undefined or an upper-case alpha-2 code', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (s) => {
        const c = geo.countryOf(s);
        assert.ok(c === undefined || /^[A-Z]{2}$/.test(c), String(c));
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: a mapped address answers exactly what its IPv4 address answers; loopback is always in the table', () => {
    const known = new Set(['FR', 'DE', 'US', 'CU', 'JP', undefined]);
    fc.assert(
      fc.property(fc.ipV4(), fc.constantFrom('::ffff:', '::FFFF:', '0:0:0:0:0:ffff:'), (v4, prefix) => {
        assert.equal(geo.countryOf(`${prefix}${v4}`), geo.countryOf(v4));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), fc.nat(255), (a, b, c) => {
        assert.ok(known.has(geo.countryOf(`127.${a}.${b}.${c}`)));
      }),
      { numRuns: 300 },
    );
  });

  it('close() makes every later lookup unknown; a reload is a new GeoIp', async () => {
    const reloadedPath = await buildTestMmdb(dir, { name: 'reloaded.mmdb', extra: ['127.0.0.2/32=IT'] });
    const old = await mustOpen(dbPath);
    const reloaded = await mustOpen(reloadedPath);
    assert.equal(old.countryOf('127.0.0.2'), 'DE');
    assert.equal(reloaded.countryOf('127.0.0.2'), 'IT');
    assert.equal(reloaded.countryOf('127.0.0.3'), 'US');
    old.close();
    old.close();
    assert.equal(old.countryOf('127.0.0.2'), undefined);
    reloaded.close();
  });
});

describe('openGeoIp with an IPv4-only database', () => {
  it('unmapping is what makes ::ffff:a.b.c.d resolve; other IPv6 is unknown, not garbage', async () => {
    const g = await mustOpen(await buildTestMmdb(dir, { name: 'v4.mmdb', ipv4Only: true }));
    assert.equal(g.info.ipVersion, 4);
    assert.equal(g.countryOf('127.0.0.4'), 'CU');
    assert.equal(g.countryOf('::ffff:127.0.0.4'), 'CU');
    assert.equal(g.countryOf('::1'), undefined);
    assert.equal(g.countryOf('2001:db8::1'), undefined);
    // 7f00:2::… would walk the IPv4 tree as 127.0.0.2 if IPv6 were not refused.
    assert.equal(g.countryOf('7f00:2::'), undefined);
    g.close();
  });
});

describe('openGeoIp refusals (GEOIP_OPEN)', () => {
  it('a missing file, a directory, garbage, a gzip file, a truncated file', async () => {
    const good = await readFile(dbPath);
    const garbage = join(dir, 'garbage.mmdb');
    await writeFile(garbage, Buffer.from('this is not a maxmind database'.repeat(10)));
    const gz = join(dir, 'db.mmdb.gz');
    await writeFile(gz, gzipSync(good));
    const truncated = join(dir, 'truncated.mmdb');
    await writeFile(truncated, good.subarray(0, Math.floor(good.length / 2)));
    for (const p of [join(dir, 'missing.mmdb'), dir, garbage, gz, truncated]) {
      const r = await openGeoIp(p);
      assert.equal(r.ok, false, p);
      if (!r.ok) {
        assert.equal(r.error.code, 'GEOIP_OPEN');
        assert.ok(r.error.reason.length > 0 && r.error.reason.length <= 301);
      }
    }
  });

  it('fuzz: a database with corrupted bytes either fails to open or answers without throwing', async () => {
    const good = await readFile(dbPath);
    const corrupt = join(dir, 'corrupt.mmdb');
    const addresses = ['127.0.0.1', '127.0.0.2', '127.0.0.5', '::1', '2001:db8::1', '10.0.0.1', '::ffff:127.0.0.3'];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(good.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }), async (flips) => {
        const b = Buffer.from(good);
        for (const [at, v] of flips) b[at] = v;
        await writeFile(corrupt, b);
        const r = await openGeoIp(corrupt);
        if (!r.ok) {
          assert.equal(r.error.code, 'GEOIP_OPEN');
          return;
        }
        for (const a of addresses) {
          const c = r.value.countryOf(a);
          assert.ok(c === undefined || /^[A-Z]{2}$/.test(c));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('buildTestMmdb', () => {
  it('says in one line what to install when the Perl writer is missing', async () => {
    // A module of the same name that fails to load stands in for a machine without libmaxmind-db-writer-perl.
    const fake = join(dir, 'fake-inc');
    await mkdir(join(fake, 'MaxMind', 'DB', 'Writer'), { recursive: true });
    await writeFile(join(fake, 'MaxMind', 'DB', 'Writer', 'Tree.pm'), 'die "not installed\\n";\n');
    const saved = process.env.PERL5LIB;
    process.env.PERL5LIB = fake;
    try {
      await assert.rejects(buildTestMmdb(dir, { name: 'never.mmdb' }), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /install libmaxmind-db-writer-perl/);
        assert.equal(e.message.split('\n').length, 1);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.PERL5LIB;
      else process.env.PERL5LIB = saved;
    }
  });

  it('refuses a malformed extra mapping', async () => {
    await assert.rejects(buildTestMmdb(dir, { name: 'bad.mmdb', extra: ['127.0.0.2=DE'] }), /bad mapping/);
  });
});

describe('normaliseAddress', () => {
  it('unmaps, drops a zone id, refuses non-addresses', () => {
    assert.equal(normaliseAddress('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(normaliseAddress('::ffff:0:192.0.2.1'), '::ffff:0:192.0.2.1'); // SIIT, not mapped
    assert.equal(normaliseAddress('64:ff9b::192.0.2.1'), '64:ff9b::192.0.2.1'); // NAT64: its own prefix in the tree
    assert.equal(normaliseAddress('fe80::1%eth0'), 'fe80::1');
    assert.equal(normaliseAddress('2001:DB8::1'), '2001:DB8::1');
    assert.equal(normaliseAddress('192.0.2.1'), '192.0.2.1');
    assert.equal(normaliseAddress('192.0.2.1:5060'), undefined);
    assert.equal(normaliseAddress('[::1]'), undefined);
  });
});

describe('geoDecision (pure)', () => {
  const table: ReadonlyArray<[country: string | undefined, rule: GeoRule, expected: 'allow' | 'deny', why: string]> = [
    ['DE', { onUnknown: 'open' }, 'allow', 'no lists: everything known is allowed'],
    ['CU', { deny: ['CU', 'KP'], onUnknown: 'open' }, 'deny', 'deny list'],
    ['DE', { deny: ['CU'], onUnknown: 'closed' }, 'allow', 'not on the deny list'],
    ['DE', { allow: ['DE', 'FR'], onUnknown: 'open' }, 'allow', 'on the allow list'],
    ['US', { allow: ['DE', 'FR'], onUnknown: 'open' }, 'deny', 'allow list present: only those'],
    ['DE', { allow: ['DE'], deny: ['DE'], onUnknown: 'open' }, 'deny', 'deny wins over allow'],
    ['DE', { allow: [], onUnknown: 'open' }, 'deny', 'an empty allow list admits no known country'],
    [undefined, { allow: ['DE'], onUnknown: 'open' }, 'allow', 'unknown, open'],
    [undefined, { allow: ['DE'], onUnknown: 'closed' }, 'deny', 'unknown, closed'],
    [undefined, { deny: ['CU'], onUnknown: 'closed' }, 'deny', 'unknown, closed, deny list only'],
    [undefined, { onUnknown: 'open' }, 'allow', 'unknown, open, no lists'],
    ['de', { allow: ['DE'], onUnknown: 'open' }, 'deny', 'comparison is exact (countryOf answers upper case)'],
  ];
  for (const [country, rule, expected, why] of table) {
    it(`${String(country)} ${JSON.stringify(rule)} → ${expected} (${why})`, () => {
      assert.equal(geoDecision(country, rule), expected);
    });
  }

  it('property: deny always wins; allow list membership decides otherwise', () => {
    const cc = fc.constantFrom('DE', 'FR', 'US', 'CU', 'JP', 'NL');
    fc.assert(
      fc.property(
        fc.option(cc, { nil: undefined }),
        fc.option(fc.array(cc), { nil: undefined }),
        fc.option(fc.array(cc), { nil: undefined }),
        fc.constantFrom<'open' | 'closed'>('open', 'closed'),
        (country, allow, deny, onUnknown) => {
          const d = geoDecision(country, { allow, deny, onUnknown });
          if (country === undefined) assert.equal(d, onUnknown === 'open' ? 'allow' : 'deny');
          else if (deny?.includes(country)) assert.equal(d, 'deny');
          else assert.equal(d, allow === undefined || allow.includes(country) ? 'allow' : 'deny');
        },
      ),
    );
  });
});
