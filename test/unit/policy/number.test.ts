import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type CallClass, classifyDialled, extractUserPart, MAX_DIALLED_CHARS } from '../../../src/policy/number.ts';
import { plan } from './helpers.ts';

describe('classifyDialled: national and international formats', () => {
  const table: ReadonlyArray<[input: string, region: string | undefined, e164: string | undefined, cls: CallClass, type?: string]> = [
    // United Kingdom
    ['020 7946 0000', 'GB', '+442079460000', 'national', 'FIXED_LINE'],
    ['+44 20 7946 0000', 'GB', '+442079460000', 'national', 'FIXED_LINE'],
    ['0044 20 7946 0000', 'GB', '+442079460000', 'national', 'FIXED_LINE'],
    ['07400 123456', 'GB', '+447400123456', 'mobile', 'MOBILE'],
    ['0114 496 0000', 'GB', '+441144960000', 'national', 'FIXED_LINE'], // Sheffield: 011 is NOT an IDD in GB
    ['0800 123 4567', 'GB', '+448001234567', 'national', 'TOLL_FREE'],
    ['09098790000', 'GB', '+449098790000', 'premium', 'PREMIUM_RATE'],
    ['0871 222 3333', 'GB', '+448712223333', 'premium', 'PREMIUM_RATE'],
    ['0700 1234567', 'GB', '+447001234567', 'premium', 'PERSONAL_NUMBER'],
    // United States
    ['(201) 555-0123', 'US', '+12015550123', 'national', 'FIXED_LINE_OR_MOBILE'],
    ['1-201-555-0123', 'US', '+12015550123', 'national'],
    ['011 44 20 7946 0000', 'US', '+442079460000', 'international', 'FIXED_LINE'],
    ['+1 900 555 0100', 'US', '+19005550100', 'premium', 'PREMIUM_RATE'],
    ['+1 876 555 0100', 'US', '+18765550100', 'international', 'MOBILE'], // Jamaica shares +1
    // Germany
    ['030 1234567', 'DE', '+49301234567', 'national', 'FIXED_LINE'],
    ['0900 1234567', 'DE', '+499001234567', 'premium', 'PREMIUM_RATE'],
    ['00 33 1 23 45 67 89', 'DE', '+33123456789', 'international', 'FIXED_LINE'],
    // France
    ['01 23 45 67 89', 'FR', '+33123456789', 'national', 'FIXED_LINE'],
    ['06 12 34 56 78', 'FR', '+33612345678', 'mobile', 'MOBILE'],
    ['08 99 23 45 67', 'FR', '+33899234567', 'premium', 'PREMIUM_RATE'],
    ['+49 30 1234567', 'FR', '+49301234567', 'international'],
    // No region: only international formats make sense
    ['+33 1 23 45 67 89', undefined, '+33123456789', 'international'],
    ['0033123456789', undefined, '+33123456789', 'international'],
    ['01133123456789', undefined, '+33123456789', 'international'],
    ['0123456789', undefined, undefined, 'invalid'],
    // Non-geographic codes
    ['+979 123456789', 'GB', '+979123456789', 'premium', 'PREMIUM_RATE'],
    ['+882 16 123456', 'GB', '+88216123456', 'international', 'VOIP'],
  ];
  for (const [input, region, e164, cls, type] of table) {
    it(`${input} (${region ?? 'no region'}) → ${e164 ?? '-'} ${cls}`, () => {
      const c = classifyDialled(input, plan(region));
      assert.equal(c.e164, e164);
      assert.equal(c.callClass, cls);
      if (type !== undefined) assert.equal(c.type, type);
    });
  }
});

describe('classifyDialled: URIs, internal and emergency numbers', () => {
  const table: ReadonlyArray<[input: string, region: string | undefined, cls: CallClass, e164?: string]> = [
    ['sip:07400123456@pbx.example.com', 'GB', 'mobile', '+447400123456'],
    ['sips:+442079460000@pbx.example.com;transport=tls', 'GB', 'national', '+442079460000'],
    ['sip:+442079460000;isub=12@pbx.example.com;user=phone', 'GB', 'national', '+442079460000'],
    ['sip:%2B442079460000@pbx.example.com', 'GB', 'national', '+442079460000'],
    ['tel:+1-201-555-0123;phone-context=example.com', 'US', 'national', '+12015550123'],
    ['TEL:+44.20.7946.0000', 'GB', 'national', '+442079460000'],
    ['"Bob" <sip:020-7946-0000@pbx>;tag=1', 'GB', 'national', '+442079460000'],
    ['sip:2001@pbx', 'GB', 'internal'],
    ['sip:999@pbx', 'GB', 'emergency'],
    ['112', 'DE', 'emergency'],
    ['112', undefined, 'emergency'],
    ['911', 'US', 'emergency'],
    ['911', 'GB', 'internal'], // not an emergency number in GB: an extension
    ['999', 'US', 'internal'],
    ['sip:pbx.example.com', 'GB', 'invalid'],
    ['', 'GB', 'invalid'],
    ['9011ab', 'GB', 'invalid'],
    ['reception', 'GB', 'internal'],
    ['alice.smith', undefined, 'internal'],
    ['a b', 'GB', 'invalid'],
    ['sip:%ZZ@pbx', 'GB', 'invalid'],
    ['*97', 'GB', 'internal'], // a PBX feature code (default internal pattern)
    ['*9#7', 'GB', 'invalid'],
    ['+44 20 7946 0000 ext 5', 'GB', 'invalid'],
    ['1'.repeat(40), 'GB', 'invalid'],
    ['+4490900001', 'GB', 'invalid'], // impossible length
  ];
  for (const [input, region, cls, e164] of table) {
    it(`${JSON.stringify(input).slice(0, 50)} (${region ?? '-'}) → ${cls}`, () => {
      const c = classifyDialled(input, plan(region));
      assert.equal(c.callClass, cls);
      assert.equal(c.e164, e164);
    });
  }

  it('a custom internal pattern admits feature codes', () => {
    const p = { ...plan('GB'), internal: /^\*?[0-9]{2,4}$/ };
    assert.equal(classifyDialled('*97', p).callClass, 'internal');
    assert.equal(classifyDialled('12345', p).callClass, 'invalid');
  });

  it('a possible number in an unclassified home range is national with type UNKNOWN', () => {
    const c = classifyDialled('+44909000001', plan('GB'));
    assert.equal(c.callClass, 'national');
    assert.equal(c.type, 'UNKNOWN');
    assert.equal(c.valid, false);
  });

  it('extractUserPart cuts its output to the bound', () => {
    assert.equal(extractUserPart(`sip:${'9'.repeat(5000)}@x`).length <= MAX_DIALLED_CHARS, true);
    assert.equal(extractUserPart('sip:alice:secret@x'), 'alice');
  });
});

describe('classifyDialled: never throws (fast-check)', () => {
  it('on arbitrary strings, URIs and regions', () => {
    const region = fc.constantFrom(undefined, 'GB', 'US', 'DE', 'FR', 'XX', 'gb', '');
    const dialChars = fc.constantFrom(...'0123456789+*#-.() %@;:<>tel:sip'.split(''));
    const dialish = fc.array(dialChars, { maxLength: 80 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ maxLength: 100, unit: 'grapheme' }), dialish), region, (s, r) => {
        const c = classifyDialled(s, plan(r));
        assert.equal(typeof c.callClass, 'string');
        assert.ok(c.raw.length <= MAX_DIALLED_CHARS);
        if (c.e164 !== undefined) assert.match(c.e164, /^\+[0-9]{2,17}$/);
      }),
      { numRuns: 2000 },
    );
  });
});
