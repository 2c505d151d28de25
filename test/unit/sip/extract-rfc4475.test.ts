/**
 * scripts/extract-rfc4475.ts on an RFC-shaped text built here: a tar archive, gzipped, base64-wrapped and laid
 * out like RFC 4475 Appendix A (indented lines, page footers and headers, form feeds between the markers).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { archiveBase64, extractMessages, untar } from '../../../scripts/extract-rfc4475.ts';

function tarEntry(name: string, data: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write('0', 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}

function rfcText(files: ReadonlyMap<string, Buffer>): string {
  const tar = Buffer.concat([...[...files].map(([n, d]) => tarEntry(`torture/${n}`, d)), Buffer.alloc(1024)]);
  const b64 = gzipSync(tar).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 68) lines.push(`   ${b64.slice(i, i + 68)}`);
  const out = ['Appendix A.  Bit-Exact Archive of Each Test Message', '', '   -- BEGIN MESSAGE ARCHIVE --'];
  lines.forEach((l, i) => {
    out.push(l);
    if (i % 40 === 39)
      out.push(
        '',
        'Sparks, et al.              Standards Track                   [Page 50]',
        '\f',
        'RFC 4475                SIP Torture Tests                       May 2006',
        '',
      );
  });
  out.push('   -- END MESSAGE ARCHIVE --', '', "Authors' Addresses");
  return out.join('\n');
}

describe('extract-rfc4475', () => {
  const files = new Map<string, Buffer>([
    ['wsinv.dat', Buffer.from('INVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:x\r\n\r\n')],
    ['binary.dat', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) & 0xff))],
    ['empty.dat', Buffer.alloc(0)],
  ]);

  it('recovers every file byte for byte, skipping page breaks', () => {
    const got = extractMessages(rfcText(files));
    assert.deepEqual([...got.keys()].sort(), [...files.keys()].sort());
    for (const [n, d] of files) assert.deepEqual(got.get(n), d, n);
  });

  it('applies the RFC recovery rule: only single-token lines between the markers', () => {
    const text = [
      'x',
      '-- BEGIN MESSAGE ARCHIVE --',
      '  QUJD  ',
      'page footer [Page 3]',
      '\f',
      'REVG',
      '-- END MESSAGE ARCHIVE --',
      'SUdI',
    ].join('\r\n');
    assert.equal(archiveBase64(text), 'QUJDREVG');
    assert.throws(() => archiveBase64('no markers here'));
  });

  it('untar rejects a truncated entry', () => {
    const t = tarEntry('a.dat', Buffer.alloc(600));
    assert.throws(() => untar(t.subarray(0, 700)));
  });
});
