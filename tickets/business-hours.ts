// Business-hours calendar for SLA clocks (setting `businessHours`):
//   {timeZone: "Europe/Berlin", weekly: {mon: [["09:00","17:00"]], ...}, holidays: ["2026-12-25"]}
// When set, SLA targets count only the time inside these intervals, in the calendar's
// time zone. Local wall-clock times are turned into instants with Intl (the runtime's
// own tz database), so daylight-saving changes shift the UTC instants, not the hours.

import { badRequest } from './errors.js';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface BusinessHours {
  timeZone: string;
  weekly: Partial<Record<Weekday, [string, string][]>>;
  holidays?: string[];
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Validates the setting; returns it normalised (intervals sorted) or null. Nothing half-valid passes. */
export function validateBusinessHours(v: unknown): BusinessHours | null {
  if (v === null) return null;
  const bad = (msg: string) => badRequest(`businessHours: ${msg}`, 'invalid_setting');
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('must be an object {timeZone, weekly, holidays} or null');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['timeZone', 'weekly', 'holidays'].includes(k));
  if (unknown.length) throw bad(`unknown key(s) ${unknown.join(', ')}`);
  if (typeof o.timeZone !== 'string' || !o.timeZone) throw bad('timeZone must be an IANA time zone such as "Europe/Berlin"');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: o.timeZone });
  } catch {
    throw bad(`unknown time zone ${o.timeZone}`);
  }
  if (!o.weekly || typeof o.weekly !== 'object' || Array.isArray(o.weekly)) throw bad('weekly must be an object keyed by mon, tue, wed, thu, fri, sat, sun');
  const weekly: BusinessHours['weekly'] = {};
  let total = 0;
  for (const [day, list] of Object.entries(o.weekly as Record<string, unknown>)) {
    if (!WEEKDAYS.includes(day as Weekday)) throw bad(`weekly: unknown day ${day} (use mon, tue, wed, thu, fri, sat, sun)`);
    if (!Array.isArray(list)) throw bad(`weekly.${day} must be a list of ["HH:MM","HH:MM"] intervals`);
    const intervals = list.map((iv, i) => {
      if (!Array.isArray(iv) || iv.length !== 2 || iv.some((x) => typeof x !== 'string' || !TIME.test(x))) {
        throw bad(`weekly.${day}[${i}] must be ["HH:MM","HH:MM"] (24-hour clock, "24:00" allowed as an end)`);
      }
      if (minutesOf(iv[0]) >= minutesOf(iv[1])) throw bad(`weekly.${day}[${i}]: the start must be before the end`);
      return [iv[0], iv[1]] as [string, string];
    });
    intervals.sort((a, b) => minutesOf(a[0]) - minutesOf(b[0]));
    for (let i = 1; i < intervals.length; i++) {
      if (minutesOf(intervals[i][0]) < minutesOf(intervals[i - 1][1])) throw bad(`weekly.${day}: intervals overlap`);
    }
    total += intervals.length;
    weekly[day as Weekday] = intervals;
  }
  if (!total) throw bad('weekly needs at least one interval (otherwise no SLA clock would ever run)');
  let holidays: string[] | undefined;
  if (o.holidays !== undefined) {
    if (!Array.isArray(o.holidays)) throw bad('holidays must be a list of "YYYY-MM-DD" dates');
    holidays = o.holidays.map((h) => {
      const m = typeof h === 'string' ? DATE.exec(h) : null;
      const d = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null;
      if (!m || !d || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3]) throw bad(`holiday ${JSON.stringify(h)} is not a "YYYY-MM-DD" date`);
      return h as string;
    });
  }
  return { timeZone: o.timeZone, weekly, ...(holidays ? { holidays } : {}) };
}

/** A calendar: counts business time between instants and adds business time to an instant. */
export class BusinessCalendar {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly holidays: Set<string>;
  private readonly weekly: [number, number][][];
  /** Business intervals (UTC ms) of a local day, keyed by its UTC-midnight day number. */
  private readonly days = new Map<number, [number, number][]>();

  constructor(readonly def: BusinessHours) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: def.timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    this.holidays = new Set(def.holidays ?? []);
    this.weekly = WEEKDAYS.map((d) => (def.weekly[d] ?? []).map(([a, b]) => [minutesOf(a), minutesOf(b)] as [number, number]));
  }

  /** The zone's wall-clock time at `t`, as if it were UTC (so Date.UTC arithmetic applies). */
  private wall(t: number): number {
    const p: Record<string, number> = {};
    for (const part of this.fmt.formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  }

  /** The instant at which the zone's wall clock shows `wall` (ms as if UTC); in a DST gap, the moment after it. */
  private instant(wall: number): number {
    let t = wall - (this.wall(wall) - wall);
    const off = this.wall(t) - t;
    if (t + off !== wall) t = wall - off;
    return t;
  }

  /** Business intervals of the local day number `day` (days since 1970-01-01 in local wall time). */
  private intervals(day: number): [number, number][] {
    let iv = this.days.get(day);
    if (iv) return iv;
    const midnight = day * DAY_MS;
    const date = new Date(midnight).toISOString().slice(0, 10);
    iv = this.holidays.has(date)
      ? []
      : this.weekly[new Date(midnight).getUTCDay()].map(([a, b]) => [this.instant(midnight + a * 60_000), this.instant(midnight + b * 60_000)] as [number, number]);
    if (this.days.size > 20_000) this.days.clear();
    this.days.set(day, iv);
    return iv;
  }

  private dayOf(t: number): number {
    return Math.floor(this.wall(t) / DAY_MS);
  }

  /** Business milliseconds in [a, b). */
  between(a: number, b: number): number {
    if (!(b > a)) return 0;
    let sum = 0;
    for (let day = this.dayOf(a) - 1, last = this.dayOf(b) + 1; day <= last; day++) {
      for (const [s, e] of this.intervals(day)) sum += Math.max(0, Math.min(e, b) - Math.max(s, a));
    }
    return sum;
  }

  /** The instant at which `ms` of business time has passed after `start` (start itself when ms <= 0). */
  add(start: number, ms: number): number {
    if (!(ms > 0)) return start;
    let left = ms;
    // Ten years of days at most: a calendar validated to have open hours always ends sooner.
    for (let day = this.dayOf(start) - 1, end = day + 3700; day <= end; day++) {
      for (const [s, e] of this.intervals(day)) {
        if (e <= start) continue;
        const from = Math.max(s, start);
        if (left <= e - from) return from + left;
        left -= e - from;
      }
    }
    throw new Error('business-hours calendar has no open time in the next ten years (all holidays?)');
  }
}

const cache = new Map<string, BusinessCalendar>();

/** The calendar of a (validated) setting value, or null when business hours are off. Cached by value. */
export function calendarOf(bh: unknown): BusinessCalendar | null {
  if (!bh || typeof bh !== 'object') return null;
  const key = JSON.stringify(bh);
  let cal = cache.get(key);
  if (!cal) {
    if (cache.size > 50) cache.clear();
    cal = new BusinessCalendar(bh as BusinessHours);
    cache.set(key, cal);
  }
  return cal;
}
