// Routing and auto-assignment (SPEC §3.3, issue 4):
// - routing rules (an ordered list, `collection:routingRules`) choose a ticket's team
//   from its category / channel / priority, on handoff and on creation;
// - auto-assignment gives a ticket waiting for a human to an online agent of that team
//   (any online agent when there is no team) with free capacity: the least loaded,
//   ties broken round-robin (least recently auto-assigned first, users.lastAssignedAt).

import type { Sql } from '../gateway/db/sql.js';
import { CHANNELS, type TicketChannel } from '../adapters/types.js';
import { getCollection, putCollection } from './collections.js';
import { badRequest } from './errors.js';
import { PRIORITIES, type Priority } from './model.js';
import { getCategories } from './categories.js';

// ---- routing rules ------------------------------------------------------------------

export interface RuleCondition {
  category?: string | string[];
  channel?: TicketChannel | TicketChannel[];
  priority?: Priority | Priority[];
}

export interface RoutingRule {
  if: RuleCondition;
  /** Team id. */
  team: string;
}

export interface RoutingFacts {
  category: string | null;
  channel: TicketChannel;
  priority: Priority;
}

export const getRoutingRules = (sql: Sql) => getCollection<RoutingRule[]>(sql, 'routingRules', []);
export const putRoutingRules = (sql: Sql, rules: RoutingRule[], now: number) => putCollection(sql, 'routingRules', rules, now);

const asList = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

function matches(cond: RuleCondition, f: RoutingFacts): boolean {
  const cats = asList(cond.category);
  const chans = asList(cond.channel);
  const prios = asList(cond.priority);
  if (cats && !(f.category !== null && cats.includes(f.category))) return false;
  if (chans && !chans.includes(f.channel)) return false;
  if (prios && !prios.includes(f.priority)) return false;
  return true;
}

/** The team of the first rule matching the ticket, or null. */
export async function routeTeam(sql: Sql, f: RoutingFacts): Promise<string | null> {
  const rules = await getRoutingRules(sql);
  return rules.find((r) => matches(r.if, f))?.team ?? null;
}

const TICKET_CHANNELS: readonly string[] = [...CHANNELS, 'internal'];

/**
 * Validates PUT /api/routing-rules: `[{if: {category?, channel?, priority?}, team}]`,
 * each condition a value or a list of values; `team` a team id or name (stored as the id).
 */
export async function validateRoutingRules(sql: Sql, v: unknown): Promise<RoutingRule[]> {
  if (!Array.isArray(v)) throw badRequest('routing rules must be a JSON array of {if, team}', 'invalid_routing_rule');
  if (v.length > 200) throw badRequest('at most 200 routing rules', 'invalid_routing_rule');
  const teams = await sql.query<{ id: string; name: string }>('SELECT id, name FROM teams');
  const categories = await getCategories(sql);
  return v.map((r: any, i: number) => {
    const at = `routing rule ${i + 1}`;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw badRequest(`${at} must be an object {if, team}`, 'invalid_routing_rule');
    const extra = Object.keys(r).filter((k) => k !== 'if' && k !== 'team');
    if (extra.length) throw badRequest(`${at}: unknown field(s) ${extra.join(', ')}`, 'invalid_routing_rule');
    const cond = r.if ?? {};
    if (typeof cond !== 'object' || Array.isArray(cond)) throw badRequest(`${at}: if must be an object`, 'invalid_routing_rule');
    const out: RuleCondition = {};
    for (const [k, raw] of Object.entries(cond)) {
      const allowed: Record<string, readonly string[]> = { category: categories, channel: TICKET_CHANNELS, priority: PRIORITIES };
      if (!allowed[k]) throw badRequest(`${at}: unknown condition ${k} (category, channel, priority)`, 'invalid_routing_rule');
      const vals = asList(raw as string | string[])!;
      if (!vals.length || vals.some((x) => typeof x !== 'string' || !allowed[k]!.includes(x))) {
        throw badRequest(`${at}: ${k} must be one of ${allowed[k]!.join(', ') || '(none configured)'}`, k === 'category' ? 'unknown_category' : 'invalid_routing_rule');
      }
      (out as any)[k] = raw;
    }
    const team = teams.find((t) => t.id === r.team) ?? teams.find((t) => t.name === r.team);
    if (!team) throw badRequest(`${at}: unknown team ${JSON.stringify(r.team)}`, 'unknown_team');
    return { if: out, team: team.id };
  });
}

