// SLA state of a ticket (SPEC §3.6): targets per priority from settings; first
// response measured from creation, or from handoff for bot tickets (bot time never
// counts); green / yellow (past slaWarningPercent) / red (breached) / met / none.

import { parseDuration } from './durations.js';
import type { TicketRow } from './model.js';
import type { Settings } from './settings.js';

export type SlaState = 'green' | 'yellow' | 'red' | 'met' | 'none';

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
  /** ms until the nearest open target is breached (negative once breached); for sorting. */
  timeLeft: number | null;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function computeSla(t: TicketRow, settings: Settings, now: number): SlaClock {
  const target = settings.sla?.[t.priority];
  const none: SlaClock = { state: 'none', firstResponseDueAt: null, resolutionDueAt: null, breachedAt: null, timeLeft: null };
  // Bot tickets have no clock until handed off; internal tasks only have resolution.
  if (!target || (t.type === 'bot' && !t.handoffAt)) return none;
  const start = t.handoffAt ?? t.createdAt;
  const fr = parseDuration(target.firstResponse);
  const res = parseDuration(target.resolution);
  const firstDue = t.channel === 'internal' ? null : start + fr;
  const resDue = start + res;
  const warn = (settings.slaWarningPercent ?? 75) / 100;
  const done = t.status === 'resolved' || t.status === 'closed';
  const resolvedAt = t.resolvedAt ?? t.closedAt;
  let breachedAt: number | null = t.slaBreachedAt ?? null;
  const firstMissed = firstDue !== null && (t.firstResponseAt ?? (done ? resolvedAt : now)!) > firstDue;
  const resMissed = (done ? resolvedAt ?? now : now) > resDue;
  if (!breachedAt && (firstMissed || resMissed)) breachedAt = Math.min(firstMissed ? firstDue! : Infinity, resMissed ? resDue : Infinity);
  if (done) return { state: breachedAt ? 'red' : 'met', firstResponseDueAt: firstDue, resolutionDueAt: resDue, breachedAt, timeLeft: null };
  if (breachedAt) return { state: 'red', firstResponseDueAt: firstDue, resolutionDueAt: resDue, breachedAt, timeLeft: Math.min(...[firstDue, resDue].filter((x): x is number => x !== null)) - now };
  // The open clocks: first response until answered, resolution until resolved.
  const clocks: { due: number; length: number }[] = [{ due: resDue, length: res }];
  if (firstDue !== null && !t.firstResponseAt) clocks.push({ due: firstDue, length: fr });
  const yellow = clocks.some((c) => now - (c.due - c.length) >= c.length * warn);
  const timeLeft = Math.min(...clocks.map((c) => c.due - now));
  return { state: yellow ? 'yellow' : 'green', firstResponseDueAt: firstDue, resolutionDueAt: resDue, breachedAt: null, timeLeft };
}

export function slaView(c: SlaClock): SlaView {
  return { state: c.state, firstResponseDueAt: iso(c.firstResponseDueAt), resolutionDueAt: iso(c.resolutionDueAt), breachedAt: iso(c.breachedAt) };
}
