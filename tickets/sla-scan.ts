// The SLA scheduled job (run by the process holding the scheduler lease). Three steps,
// none of which scans every ticket:
// 1. Recompute: when the SLA settings (targets, warning %, business hours) changed, the
//    stored SLA columns of open tickets are recomputed in batches (a persisted cursor
//    lets a big backlog spread over several ticks and survive a restart).
// 2. Refresh: tickets changed since the last run (by the `updatedAt` index) get their stored
//    columns recomputed, so paths that change what the clocks depend on (creation, first
//    response, priority, triggers...) need no SLA code of their own; lifecycle changes
//    (status, handoff, handback) already wrote exact values through slaPatch.
// 3. Breaches: tickets whose `slaNextCheckAt` has passed (index range) get each newly
//    breached target recorded once: a column per target, `slaBreachedAt` (first), a
//    timeline entry {type:'sla', event} and an `sla.breached` event. The UPDATE only
//    matches when the ticket still has the version it was read with and the target is
//    still unrecorded, so concurrent runs or processes record a breach exactly once.

import type { Sql } from '../gateway/db/sql.js';
import { ensureSearchIndex } from '../gateway/db/search-index.js';
import type { TicketContext } from './context.js';
import { Effects } from './events.js';
import { SYSTEM, type TicketRow } from './model.js';
import type { Settings } from './settings.js';
import { slaColumns, slaFingerprint, slaPlan, type SlaColumns, type SlaTargetName } from './sla.js';
import { insertTimeline, ticketFromRow } from './store.js';

const OPEN = "('pending', 'active', 'proactive', 'on_hold', 'idle')";
/**
 * Tickets an SLA can apply to. A bot ticket never handed off has none (tickets/sla.ts,
 * slaPlan), and only a handoff (lifecycle, which writes the columns itself) changes
 * that. They are most tickets under load (every conversation starts as one, and each
 * message updates it): refreshing them read every one back, 15,000 rows a run at
 * 500 msgs/s, in batches that held the event loop for tens of ms.
 */
const MAY_HAVE_SLA = "NOT (t.type = 'bot' AND t.handoffAt IS NULL)";
const RECOMPUTE_KEY = 'sla:recompute';
const REFRESH_KEY = 'sla:refresh';
/** Transactions commit a little after the `updatedAt` they wrote: look back this far. */
const REFRESH_OVERLAP_MS = 60_000;
const BATCH = 500;

export interface SlaScanOptions {
  /** Most tickets recomputed per run after a settings change (the rest next run). */
  recomputeBudget?: number;
  /** Most changed tickets refreshed per run. */
  refreshBudget?: number;
}

const COLS: (keyof SlaColumns)[] = ['slaFirstResponseDueAt', 'slaResolutionDueAt', 'slaNextCheckAt', 'slaDueAt', 'slaWarnAt'];
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const differs = (t: TicketRow, c: SlaColumns) => COLS.some((k) => num(t[k]) !== c[k]);

async function readState(sql: Sql, key: string): Promise<any> {
  const rows = await sql.query<{ value: string }>('SELECT value FROM channel_state WHERE id = ?', [key]);
  return rows[0] ? JSON.parse(rows[0].value) : null;
}

async function writeState(sql: Sql, key: string, value: unknown, now: number): Promise<void> {
  const json = JSON.stringify(value);
  const { affected } = await sql.execute('UPDATE channel_state SET value = ?, updatedAt = ? WHERE id = ?', [json, now, key]);
  if (!affected) {
    try {
      await sql.execute('INSERT INTO channel_state (id, value, updatedAt) VALUES (?, ?, ?)', [key, json, now]);
    } catch (err) {
      if (!sql.isUniqueViolation(err)) throw err;
      await sql.execute('UPDATE channel_state SET value = ?, updatedAt = ? WHERE id = ?', [json, now, key]);
    }
  }
}

/**
 * Stores the derived columns when they changed, only if the ticket still has the version it
 * was read with (a concurrent writer computed its own). The version is not bumped: derived
 * values never make an agent's concurrent edit fail.
 */
