// Auto-assignment: a ticket waiting for a human goes to the online agent with free
// capacity and the fewest active tickets (ties: the one assigned longest ago).

import type { Sql } from '../gateway/db/sql.js';

export async function pickAgent(sql: Sql, teamId: string | null): Promise<string | null> {
  const teamFilter = teamId ? 'AND u.id IN (SELECT userId FROM team_members WHERE teamId = ?)' : '';
  const rows = await sql.query<{ id: string; capacity: number; assigned: number }>(
    `SELECT u.id, u.capacity,
            (SELECT COUNT(*) FROM tickets t WHERE t.assigneeId = u.id AND t.status IN ('active', 'idle', 'proactive')) AS assigned
       FROM users u
      WHERE u.presence = 'online' AND u.capacity > 0 ${teamFilter}
      ORDER BY u.lastSeenAt`,
    teamId ? [teamId] : [],
  );
  let best: { id: string; load: number } | null = null;
  for (const r of rows) {
    const load = Number(r.assigned);
    if (load >= Number(r.capacity)) continue;
    if (!best || load < best.load) best = { id: r.id, load };
  }
  return best?.id ?? null;
}

export async function anyAgentOnline(sql: Sql): Promise<boolean> {
  const rows = await sql.query("SELECT id FROM users WHERE presence = 'online' LIMIT 1");
  return rows.length > 0;
}

import type { TicketContext } from './context.js';
import { Effects } from './events.js';
import { moveStatus } from './lifecycle.js';
import { getTicket } from './store.js';

/** Offers waiting tickets to free online agents (after handoffs, presence changes, closes). */
export async function offerPending(ctx: TicketContext, ids: string[], afterCommit: (fx: Effects) => void): Promise<void> {
  for (const id of [...new Set(ids)]) {
    const fx = new Effects();
    const assigned = await ctx.sql.tx(async (tx) => {
      const t = await getTicket(tx, id);
      if (!t || t.status !== 'pending') return false;
      const agent = await pickAgent(tx, t.teamId);
      if (!agent) return false;
      await moveStatus(ctx, tx, fx, t, 'active', { kind: 'system' }, { assigneeId: agent, as: 'system', cause: 'assigned' });
      return true;
    });
    afterCommit(fx);
    if (!assigned) continue;
  }
}
