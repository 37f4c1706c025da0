// SLA of a ticket (SPEC §3.6). Targets per priority from settings (`sla`), yellow past
// `slaWarningPercent` of a target, optional business-hours calendar (`businessHours`).
//
// Clocks:
// - First response runs from creation, or from the handoff for bot tickets (bot time never
//   counts), until the first agent message (`firstResponseAt`). Internal tasks have none.
// - Resolution runs from the same start until resolved/closed, paused while the ticket waits
//   on the customer (`idle`, `proactive`), while the bot has it again after a handback, and
//   while it is resolved or closed (so a reopened ticket continues where it stopped). The
//   pause is kept on the ticket: `slaPausedMs` (counted time already paused) and
//   `slaPausedAt` (start of the current pause), maintained by `slaPatch` on status changes.
//
// Everything is derived from the ticket row, the settings and `now` (computeSla). The
// moments the list and the scheduler need are also stored on the row (slaColumns) so that
// `sla=` filters, `sort=sla` and the breach scan run on indexes:
//   slaFirstResponseDueAt / slaResolutionDueAt  the due moments (resolution projected while paused)
//   slaDueAt       earliest due among running clocks: sort key of sort=sla (null: no running clock)
//   slaWarnAt      when the ticket turns (or turned) yellow
//   slaNextCheckAt earliest breach not yet recorded (may be in the past): the scan's index
//   slaBreachedAt, slaFirstResponseBreachedAt, slaResolutionBreachedAt  recorded by the scan

import { calendarOf, type BusinessCalendar } from './business-hours.js';
import { parseDuration } from './durations.js';
import type { TicketRow, TicketStatus } from './model.js';
import type { Settings } from './settings.js';

export type SlaState = 'green' | 'yellow' | 'red' | 'met' | 'none';
export const SLA_STATES: readonly SlaState[] = ['green', 'yellow', 'red', 'met', 'none'];

export interface SlaView {
  state: SlaState;
  firstResponseDueAt: string | null;
  resolutionDueAt: string | null;
  breachedAt: string | null;
}

export interface SlaClock {
  state: SlaState;
  firstResponseDueAt: number | null;
  resolutionDueAt: number | null;
  breachedAt: number | null;
  /** ms until the nearest running target is breached (negative once breached); null when no clock runs. */
  timeLeft: number | null;
}

export type SlaTargetName = 'first_response' | 'resolution';

/** One target's clock at `now`. */
interface TargetClock {
  due: number;
  /** The warning moment, when it is (or was) reached or will be while running; null when frozen before it. */
  warn: number | null;
  /** The clock is counting now (not met, not paused, not done). */
  running: boolean;
  /** Breached: due passed while running, or answered/resolved/paused after the due. */
  missed: boolean;
  /** Still open (not answered / not resolved): counts for yellow. */
  open: boolean;
}

export interface SlaPlan {
  applies: boolean;
  firstResponse: TargetClock | null;
  resolution: TargetClock | null;
}

const DONE: TicketStatus[] = ['resolved', 'closed'];
const WAITING: TicketStatus[] = ['idle', 'proactive'];
const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Whether the resolution clock is stopped for this ticket as it stands. */
export function resolutionPaused(t: Pick<TicketRow, 'status' | 'type'>): boolean {
  return t.type === 'bot' || WAITING.includes(t.status) || DONE.includes(t.status);
}

interface Counter {
  between(a: number, b: number): number;
  add(a: number, ms: number): number;
}

const wallClock: Counter = { between: (a, b) => Math.max(0, b - a), add: (a, ms) => a + Math.max(0, ms) };

function counterOf(settings: Settings): Counter {
  const cal: BusinessCalendar | null = calendarOf(settings.businessHours);
  return cal ?? wallClock;
}