async function storeColumns(sql: Sql, t: TicketRow, c: SlaColumns): Promise<boolean> {
  if (!differs(t, c)) return false;
  const { affected } = await sql.execute(
    `UPDATE tickets SET ${COLS.map((k) => `${k} = ?`).join(', ')} WHERE id = ? AND version = ?`,
    [...COLS.map((k) => c[k] ?? null), t.id, t.version],
  );
  return affected > 0;
}

/** Recomputes and stores the derived SLA columns of the given rows. */
export async function refreshRows(sql: Sql, rows: TicketRow[], settings: Settings, now: number): Promise<number> {
  let changed = 0;
  await sql.tx(async (tx) => {
    for (const t of rows) if (await storeColumns(tx, t, slaColumns(t, settings, now))) changed++;
  });
  return changed;
}

export function createSlaScan(ctx: TicketContext, afterCommit: (fx: Effects) => unknown, opts: SlaScanOptions = {}) {
  const { sql } = ctx;
  const recomputeBudget = opts.recomputeBudget ?? 20_000;
  const refreshBudget = opts.refreshBudget ?? 20_000;

  async function recompute(settings: Settings, now: number): Promise<void> {
    const fingerprint = slaFingerprint(settings);
    const state = await readState(sql, RECOMPUTE_KEY);
    if (state?.fingerprint === fingerprint && state.cursor === null) return;
    // A new fingerprint restarts from the beginning; the same one continues where it stopped.
    let cursor: string = state?.fingerprint === fingerprint ? state.cursor ?? '' : '';
    let budget = recomputeBudget;
    while (budget > 0) {
      const rows = (await sql.query(`SELECT * FROM tickets t WHERE t.status IN ${OPEN} AND ${MAY_HAVE_SLA} AND t.id > ? ORDER BY t.id LIMIT ${BATCH}`, [cursor])).map(ticketFromRow);
      await refreshRows(sql, rows, settings, now);
      budget -= rows.length;
      if (rows.length < BATCH) {
        await writeState(sql, RECOMPUTE_KEY, { fingerprint, cursor: null }, now);
        return;
      }
      cursor = rows[rows.length - 1].id;
    }
    await writeState(sql, RECOMPUTE_KEY, { fingerprint, cursor }, now);
  }

  async function refresh(settings: Settings, now: number): Promise<void> {
    const state = await readState(sql, REFRESH_KEY);
    const since: number = state?.since ?? now;
    let after: { at: number; id: string } | null = null;
    let budget = refreshBudget;
    let maxSeen = since;
    while (budget > 0) {
      const rows: TicketRow[] = (after
        ? await sql.query(`SELECT * FROM tickets t WHERE t.updatedAt >= ? AND (t.updatedAt > ? OR t.id > ?) AND ${MAY_HAVE_SLA} ORDER BY t.updatedAt, t.id LIMIT ${BATCH}`, [after.at, after.at, after.id])
        : await sql.query(`SELECT * FROM tickets t WHERE t.updatedAt >= ? AND ${MAY_HAVE_SLA} ORDER BY t.updatedAt, t.id LIMIT ${BATCH}`, [since - REFRESH_OVERLAP_MS])
      ).map(ticketFromRow);
      await refreshRows(sql, rows, settings, now);
      budget -= rows.length;
      if (rows.length) {
        const last: TicketRow = rows[rows.length - 1];
        after = { at: last.updatedAt, id: last.id };
        maxSeen = Math.max(maxSeen, last.updatedAt);
      }
      if (rows.length < BATCH) {
        // Everything changed up to now was seen. Moving on to `now` even when no row matched
        // (only bot tickets changed) keeps the next scan short; the overlap still covers
        // rows whose transaction committed after this read.
        maxSeen = Math.max(maxSeen, now);
        break;
      }
    }
    if (!state || maxSeen !== since) await writeState(sql, REFRESH_KEY, { since: maxSeen }, now);
  }

  async function breaches(settings: Settings, now: number): Promise<void> {
    let after: { at: number; id: string } | null = null;
    for (;;) {
      const rows: TicketRow[] = (after
        ? await sql.query(`SELECT * FROM tickets t WHERE t.slaNextCheckAt <= ? AND t.slaNextCheckAt >= ? AND (t.slaNextCheckAt > ? OR t.id > ?) ORDER BY t.slaNextCheckAt, t.id LIMIT ${BATCH}`, [now, after.at, after.at, after.id])
        : await sql.query(`SELECT * FROM tickets t WHERE t.slaNextCheckAt <= ? ORDER BY t.slaNextCheckAt, t.id LIMIT ${BATCH}`, [now])
      ).map(ticketFromRow);
      for (const t of rows) await recordBreaches(t, settings, now);
      if (rows.length < BATCH) return;
      const last: TicketRow = rows[rows.length - 1];
      after = { at: Number(last.slaNextCheckAt), id: last.id };
    }
  }

  async function recordBreaches(t: TicketRow, settings: Settings, now: number): Promise<void> {
    const plan = slaPlan(t, settings, now);
    const found: { target: SlaTargetName; column: 'slaFirstResponseBreachedAt' | 'slaResolutionBreachedAt'; at: number }[] = [];
    if (plan.firstResponse?.missed && num(t.slaFirstResponseBreachedAt) === null) found.push({ target: 'first_response', column: 'slaFirstResponseBreachedAt', at: plan.firstResponse.due });
    if (plan.resolution?.missed && num(t.slaResolutionBreachedAt) === null) found.push({ target: 'resolution', column: 'slaResolutionBreachedAt', at: plan.resolution.due });
    if (!found.length) {
      // Nothing breached (the ticket changed since its check was stored): store the new check.
      await storeColumns(sql, t, slaColumns(t, settings, now));
      return;
    }
    const first = Math.min(...found.map((f) => f.at));
    const after: TicketRow = { ...t, slaBreachedAt: num(t.slaBreachedAt) ?? first };
    for (const f of found) after[f.column] = f.at;
    const cols = slaColumns(after, settings, now);
    const fx = new Effects();
    const recorded = await sql.tx(async (tx) => {
      const { affected } = await tx.execute(
        `UPDATE tickets SET ${found.map((f) => `${f.column} = ?`).join(', ')}, slaBreachedAt = COALESCE(slaBreachedAt, ?), ${COLS.map((k) => `${k} = ?`).join(', ')}
         WHERE id = ? AND version = ? AND ${found.map((f) => `${f.column} IS NULL`).join(' AND ')}`,
        [...found.map((f) => f.at), first, ...COLS.map((k) => cols[k] ?? null), t.id, t.version],
      );
      if (!affected) return false; // changed meanwhile, or recorded by another run: the next run looks again
      for (const f of found) {
        const event = `${f.target}_breached`;
        await insertTimeline(tx, t.id, f.at, 'sla', SYSTEM, { event, target: f.target, dueAt: new Date(f.at).toISOString() });
        fx.event('sla.breached', t.id, now, { event, target: f.target, dueAt: new Date(f.at).toISOString(), priority: t.priority });
      }
      return true;
    });
    if (recorded) await Promise.resolve(afterCommit(fx)).catch((err) => ctx.log.error({ err, ticket: t.id }, 'publishing an SLA breach failed'));
  }

  let searchChecked = false;
  return {
    name: 'sla',
    async run(now: number): Promise<void> {
      // The list's other derived data: a search index whose triggers a table rebuild dropped is repaired once per process.
      if (!searchChecked) {
        searchChecked = true;
        if (await ensureSearchIndex(sql)) ctx.log.warn('the ticket search index was missing its triggers: recreated and rebuilt');
      }
      const settings = await ctx.settings.get();
      await recompute(settings, now);
      await refresh(settings, now);
      await breaches(settings, now);
    },
  };
}
