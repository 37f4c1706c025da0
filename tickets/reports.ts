// GET /api/reports/summary?from&to (SPEC issue 7 "Reports"): what team leads look at.
// Tickets created in [from, to) (ISO dates; either may be left open), optionally narrowed
// with the list's filters (channel, team, priority...). Counts are grouped in SQL; the
// duration percentiles read one number per answered/resolved ticket and sort them here.
//
// - tickets: total and by status / channel / category / priority
// - bot: tickets the bot resolved alone vs handed to agents (shares of the two), the
//   handoff causes, and bot conversations still going
// - firstResponse / resolution: median and p90 in ms, from creation or handoff (wall-clock
//   time, not business hours) for agent-handled tickets
// - sla: tickets by SLA state now, met vs breached (breached = a target was missed, open
//   or done) and the met share
// - csat: number of ratings, average score and distribution

import express, { type Router } from 'express';
import type { Sql } from '../gateway/db/sql.js';
import { userOf, type Authenticator } from './auth.js';
import type { TicketContext } from './context.js';
import { whereOf, type ListQuery } from './list.js';
import { SLA_STATES, slaStateSql } from './sla.js';

export interface DurationStats {
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
}

export interface ReportSummary {
  range: { from: string | null; to: string | null };
  tickets: { total: number; byStatus: Record<string, number>; byChannel: Record<string, number>; byCategory: Record<string, number>; byPriority: Record<string, number> };
  bot: { resolvedByBot: number; handedOff: number; inConversation: number; resolvedByBotShare: number | null; handedOffShare: number | null; handoffCauses: Record<string, number> };
  firstResponse: DurationStats;
  resolution: DurationStats;
  sla: { met: number; breached: number; metShare: number | null; states: Record<string, number> };
  csat: { responses: number; average: number | null; distribution: Record<string, number> };
}

/** Median (mean of the two middle values for an even count) and p90 (nearest rank) of ascending values. */
export function durationStats(sorted: ArrayLike<number>): DurationStats {
  const n = sorted.length;
  if (!n) return { count: 0, medianMs: null, p90Ms: null };
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { count: n, medianMs: Math.round(median), p90Ms: sorted[Math.ceil(0.9 * n) - 1] };
}

const share = (a: number, b: number) => (a + b ? Math.round((a / (a + b)) * 10_000) / 10_000 : null);

export async function reportSummary(sql: Sql, q: ListQuery, me: string, now: number): Promise<ReportSummary> {
  const { where, params } = whereOf(q, me, now);
  const base = where.length ? where.join(' AND ') : '1 = 1';
  const groups = async (col: string) => {
    const rows = await sql.query<{ k: string | null; c: number }>(`SELECT ${col} AS k, COUNT(*) AS c FROM tickets t WHERE ${base} GROUP BY ${col}`, params as any[]);
    const out: Record<string, number> = {};
    for (const r of rows) out[r.k ?? 'none'] = Number(r.c);
    return out;
  };
  const durations = async (expr: string, cond: string) => {
    const rows = await sql.query<{ d: number }>(`SELECT ${expr} AS d FROM tickets t WHERE ${base} AND ${cond}`, params as any[]);
    const values = Float64Array.from(rows, (r) => Math.max(0, Number(r.d)));
    return durationStats(values.sort());
  };

  const [byStatus, byChannel, byCategory, byPriority, causes] = await Promise.all([
    groups('t.status'), groups('t.channel'), groups('t.category'), groups('t.priority'),
    sql.query<{ k: string | null; c: number }>(`SELECT t.handoffCause AS k, COUNT(*) AS c FROM tickets t WHERE ${base} AND t.handoffAt IS NOT NULL GROUP BY t.handoffCause`, params as any[]),
  ]);
  const [bot] = await sql.query<{ resolved: number; handed: number; talking: number }>(
    `SELECT
       SUM(CASE WHEN t.type = 'bot' AND t.handoffAt IS NULL AND t.status IN ('resolved', 'closed') THEN 1 ELSE 0 END) AS resolved,
       SUM(CASE WHEN t.handoffAt IS NOT NULL THEN 1 ELSE 0 END) AS handed,
       SUM(CASE WHEN t.type = 'bot' AND t.status NOT IN ('resolved', 'closed') THEN 1 ELSE 0 END) AS talking
     FROM tickets t WHERE ${base}`,
    params as any[],
  );
  const firstResponse = await durations('t.firstResponseAt - COALESCE(t.handoffAt, t.createdAt)', "t.firstResponseAt IS NOT NULL AND t.type = 'agent'");
  const resolution = await durations('t.resolvedAt - COALESCE(t.handoffAt, t.createdAt)', "t.resolvedAt IS NOT NULL AND t.type = 'agent'");

  const stateCols = SLA_STATES.map((s) => {
    const c = slaStateSql(s);
    return { sql: `SUM(CASE WHEN ${c.sql} THEN 1 ELSE 0 END) AS ${s}`, params: Array(c.nowParams).fill(now) };
  });
  const [st] = await sql.query<Record<string, number>>(
    `SELECT ${stateCols.map((c) => c.sql).join(', ')} FROM tickets t WHERE ${base}`,
    [...stateCols.flatMap((c) => c.params), ...params] as any[],
  );
  const states = Object.fromEntries(SLA_STATES.map((s) => [s, Number(st?.[s] ?? 0)]));

  const [cs] = await sql.query<{ n: number; total: number }>(`SELECT COUNT(*) AS n, SUM(t.csatScore) AS total FROM tickets t WHERE ${base} AND t.csatScore IS NOT NULL`, params as any[]);
  const dist = await sql.query<{ k: number; c: number }>(`SELECT t.csatScore AS k, COUNT(*) AS c FROM tickets t WHERE ${base} AND t.csatScore IS NOT NULL GROUP BY t.csatScore`, params as any[]);
  const responses = Number(cs?.n ?? 0);

  const resolvedByBot = Number(bot?.resolved ?? 0);
  const handedOff = Number(bot?.handed ?? 0);
  const from = typeof q.from === 'string' && q.from ? new Date(whereFrom(q.from)).toISOString() : null;
  const to = typeof q.to === 'string' && q.to ? new Date(whereFrom(q.to)).toISOString() : null;
  return {
    range: { from, to },
    tickets: { total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus, byChannel, byCategory, byPriority },
    bot: {
      resolvedByBot,
      handedOff,
      inConversation: Number(bot?.talking ?? 0),
      resolvedByBotShare: share(resolvedByBot, handedOff),
      handedOffShare: share(handedOff, resolvedByBot),
      handoffCauses: Object.fromEntries(causes.map((r) => [r.k ?? 'unknown', Number(r.c)])),
    },
    firstResponse,
    resolution,
    sla: { met: states.met, breached: states.red, metShare: share(states.met, states.red), states },
    csat: {
      responses,
      average: responses ? Math.round((Number(cs.total) / responses) * 100) / 100 : null,
      distribution: Object.fromEntries(dist.map((r) => [String(r.k), Number(r.c)])),
    },
  };
}

/** The same parsing as the list's from/to (validated there). */
const whereFrom = (v: string) => (/^\d+$/.test(v) ? Number(v) : Date.parse(v));

export function createReportRoutes(ctx: TicketContext, auth: Authenticator): Router {
  const r = express.Router();
  r.get('/reports/summary', auth.middleware(), async (req, res) => {
    res.json(await reportSummary(ctx.sql, req.query as ListQuery, userOf(req).id, ctx.clock.now()));
  });
  return r;
}