/** Both clocks of a ticket at `now`, from the row alone (stored SLA columns are not read, except the pause and recorded breaches). */
export function slaPlan(t: TicketRow, settings: Settings, now: number): SlaPlan {
  const target = settings.sla?.[t.priority];
  const handoffAt = n(t.handoffAt);
  if (!target || (t.type === 'bot' && handoffAt === null)) return { applies: false, firstResponse: null, resolution: null };
  const c = counterOf(settings);
  const start = handoffAt ?? Number(t.createdAt);
  const pct = Math.min(Math.max(Number(settings.slaWarningPercent ?? 75), 0), 100) / 100;
  const done = DONE.includes(t.status);
  const statusAt = Number(t.statusChangedAt ?? t.updatedAt);

  // The pause as stored; rows changed by a path that bypassed slaPatch are read sensibly:
  // a pause without a pausing status ended at the status change, and vice versa.
  let pausedMs = Number(t.slaPausedMs ?? 0);
  let pausedAt = n(t.slaPausedAt);
  const pausedNow = resolutionPaused(t);
  if (pausedAt !== null && !pausedNow) {
    pausedMs += c.between(pausedAt, Math.max(pausedAt, statusAt));
    pausedAt = null;
  } else if (pausedAt === null && pausedNow) {
    pausedAt = Math.max(start, statusAt);
  }

  let firstResponse: TargetClock | null = null;
  if (t.channel !== 'internal') {
    const len = parseDuration(target.firstResponse);
    const due = c.add(start, len);
    const warn = c.add(start, Math.round(len * pct));
    const answeredAt = n(t.firstResponseAt);
    const doneAt = n(t.resolvedAt) ?? n(t.closedAt) ?? statusAt;
    if (answeredAt !== null) firstResponse = { due, warn: null, running: false, missed: answeredAt > due, open: false };
    else if (done) firstResponse = { due, warn: null, running: false, missed: doneAt >= due, open: false };
    // Handed back to the bot before any agent answered: no agent clock to run.
    else if (t.type === 'bot') firstResponse = { due, warn: null, running: false, missed: false, open: false };
    else firstResponse = { due, warn, running: true, missed: now >= due, open: true };
  }

  const len = parseDuration(target.resolution);
  const warnLen = Math.round(len * pct);
  let resolution: TargetClock;
  if (pausedAt === null) {
    const due = c.add(start, len + pausedMs);
    resolution = { due, warn: c.add(start, warnLen + pausedMs), running: true, missed: now >= due, open: true };
  } else {
    const elapsed = c.between(start, pausedAt) - pausedMs;
    const missed = elapsed >= len;
    // Breached before the pause: the due stays the moment it passed. Otherwise the due is
    // projected as if the clock resumed now.
    const due = missed ? c.add(start, len + pausedMs) : c.add(Math.max(now, pausedAt), len - elapsed);
    const warned = elapsed >= warnLen;
    resolution = { due, warn: warned && !done ? c.add(start, warnLen + pausedMs) : null, running: false, missed, open: !done };
  }
  return { applies: true, firstResponse, resolution };
}

const targetsOf = (p: SlaPlan) => [p.firstResponse, p.resolution].filter((x): x is TargetClock => x !== null);

export function computeSla(t: TicketRow, settings: Settings, now: number): SlaClock {
  const recorded = n(t.slaBreachedAt);
  const p = slaPlan(t, settings, now);
  if (!p.applies) {
    return { state: recorded !== null ? 'red' : 'none', firstResponseDueAt: null, resolutionDueAt: null, breachedAt: recorded, timeLeft: null };
  }
  const targets = targetsOf(p);
  const missed = targets.filter((x) => x.missed).map((x) => x.due);
  const breachedAt = recorded ?? (missed.length ? Math.min(...missed) : null);
  const running = targets.filter((x) => x.running).map((x) => x.due);
  const timeLeft = running.length ? Math.min(...running) - now : null;
  const base = { firstResponseDueAt: p.firstResponse?.due ?? null, resolutionDueAt: p.resolution?.due ?? null, breachedAt, timeLeft };
  if (DONE.includes(t.status)) return { ...base, state: breachedAt !== null ? 'red' : 'met', timeLeft: null };
  if (breachedAt !== null) return { ...base, state: 'red' };
  const yellow = targets.some((x) => x.open && x.warn !== null && x.warn <= now);
  return { ...base, state: yellow ? 'yellow' : 'green' };
}

export type SlaColumns = Pick<TicketRow, 'slaFirstResponseDueAt' | 'slaResolutionDueAt' | 'slaNextCheckAt' | 'slaDueAt' | 'slaWarnAt'>;

/** The derived SLA columns to store on the row (see the header); pure. */
export function slaColumns(t: TicketRow, settings: Settings, now: number): SlaColumns {
  const p = slaPlan(t, settings, now);
  if (!p.applies) return { slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaNextCheckAt: null, slaDueAt: null, slaWarnAt: null };
  const fr = p.firstResponse;
  const res = p.resolution!;
  const done = DONE.includes(t.status);
  const min = (xs: (number | null | undefined)[]) => {
    const v = xs.filter((x): x is number => typeof x === 'number');
    return v.length ? Math.min(...v) : null;
  };
  const unrecorded = (x: TargetClock | null, recordedAt: unknown) => (x && n(recordedAt) === null && (x.running || x.missed) ? x.due : null);
  return {
    slaFirstResponseDueAt: fr?.due ?? null,
    slaResolutionDueAt: res.due,
    slaNextCheckAt: min([unrecorded(fr, t.slaFirstResponseBreachedAt), unrecorded(res, t.slaResolutionBreachedAt)]),
    slaDueAt: done ? null : min([fr?.running ? fr.due : null, res.running ? res.due : null]),
    slaWarnAt: done ? null : min([fr?.open ? fr.warn : null, res.open ? res.warn : null]),
  };
}

