import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { isInWindow, isWithinWindows, localTime, parseHhMm, type TimeWindow } from '../../../src/policy/time-window.ts';

const OFFICE_LONDON: TimeWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', tz: 'Europe/London' };
const HOUR = 3_600_000;

describe('localTime', () => {
  it('gives the local weekday and minute in a zone', () => {
    assert.deepEqual(localTime(Date.UTC(2026, 10, 30, 10, 15), 'UTC'), { weekday: 1, minuteOfDay: 615 });
    assert.deepEqual(localTime(Date.UTC(2026, 10, 30, 23, 30), 'Asia/Tokyo'), { weekday: 2, minuteOfDay: 8 * 60 + 30 });
    assert.deepEqual(localTime(Date.UTC(2026, 10, 30, 0, 0), 'America/New_York'), { weekday: 0, minuteOfDay: 19 * 60 });
  });
  it('is undefined for an unknown zone or a non-finite time', () => {
    assert.equal(localTime(0, 'Mars/Olympus'), undefined);
    assert.equal(localTime(Number.NaN, 'UTC'), undefined);
  });
  it('parses HH:MM strictly', () => {
    assert.equal(parseHhMm('08:30'), 510);
    assert.equal(parseHhMm('24:00'), 1440);
    assert.ok(Number.isNaN(parseHhMm('24:01')));
    assert.ok(Number.isNaN(parseHhMm('8:30')));
  });
});

describe('windows across the DST change (ManualClock on wall time)', () => {
  it('08:00 London is 08:00 UTC before and 07:00 UTC after the spring change (2026-03-29)', () => {
    const clock = new ManualClock(0, Date.UTC(2026, 2, 27, 7, 30)); // Friday 07:30 GMT
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), false);
    clock.advance(30 * 60_000); // 08:00 GMT
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), true);
    clock.advance(3 * 24 * HOUR - HOUR); // Monday 07:00 UTC = 08:00 BST
    assert.equal(new Date(clock.wallNow()).toISOString(), '2026-03-30T07:00:00.000Z');
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), true);
    clock.advance(-60_000); // 07:59 BST
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), false);
    clock.advance(10 * HOUR + 60_000); // 17:00 UTC = 18:00 BST: closed
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), false);
  });

  it('and back in autumn (2026-10-25): 08:00 London is 08:00 UTC again', () => {
    const clock = new ManualClock(0, Date.UTC(2026, 9, 23, 7, 0)); // Friday 08:00 BST
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), true);
    clock.advance(3 * 24 * HOUR); // Monday 07:00 UTC = 07:00 GMT
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), false);
    clock.advance(HOUR);
    assert.equal(isInWindow(OFFICE_LONDON, clock.wallNow()), true);
  });

  it('New York changes on its own date (2026-03-08), not London’s', () => {
    const ny: TimeWindow = { days: ['mon'], from: '09:00', to: '17:00', tz: 'America/New_York' };
    assert.equal(isInWindow(ny, Date.UTC(2026, 2, 2, 14, 0)), true); // 09:00 EST
    assert.equal(isInWindow(ny, Date.UTC(2026, 2, 9, 13, 0)), true); // 09:00 EDT
    assert.equal(isInWindow(ny, Date.UTC(2026, 2, 2, 13, 30)), false); // 08:30 EST
  });
});

describe('window shapes', () => {
  const cases: ReadonlyArray<[string, TimeWindow, number, boolean]> = [
    ['weekend day closed', OFFICE_LONDON, Date.UTC(2026, 10, 29, 10), false],
    ['end is exclusive', OFFICE_LONDON, Date.UTC(2026, 10, 30, 18), false],
    ['overnight, evening part', { days: ['fri'], from: '22:00', to: '06:00', tz: 'UTC' }, Date.UTC(2026, 10, 27, 23), true],
    [
      'overnight, morning part belongs to the day before',
      { days: ['fri'], from: '22:00', to: '06:00', tz: 'UTC' },
      Date.UTC(2026, 10, 28, 5),
      true,
    ],
    [
      'overnight, morning of the listed day is outside',
      { days: ['fri'], from: '22:00', to: '06:00', tz: 'UTC' },
      Date.UTC(2026, 10, 27, 5),
      false,
    ],
    ['from = to is the whole day', { days: ['sun'], from: '00:00', to: '00:00', tz: 'UTC' }, Date.UTC(2026, 10, 29, 13), true],
    ['unknown zone grants nothing', { days: ['mon'], from: '00:00', to: '24:00', tz: 'Nowhere/City' }, Date.UTC(2026, 10, 30, 10), false],
  ];
  for (const [name, w, t, expected] of cases) it(name, () => assert.equal(isInWindow(w, t), expected));

  it('no windows = always; several = any of them', () => {
    assert.equal(isWithinWindows([], 0), true);
    const sat: TimeWindow = { days: ['sat'], from: '10:00', to: '12:00', tz: 'UTC' };
    assert.equal(isWithinWindows([OFFICE_LONDON, sat], Date.UTC(2026, 10, 28, 11)), true);
    assert.equal(isWithinWindows([OFFICE_LONDON, sat], Date.UTC(2026, 10, 28, 13)), false);
  });
});
