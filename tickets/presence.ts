// Presence expiry (SPEC §3.2 "active -> pending: the assignee went away or offline";
// issue 4 "presence expires when an agent's connection is gone").
//
// An agent is "seen" whenever they call the API and for as long as their event stream
// (/api/events) stays connected: users.lastSeenAt is refreshed (at most every
// TOUCH_EVERY_MS per agent and process, so API calls don't each cost a write). A
// scheduled job turns agents who are `online` (or `away`) but have not been seen for
// `presenceTimeout` (setting, default 2m) `offline`, requeues their `active` tickets to
// `pending` (timeline + events) and offers those tickets to the agents still online.

import type { Request, Response } from 'express';
import type { Clock } from '../gateway/clock.js';
import type { Sql } from '../gateway/db/sql.js';
import type { Job } from './automations.js';
import { lostRace } from './automations.js';
import type { TicketContext } from './context.js';
import { parseDuration } from './durations.js';
import { badRequest } from './errors.js';
import { Effects } from './events.js';
import { moveStatus } from './lifecycle.js';
import type { Actor } from './model.js';
import { registerSetting } from './settings.js';
import { getTicket } from './store.js';

const MIN_TIMEOUT = 30_000;
const MAX_TIMEOUT = 86_400_000;

registerSetting(
  'presenceTimeout',
  (v) => {
    let ms: number;
    try {
      ms = parseDuration(v as string);
    } catch {
      throw badRequest('presenceTimeout must be a duration string like "2m"', 'invalid_setting');
    }
    if (typeof v !== 'string' || ms < MIN_TIMEOUT || ms > MAX_TIMEOUT) throw badRequest('presenceTimeout must be between 30s and 1d', 'invalid_setting');
    return v;
  },
  '2m',
);

/** Refresh lastSeenAt at most this often per agent (per process). */
export const TOUCH_EVERY_MS = 15_000;

const PRESENCE: Actor = { kind: 'system', name: 'presence' };

/**
 * Agents an agent's connection proves alive. One per process: the auth middleware calls
 * seen() on every authenticated request; event-stream requests are tracked until they close.
 */
export class PresenceTracker {
  private readonly lastTouch = new Map<string, number>();
  /** userId -> open event streams on this process. */
  private readonly streams = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly sql: Sql, private readonly clock: Clock, private readonly log?: { warn(o: object, m: string): void }) {}

  /** Records that `userId` is here now (throttled; never blocks the request). */
  touch(userId: string, force = false): Promise<void> {
    const now = this.clock.now();
    const last = this.lastTouch.get(userId);
    if (!force && last !== undefined && now - last < TOUCH_EVERY_MS && now >= last) return Promise.resolve();
    this.lastTouch.set(userId, now);
    if (this.lastTouch.size > 10_000) this.lastTouch.clear();
    return this.sql
      .execute('UPDATE users SET lastSeenAt = ? WHERE id = ? AND (lastSeenAt IS NULL OR lastSeenAt < ?)', [now, userId, now])
      .then(() => undefined, (err) => this.log?.warn({ err, userId }, 'presence: lastSeenAt not refreshed'));
  }

  /** The auth middleware's hook: every authenticated request counts; an event stream counts while it is open. */
  seen(userId: string, req: Request, res: Response): void {
    void this.touch(userId);
    const url = req.originalUrl ?? req.url;
    if (!/^\/api\/events(\?|$)/.test(url)) return;
    this.streams.set(userId, (this.streams.get(userId) ?? 0) + 1);
    res.once('close', () => {
      const left = (this.streams.get(userId) ?? 1) - 1;
      if (left > 0) this.streams.set(userId, left);
      else this.streams.delete(userId);
    });
  }

  /** Touches every agent with an open event stream on this process. */
  async refreshStreams(): Promise<void> {
    await Promise.all([...this.streams.keys()].map((userId) => this.touch(userId, true)));
  }

  /** Keeps stream holders fresh while this process runs (the scheduler may run elsewhere). */
  start(everyMs = TOUCH_EVERY_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refreshStreams(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export class PresenceExpiry {
  constructor(
    private readonly ctx: TicketContext,
    private readonly afterCommit: (fx: Effects) => unknown,
    private readonly tracker?: PresenceTracker,
  ) {}

  /** Sets agents not seen for presenceTimeout offline and requeues their active tickets. Returns their ids. */
  async run(now: number): Promise<string[]> {
    // Streams held on this process count as seen right now (other processes refresh theirs on a timer).
    await this.tracker?.refreshStreams();
    const { sql } = this.ctx;
    const settings = await this.ctx.settings.get();
    const cutoff = now - parseDuration(String(settings.presenceTimeout ?? '2m'));
    const gone = await sql.query<{ id: string; presence: string }>(
      "SELECT id, presence FROM users WHERE presence IN ('online', 'away') AND (lastSeenAt IS NULL OR lastSeenAt < ?)",
      [cutoff],
    );
    const expired: string[] = [];
    for (const u of gone) {
      const fx = new Effects();
      try {
        const done = await sql.tx(async (tx) => {
          // Conditional: an agent who came back meanwhile (or another process that got here first) is left alone.
          const { affected } = await tx.execute(
            "UPDATE users SET presence = 'offline', updatedAt = ? WHERE id = ? AND presence = ? AND (lastSeenAt IS NULL OR lastSeenAt < ?)",
            [now, u.id, u.presence, cutoff],
          );
          if (!affected) return false;
          await requeueActive(this.ctx, tx, fx, u.id, { reason: 'presence_expired' });
          return true;
        });
        if (!done) continue;
        expired.push(u.id);
        this.afterCommit(fx);
      } catch (err) {
        if (!lostRace(err)) this.ctx.log.error({ err, user: u.id }, 'presence expiry failed');
      }
    }
    return expired;
  }

  job(): Job {
    return { name: 'presence-expiry', run: async (now) => void (await this.run(now)) };
  }
}

/** Requeues an agent's active agent tickets to pending (SPEC §3.2 active -> pending); fx.routing offers them to others. */
export async function requeueActive(ctx: TicketContext, tx: Sql, fx: Effects, userId: string, detail?: Record<string, unknown>): Promise<number> {
  const rows = await tx.query<{ id: string }>("SELECT id FROM tickets WHERE assigneeId = ? AND status = 'active' AND type = 'agent'", [userId]);
  for (const r of rows) {
    const t = await getTicket(tx, r.id);
    if (!t || t.status !== 'active') continue;
    await moveStatus(ctx, tx, fx, t, 'pending', PRESENCE, { cause: 'requeued', as: 'system', detail });
  }
  return rows.length;
}
