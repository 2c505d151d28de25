/**
 * Time windows: weekdays and hours in an IANA time zone ("international calls Mon–Fri 08:00–19:00 Europe/London").
 *
 * Local time comes from Intl.DateTimeFormat with `timeZone`, which applies the tz database's DST rules, so a window
 * written in local time stays right across the change (08:00 London is 08:00 UTC in winter and 07:00 UTC in summer).
 * Input is a wall-clock epoch in ms; nothing here reads the clock.
 */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface LocalTime {
  /** 0 = Sunday. */
  readonly weekday: number;
  /** Minutes since local midnight, 0..1439. */
  readonly minuteOfDay: number;
}

export interface TimeWindow {
  readonly days: readonly Weekday[];
  /** "HH:MM" local. `to` before `from` means the window runs past midnight (22:00–06:00). */
  readonly from: string;
  readonly to: string;
  readonly tz: string;
}

const MAX_FORMATTERS = 64;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(tz);
  if (f !== undefined) return f;
  try {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  } catch {
    return undefined; // RangeError: unknown time zone (the schema checks names; defence in depth)
  }
  if (formatters.size >= MAX_FORMATTERS) formatters.clear();
  formatters.set(tz, f);
  return f;
}

const WEEKDAY_INDEX: Readonly<Record<string, number>> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Local weekday and minute of day at `wallMs` in `tz`; undefined for an unknown zone or a non-finite time. */
export function localTime(wallMs: number, tz: string): LocalTime | undefined {
  if (!Number.isFinite(wallMs)) return undefined;
  const f = formatterFor(tz);
  if (f === undefined) return undefined;
  let weekday = -1;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(wallMs)) {
    if (p.type === 'weekday') weekday = WEEKDAY_INDEX[p.value] ?? -1;
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  if (weekday < 0) return undefined;
  return { weekday, minuteOfDay: hour * 60 + minute };
}

export function isValidTimeZone(tz: string): boolean {
  return formatterFor(tz) !== undefined;
}

/** "HH:MM" → minutes; "24:00" is allowed as an end of day. NaN on bad input. */
export function parseHhMm(s: string): number {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(s);
  if (!m) return Number.NaN;
  const v = Number(m[1]) * 60 + Number(m[2]);
  return v > 1440 ? Number.NaN : v;
}

/** Whether `wallMs` falls inside one window. An overnight window belongs to the day it starts on. */
export function isInWindow(w: TimeWindow, wallMs: number): boolean {
  const t = localTime(wallMs, w.tz);
  if (t === undefined) return false; // fail closed: an unusable window grants nothing
  const from = parseHhMm(w.from);
  const to = parseHhMm(w.to);
  if (Number.isNaN(from) || Number.isNaN(to)) return false;
  const today = WEEKDAYS[t.weekday] as Weekday;
  if (from < to) return w.days.includes(today) && t.minuteOfDay >= from && t.minuteOfDay < to;
  if (from === to) return w.days.includes(today); // whole day
  // Overnight: the evening part belongs to today, the morning part to yesterday's window.
  const yesterday = WEEKDAYS[(t.weekday + 6) % 7] as Weekday;
  return (w.days.includes(today) && t.minuteOfDay >= from) || (w.days.includes(yesterday) && t.minuteOfDay < to);
}

/** No windows means no restriction; otherwise any window may admit the call. */
export function isWithinWindows(windows: readonly TimeWindow[], wallMs: number): boolean {
  if (windows.length === 0) return true;
  for (const w of windows) if (isInWindow(w, wallMs)) return true;
  return false;
}
