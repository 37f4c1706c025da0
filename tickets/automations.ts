// Time-based automations (SPEC §3.2), run by the scheduler on the process holding the
// `scheduler` lease every SCHEDULER_INTERVAL:
//   active   -> idle     the customer hasn't answered the agent's last message for `idleAfter`
//   idle     -> closed   `idleCloseAfter` after it went idle
//   resolved -> closed   `autoCloseAfter` after it was resolved (default 4d, 1h..28d)
//   on_hold  -> pending  `onHoldReturnAfter` after it was parked (back to the queue)
//
// Due tickets are found through indexes ((status, statusChangedAt), (status,
// lastAgentMessageAt)) in keyset-paged batches. Each change is its own small transaction
// through moveStatus, which checks the ticket's version: when several processes act at
// once (a lease hand-over, an agent clicking at the same moment), exactly one change
// lands and the others lose quietly. Closing hands the conversation back to the bot
// (the gateway's afterCommit ends the bot's state on `closed`).

import type { Sql } from '../gateway/db/sql.js';
import type { TicketContext } from './context.js';
import { ApiError } from './errors.js';
import { Effects } from './events.js';
import { moveStatus } from './lifecycle.js';
import type { Actor, TicketRow, TicketStatus } from './model.js';
import { durationMs, type Settings } from './settings.js';
import { getTicket } from './store.js';

/** The shape of gateway/server.ts's ScheduledJob (kept structural: tickets/ doesn't import the gateway). */
export interface Job {
  name: string;
  run(now: number): Promise<void>;
}

export const AUTOMATION: Actor = { kind: 'system', name: 'automation' };

interface Rule {
  cause: 'idle_timeout' | 'idle_close' | 'auto_close' | 'on_hold_return';
  from: TicketStatus;
  to: TicketStatus;
  setting: 'idleAfter' | 'idleCloseAfter' | 'autoCloseAfter' | 'onHoldReturnAfter';
  /** The indexed time column the period runs from (index: (status, column)). */
  column: 'statusChangedAt' | 'lastAgentMessageAt';
  /** Further SQL conditions (numbers inlined: `cutoff` is always a number). */
  where?: (cutoff: number) => string;
  /** Re-checked on the freshly read row inside the transaction. */
  due(t: TicketRow, cutoff: number): boolean;
}

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export const RULES: readonly Rule[] = [
  {
    cause: 'idle_timeout', from: 'active', to: 'idle', setting: 'idleAfter', column: 'lastAgentMessageAt',
    // Agent tickets only; the customer has not written since the agent's last message, and a
    // ticket that only just became active (reassigned, reopened) gets its full period too.
    where: (cutoff) => `type = 'agent' AND (lastCustomerMessageAt IS NULL OR lastCustomerMessageAt < lastAgentMessageAt) AND statusChangedAt <= ${Math.floor(cutoff)}`,
    due: (t, cutoff) => {
      const agent = n(t.lastAgentMessageAt);
      const customer = n(t.lastCustomerMessageAt);
      return t.type === 'agent' && agent !== null && agent <= cutoff && (customer === null || customer < agent) && t.statusChangedAt <= cutoff;
    },
  },
  { cause: 'idle_close', from: 'idle', to: 'closed', setting: 'idleCloseAfter', column: 'statusChangedAt', due: (t, c) => t.statusChangedAt <= c },
  { cause: 'auto_close', from: 'resolved', to: 'closed', setting: 'autoCloseAfter', column: 'statusChangedAt', due: (t, c) => t.statusChangedAt <= c },
  { cause: 'on_hold_return', from: 'on_hold', to: 'pending', setting: 'onHoldReturnAfter', column: 'statusChangedAt', due: (t, c) => t.statusChangedAt <= c },
];

const BATCH = 200;
/** Per rule and run: the rest waits for the next run, so one run never holds the scheduler for long. */
const MAX_PER_RUN = 5000;

/** Another writer won (version check, lock conflict): the ticket is left to whoever changed it. */
export function lostRace(err: unknown): boolean {
  if (err instanceof ApiError) return err.status === 409;
  const code = (err as { code?: string })?.code ?? '';
  return ['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY', 'SQLITE_LOCKED'].includes(code);
}

export interface AutomationResult {
  changed: Record<Rule['cause'], number>;
  lost: number;
}

export class Automations {
  constructor(
    private readonly ctx: TicketContext,
    private readonly afterCommit: (fx: Effects) => unknown,
  ) {}

  /** One pass of every rule at `now`. */
  async run(now: number): Promise<AutomationResult> {
    const settings = await this.ctx.settings.get();
    const result: AutomationResult = { changed: { idle_timeout: 0, idle_close: 0, auto_close: 0, on_hold_return: 0 }, lost: 0 };
    for (const rule of RULES) await this.runRule(rule, settings, now, result);
    return result;
  }

  private async runRule(rule: Rule, settings: Settings, now: number, result: AutomationResult): Promise<void> {
    const { sql } = this.ctx;
    const cutoff = now - durationMs(settings, rule.setting);
    let after: { at: number; id: string } | null = null;
    for (let seen = 0; seen < MAX_PER_RUN; ) {
      const params: (string | number)[] = [rule.from, cutoff];
      let page = '';
      if (after) {
        page = `AND (${rule.column} > ? OR (${rule.column} = ? AND id > ?))`;
        params.push(after.at, after.at, after.id);
      }
      const rows = await sql.query<{ id: string; at: number }>(
        `SELECT id, ${rule.column} AS at FROM tickets
          WHERE status = ? AND ${rule.column} <= ? ${page} ${rule.where ? `AND ${rule.where(cutoff)}` : ''}
          ORDER BY ${rule.column}, id LIMIT ${BATCH}`,
        params,
      );
      for (const r of rows) {
        const outcome = await this.applyOne(rule, r.id, cutoff);
        if (outcome === 'changed') result.changed[rule.cause]++;
        else if (outcome === 'lost') result.lost++;
      }
      seen += rows.length;
      if (rows.length < BATCH) break;
      const last = rows[rows.length - 1]!;
      after = { at: Number(last.at), id: last.id };
    }
  }

  private async applyOne(rule: Rule, id: string, cutoff: number): Promise<'changed' | 'skipped' | 'lost'> {
    const fx = new Effects();
    try {
      const changed = await this.ctx.sql.tx(async (tx: Sql) => {
        const t = await getTicket(tx, id);
        if (!t || t.status !== rule.from || !rule.due(t, cutoff)) return false;
        await moveStatus(this.ctx, tx, fx, t, rule.to, AUTOMATION, { cause: rule.cause, as: 'automation' });
        return true;
      });
      if (!changed) return 'skipped';
      this.afterCommit(fx);
      return 'changed';
    } catch (err) {
      if (lostRace(err)) {
        this.ctx.log.debug?.({ ticket: id, cause: rule.cause, err: (err as Error).message }, 'automation lost a race; the ticket changed meanwhile');
        return 'lost';
      }
      this.ctx.log.error({ err, ticket: id, cause: rule.cause }, 'automation failed on a ticket');
      return 'skipped';
    }
  }

  /** The scheduled job (registered in gateway/server.ts). */
  job(): Job {
    return { name: 'automations', run: async (now) => void (await this.run(now)) };
  }
}
