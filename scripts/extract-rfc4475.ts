/**
 * Extracts the torture messages from the text of RFC 4475 (Appendix A: a base64-encoded, gzip-compressed tar
 * archive between "-- BEGIN MESSAGE ARCHIVE --" and "-- END MESSAGE ARCHIVE --") into one file per message.
 * The line filter is the RFC's own recovery script: inside the markers, a line that is one run of non-space
 * characters is base64; page headers, footers and form feeds all contain spaces or nothing and are skipped.
 *
 *   node --import tsx scripts/extract-rfc4475.ts [RFC_TEXT] [OUT_DIR] [--check REFERENCE_DIR]
 *   defaults: test/fixtures/rfc4475/rfc4475.txt  test/fixtures/rfc4475
 *   --rfc5118 switches the defaults to test/fixtures/rfc5118/rfc5118.txt and test/fixtures/rfc5118.
 *
 * --check compares every extracted file byte for byte with a reference copy and exits non-zero on a difference.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

const BEGIN = '-- BEGIN MESSAGE ARCHIVE --';
const END = '-- END MESSAGE ARCHIVE --';

/** The base64 text of the archive, per the RFC's recovery script. */
export function archiveBase64(rfcText: string): string {
  const lines = rfcText.split(/\r?\n/);
  let inside = false;
  let out = '';
  for (const line of lines) {
    if (!inside) {
      if (line.includes(BEGIN)) inside = true;
      continue;
    }
    if (line.includes(END)) return out;
    if (/^\s*[^\s]+\s*$/.test(line)) out += line.trim();
  }
  throw new Error(inside ? 'archive end marker not found' : 'archive begin marker not found');
}

/** Regular files of a ustar/GNU tar archive, by base name. */
export function untar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = cstr(header, 0, 100);
    const prefix = header.toString('latin1', 257, 263).startsWith('ustar') ? cstr(header, 345, 155) : '';
    const size = Number.parseInt(cstr(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    if (!Number.isFinite(size) || size < 0) throw new Error(`bad tar size at ${off}`);
    const dataStart = off + 512;
    if (dataStart + size > tar.length) throw new Error('truncated tar entry');
    if (type === '0' || type === '\0') {
      const full = prefix.length > 0 ? `${prefix}/${name}` : name;
      files.set(basename(full), Buffer.from(tar.subarray(dataStart, dataStart + size)));
    }
    off = dataStart + Math.ceil(size / 512) * 512;
  }
  return files;
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.toString('latin1', start, start + len);
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** Every message file in the RFC's archive. */
export function extractMessages(rfcText: string): Map<string, Buffer> {
  const tgz = Buffer.from(archiveBase64(rfcText), 'base64');
  return untar(gunzipSync(tgz));
}

function main(argv: string[]): number {
  const rfc5118 = argv.includes('--rfc5118');
  const checkAt = argv.indexOf('--check');
  const reference = checkAt >= 0 ? argv[checkAt + 1] : undefined;
  const positional = argv.filter((a, i) => !a.startsWith('--') && (checkAt < 0 || i !== checkAt + 1));
  const dir = rfc5118 ? 'test/fixtures/rfc5118' : 'test/fixtures/rfc4475';
  const input = positional[0] ?? join(dir, rfc5118 ? 'rfc5118.txt' : 'rfc4475.txt');
  const outDir = positional[1] ?? dir;
  if (!existsSync(input)) {
    console.error(`extract-rfc4475: ${input} not found: save the RFC text there first`);
    return 2;
  }
  const files = extractMessages(readFileSync(input, 'latin1'));
  mkdirSync(outDir, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(outDir, name), bytes);
  console.log(`extract-rfc4475: ${files.size} files written to ${outDir}`);
  if (reference !== undefined) {
    let bad = 0;
    for (const name of readdirSync(reference)) {
      if (name.endsWith('.md')) continue;
      const mine = files.get(name);
      if (mine === undefined) {
        console.error(`missing: ${name}`);
        bad++;
      } else if (!mine.equals(readFileSync(join(reference, name)))) {
        console.error(`differs: ${name}`);
        bad++;
      }
    }
    console.log(bad === 0 ? 'extract-rfc4475: identical to the reference' : `extract-rfc4475: ${bad} differences`);
    return bad === 0 ? 0 : 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
