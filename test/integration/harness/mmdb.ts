/**
 * Builds the test GeoIP database with scripts/build-test-mmdb.pl (Debian libmaxmind-db-writer-perl), so a test can
 * send from "another country" over loopback. The table lives at the top of the script; TEST_MMDB_COUNTRIES mirrors it.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(new URL('../../../scripts/build-test-mmdb.pl', import.meta.url).pathname);
const BUILD_TIMEOUT_MS = 20_000;

/** Source address → the country openGeoIp(...).countryOf answers for it (undefined: no country in the database). */
export const TEST_MMDB_COUNTRIES: Readonly<Record<string, string | undefined>> = Object.freeze({
  '127.0.0.1': 'FR', // the rest of 127.0.0.0/8: the "home" country
  '127.0.0.2': 'DE',
  '127.0.0.3': 'US',
  '127.0.0.4': 'CU',
  '127.0.0.5': 'JP', // registered_country only
  '127.0.0.6': undefined, // a record without any country
  '::1': 'NL',
  '2001:db8::1': 'CH',
  '10.0.0.1': undefined, // not in the database
});

export interface BuildTestMmdbOptions {
  /** File name inside `dir` (default `palisade-test.mmdb`). */
  readonly name?: string;
  /** Extra `CIDR=CC` mappings inserted after the table (last wins), e.g. `['127.0.0.2/32=IT']` for a reload test. */
  readonly extra?: readonly string[];
  /** An IPv4-only tree (ip_version 4; the IPv6 rows are left out), as some third-party files are. */
  readonly ipv4Only?: boolean;
}

/** Writes the test .mmdb into `dir` and returns its path. Rejects with one clear line when perl or the module is missing. */
export function buildTestMmdb(dir: string, opts: BuildTestMmdbOptions = {}): Promise<string> {
  const out = join(dir, opts.name ?? 'palisade-test.mmdb');
  return new Promise((resolvePath, reject) => {
    execFile(
      'perl',
      [SCRIPT, ...(opts.ipv4Only === true ? ['--ipv4'] : []), out, ...(opts.extra ?? [])],
      { timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 },
      (error, _stdout, stderr) => {
        if (error === null) {
          resolvePath(out);
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') reject(new Error('buildTestMmdb: perl not found (install perl and libmaxmind-db-writer-perl)'));
        else if (error.code === 3) reject(new Error('buildTestMmdb: MaxMind::DB::Writer::Tree missing: install libmaxmind-db-writer-perl'));
        else {
          const line = String(stderr).trim().split('\n').pop() ?? '';
          reject(new Error(`buildTestMmdb: ${SCRIPT} failed (${error.killed ? 'timed out' : `exit ${String(error.code)}`}): ${line}`));
        }
      },
    );
  });
}