// ---- auto-assignment ------------------------------------------------------------------

/**
 * Picks the agent for a ticket waiting for a human, and records the pick
 * (users.lastAssignedAt) in the caller's transaction: callers assign at once.
 * Returns null when nobody online has free capacity.
 */
export async function pickAgent(sql: Sql, teamId: string | null, now: number = Date.now()): Promise<string | null> {
  const teamFilter = teamId ? 'AND u.id IN (SELECT userId FROM team_members WHERE teamId = ?)' : '';
  const rows = await sql.query<{ id: string; capacity: number; lastAssignedAt: number | null; assigned: number }>(
    `SELECT u.id, u.capacity, u.lastAssignedAt,
            (SELECT COUNT(*) FROM tickets t WHERE t.assigneeId = u.id AND t.status IN ('active', 'idle', 'proactive')) AS assigned
       FROM users u
      WHERE u.presence = 'online' AND u.capacity > 0 ${teamFilter}`,
    teamId ? [teamId] : [],
  );
  let best: { id: string; load: number; last: number } | null = null;
  for (const r of rows) {
    const load = Number(r.assigned);
    if (load >= Number(r.capacity)) continue;
    // Never auto-assigned sorts first; then the one assigned longest ago; id keeps it deterministic.
    const last = r.lastAssignedAt === null ? -1 : Number(r.lastAssignedAt);
    if (!best || load < best.load || (load === best.load && (last < best.last || (last === best.last && r.id < best.id)))) best = { id: r.id, load, last };
  }
  if (!best) return null;
  // Strictly increasing stamps keep the rotation fair even when several picks share a millisecond (or a frozen test clock).
  const [{ m }] = await sql.query<{ m: number | null }>('SELECT MAX(lastAssignedAt) AS m FROM users');
  const stamp = Math.max(now, m === null ? 0 : Number(m) + 1);
  await sql.execute('UPDATE users SET lastAssignedAt = ? WHERE id = ?', [stamp, best.id]);
  return best.id;
}

export async function anyAgentOnline(sql: Sql): Promise<boolean> {
  const rows = await sql.query("SELECT id FROM users WHERE presence = 'online' LIMIT 1");
  return rows.length > 0;
}

import type { TicketContext } from './context.js';
import { ApiError } from './errors.js';
import { Effects } from './events.js';
import { moveStatus } from './lifecycle.js';
import { getTicket } from './store.js';

/** Offers waiting tickets to free online agents (after handoffs, presence changes, closes). */
export async function offerPending(ctx: TicketContext, ids: string[], afterCommit: (fx: Effects) => void): Promise<void> {
  for (const id of [...new Set(ids)]) {
    const fx = new Effects();
    try {
      await ctx.sql.tx(async (tx) => {
        const t = await getTicket(tx, id);
        if (!t || t.status !== 'pending') return;
        const agent = await pickAgent(tx, t.teamId, ctx.clock.now());
        if (!agent) return;
        await moveStatus(ctx, tx, fx, t, 'active', { kind: 'system' }, { assigneeId: agent, as: 'system', cause: 'assigned' });
      });
    } catch (err) {
      // Another offer (a presence change, a handoff) took this ticket at the same moment:
      // that one won; the rest of the queue must still be offered.
      if (err instanceof ApiError && err.status === 409) continue;
      throw err;
    }
    afterCommit(fx);
  }
}