/**
 * The SLA part of a ticket change: pause bookkeeping plus the derived columns of the row
 * after `patch`. Lifecycle code merges it into the patch it writes:
 * `Object.assign(patch, slaPatch(t, patch, now, settings))`.
 */
export function slaPatch(t: TicketRow, patch: Partial<TicketRow>, now: number, settings: Settings): Partial<TicketRow> {
  const after = { ...t, ...patch } as TicketRow;
  const c = counterOf(settings);
  let pausedMs = Number(t.slaPausedMs ?? 0);
  let pausedAt = n(t.slaPausedAt);
  // A new handoff starts a new agent episode: its clocks start afresh.
  if (patch.handoffAt !== undefined && n(patch.handoffAt) !== n(t.handoffAt)) {
    pausedMs = 0;
    pausedAt = null;
  }
  const start = n(after.handoffAt) ?? Number(after.createdAt);
  const paused = resolutionPaused(after) && !(after.type === 'bot' && n(after.handoffAt) === null);
  if (pausedAt !== null && !paused) {
    pausedMs += c.between(Math.max(pausedAt, start), now);
    pausedAt = null;
  } else if (pausedAt === null && paused) {
    pausedAt = Math.max(now, start);
  }
  const out: Partial<TicketRow> = { slaPausedMs: pausedMs, slaPausedAt: pausedAt };
  return { ...out, ...slaColumns({ ...after, ...out, statusChangedAt: after.statusChangedAt ?? now }, settings, now) };
}

/** The patch with its SLA part merged in (for lifecycle writes built inline). */
export function withSla(t: TicketRow, patch: Partial<TicketRow>, now: number, settings: Settings): Partial<TicketRow> {
  return { ...patch, ...slaPatch(t, patch, now, settings) };
}

/** A new ticket's SLA columns (pause included, e.g. a proactive ticket), merged into the row before its INSERT. */
export function withNewTicketSla<T extends TicketRow>(row: T, settings: Settings, now: number): T {
  return Object.assign(row, slaPatch(row, {}, now, settings));
}

/** The hook for a status change alone. */
export function slaOnStatusChange(t: TicketRow, to: TicketStatus, now: number, settings: Settings, patch: Partial<TicketRow> = {}): Partial<TicketRow> {
  return slaPatch(t, { ...patch, status: to, statusChangedAt: now }, now, settings);
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function slaView(c: SlaClock): SlaView {
  return { state: c.state, firstResponseDueAt: iso(c.firstResponseDueAt), resolutionDueAt: iso(c.resolutionDueAt), breachedAt: iso(c.breachedAt) };
}

/** The settings that change SLA clocks: when this fingerprint changes, open tickets are recomputed. */
export function slaFingerprint(settings: Settings): string {
  return JSON.stringify([settings.sla ?? null, settings.slaWarningPercent ?? null, settings.businessHours ?? null]);
}

/**
 * SQL condition for each state, on the stored columns (alias `t`), for the list filter.
 * `?` placeholders take `now` (count given).
 */
export function slaStateSql(state: SlaState): { sql: string; nowParams: number } {
  // A recorded breach is in the past, so "recorded, or an unrecorded one has come" is one
  // comparison; written so (no OR across two indexed columns) MySQL does not merge two
  // large index ranges and sort them instead of walking the list's order.
  const red = '(COALESCE(t.slaBreachedAt, t.slaNextCheckAt) <= ?)';
  const notRed = '(t.slaBreachedAt IS NULL AND (t.slaNextCheckAt IS NULL OR t.slaNextCheckAt > ?))';
  const done = "t.status IN ('resolved', 'closed')";
  const open = "t.status NOT IN ('resolved', 'closed')";
  switch (state) {
    case 'red':
      return { sql: red, nowParams: 1 };
    case 'yellow':
      return { sql: `(t.slaWarnAt <= ? AND ${notRed} AND ${open})`, nowParams: 2 };
    case 'green':
      return { sql: `(t.slaResolutionDueAt IS NOT NULL AND ${open} AND ${notRed} AND (t.slaWarnAt IS NULL OR t.slaWarnAt > ?))`, nowParams: 2 };
    case 'met':
      return { sql: `(t.slaResolutionDueAt IS NOT NULL AND ${done} AND ${notRed})`, nowParams: 1 };
    case 'none':
      return { sql: '(t.slaResolutionDueAt IS NULL AND t.slaBreachedAt IS NULL)', nowParams: 0 };
  }
}
