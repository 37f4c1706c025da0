// Status changes, handoff, handback and assignment: the only code that writes a
// ticket's status, type or assignee. Each runs inside the caller's transaction,
// follows the table in statuses.ts, and records the timeline and events.

import type { Sql } from '../gateway/db/sql.js';
import { conflict, notFound } from './errors.js';
import type { Effects } from './events.js';
import type { TicketContext } from './context.js';
import { openKeyFor, type Actor, type TicketRow, type TicketStatus, type UserRow } from './model.js';
import { allowedMoves, findTransition, type Mover } from './statuses.js';
import { getTicket, insertTimeline, updateTicket, userFromRow } from './store.js';
import { anyAgentOnline, pickAgent, routeTeam } from './routing.js';
import type { EscalationCause } from './handoff-causes.js';
import { slaPatch, withSla } from './sla.js';
import { requestCsat } from './csat.js';

export function moverOf(actor: Actor): Mover {
  if (actor.kind === 'agent') return actor.role === 'admin' ? 'admin' : 'agent';
  if (actor.kind === 'customer') return 'customer';
  return 'system';
}

/** Writes a patch with a version check; a concurrent writer makes the caller's request fail cleanly (409). */
async function write(tx: Sql, t: TicketRow, patch: Partial<TicketRow>, now: number): Promise<TicketRow> {
  const ok = await updateTicket(tx, t.id, { ...patch, updatedAt: now }, t.version);
  if (!ok) throw conflict(`ticket ${t.id} changed at the same time; try again`, 'concurrent_update');
  return { ...t, ...patch, updatedAt: now, version: t.version + 1 };
}

async function logAssignment(tx: Sql, fx: Effects, t: TicketRow, to: string | null, actor: Actor, now: number, cause: string) {
  if (t.assigneeId === to) return;
  await insertTimeline(tx, t.id, now, 'assignment', actor, { from: t.assigneeId, to, cause });
  fx.event('ticket.assigned', t.id, now, { from: t.assigneeId, to });
}

export interface MoveOptions {
  cause?: string;
  assigneeId?: string | null;
  /** Who is asking, as the status table knows them (defaults from the actor). */
  as?: Mover;
  /** Extra facts for the timeline entry and event (e.g. which trigger). */
  detail?: Record<string, unknown>;
}

/** Moves a ticket to `to` if the status table allows it for this actor; otherwise 409 naming the allowed moves. */
export async function moveStatus(ctx: TicketContext, tx: Sql, fx: Effects, t: TicketRow, to: TicketStatus, actor: Actor, opts: MoveOptions = {}): Promise<TicketRow> {
  const who = opts.as ?? moverOf(actor);
  const tr = findTransition(t.status, to, who, opts.cause);
  if (!tr || (tr.cause === 'handoff' || tr.cause === 'handback')) {
    const moves = allowedMoves(t.status, who);
    throw conflict(
      `cannot change status from ${t.status} to ${to}` + (moves.length ? `; allowed: ${moves.join(', ')}` : '; no status change is allowed from here'),
      'forbidden_transition',
      { from: t.status, to, allowed: moves },
    );
  }
  const now = ctx.clock.now();
  const patch: Partial<TicketRow> = { status: to, statusChangedAt: now };
  const effects = tr.effects ?? [];
  let assignee = t.assigneeId;
  if (effects.includes('unassign')) assignee = null;
  if (effects.includes('needsAssignee')) {
    assignee = opts.assigneeId ?? (to === 'active' && !t.assigneeId && actor.kind === 'agent' ? actor.id! : t.assigneeId);
    if (effects.includes('reopen') && t.status === 'closed') assignee = opts.assigneeId ?? t.lastAssigneeId;
    if (!assignee) throw conflict(`a ${to} ticket needs an assignee`, 'assignee_required');
    await requireAgent(tx, assignee, true);
  }
  if (effects.includes('resolvedAt')) patch.resolvedAt = now;
  if (effects.includes('closedAt')) {
    patch.closedAt = now;
    patch.openKey = null;
  }
  if (effects.includes('reopen')) {
    patch.closedAt = null;
    patch.resolvedAt = null;
    patch.openKey = openKeyFor(t.channel, t.account, t.contactId);
  }
  patch.assigneeId = assignee;
  if (assignee) patch.lastAssigneeId = assignee;
  // SLA: pause/resume the resolution clock and restore the stored due moments (tickets/sla.ts).
  Object.assign(patch, slaPatch(t, patch, now, await ctx.settings.get()));
  let next: TicketRow;
  try {
    next = await write(tx, t, patch, now);
  } catch (err) {
    if (tx.isUniqueViolation(err)) throw conflict('the contact already has an open ticket on this channel; close it before reopening this one', 'open_ticket_exists');
    throw err;
  }
  await insertTimeline(tx, t.id, now, 'status', actor, { from: t.status, to, cause: tr.cause, ...opts.detail });
  await logAssignment(tx, fx, t, assignee, actor, now, tr.cause);
  fx.event('ticket.updated', t.id, now, { status: to, from: t.status, cause: tr.cause, ...opts.detail });
  if (effects.includes('csat')) await requestCsat(ctx, tx, fx, next);
  if (to === 'pending') fx.routing.push(t.id);
  return next;
}

async function requireAgent(sql: Sql, id: string, mustBeOnline = false): Promise<UserRow> {
  const rows = await sql.query('SELECT * FROM users WHERE id = ?', [id]);
  if (!rows[0]) throw notFound(`agent ${id}`);
  const u = userFromRow(rows[0]);
  if (mustBeOnline && u.presence !== 'online') throw conflict(`agent ${u.name} is ${u.presence}; only online agents can take tickets`, 'agent_not_online');
  return u;
}

/**
 * Assigns (or reassigns) a ticket. A pending or on-hold ticket becomes active;
 * unassigning an active ticket is refused (park it or hand it to someone else).
 */
export async function assign(ctx: TicketContext, tx: Sql, fx: Effects, t: TicketRow, assigneeId: string | null, actor: Actor, cause = 'assigned'): Promise<TicketRow> {
  if (assigneeId === t.assigneeId) return t;
  if (assigneeId === null) {
    throw conflict('an assigned ticket cannot be left without an assignee: put it on hold or assign someone else', 'assignee_required');
  }
  if (t.status === 'pending' || t.status === 'on_hold') {
    return moveStatus(ctx, tx, fx, t, 'active', actor, { assigneeId, as: actor.kind === 'agent' ? undefined : 'system' });
  }
  if (t.status === 'closed' || t.status === 'resolved') throw conflict(`a ${t.status} ticket cannot be reassigned`, 'forbidden_transition');
  if (t.type === 'bot') throw conflict('the bot is handling this ticket: take it over first', 'bot_ticket');
  await requireAgent(tx, assigneeId);
  const now = ctx.clock.now();
  const next = await write(tx, t, { assigneeId, lastAssigneeId: assigneeId }, now);
  await logAssignment(tx, fx, t, assigneeId, actor, now, cause);
  fx.event('ticket.updated', t.id, now, { assigneeId });
  return next;
}

export interface HandoffOptions {
  cause: EscalationCause | 'takeover';
  reason?: string;
  teamId?: string | null;
  priority?: TicketRow['priority'];
  /** Takeover: the caller becomes the assignee. */
  assigneeId?: string;
}

/** Bot -> agent inside the same ticket (SPEC §3.3): routed, auto-assigned or queued, agents notified. */
export async function handoff(ctx: TicketContext, tx: Sql, fx: Effects, t: TicketRow, actor: Actor, opts: HandoffOptions): Promise<TicketRow> {
  if (t.type !== 'bot' || t.status !== 'active') {
    throw conflict(`only a bot ticket in conversation can be handed to agents (this one is ${t.type}, ${t.status})`, 'forbidden_transition');
  }
  const now = ctx.clock.now();
  // Routing rules pick the team when none is set (SPEC §3.3); auto-assignment then looks inside it.
  const teamId = opts.teamId ?? t.teamId ?? (await routeTeam(tx, { category: t.category, channel: t.channel, priority: opts.priority ?? t.priority }));
  const assigneeId = opts.assigneeId ?? (await pickAgent(tx, teamId, now));
  if (opts.assigneeId) await requireAgent(tx, opts.assigneeId);
  const to: TicketStatus = assigneeId ? 'active' : 'pending';
  const next = await write(tx, t, withSla(t, {
    type: 'agent',
    status: to,
    statusChangedAt: now,
    handoffAt: now,
    handoffCause: opts.cause,
    teamId,
    priority: opts.priority ?? t.priority,
    assigneeId,
    lastAssigneeId: assigneeId ?? t.lastAssigneeId,
  }, now, await ctx.settings.get()), now);
  await insertTimeline(tx, t.id, now, 'handler', actor, { from: 'bot', to: 'agent', cause: opts.cause, ...(opts.reason ? { reason: opts.reason } : {}) });
  await insertTimeline(tx, t.id, now, 'status', actor, { from: t.status, to, cause: 'handoff' });
  await logAssignment(tx, fx, t, assigneeId, actor, now, 'handoff');
  fx.event('ticket.handoff', t.id, now, { cause: opts.cause, status: to, assigneeId });
  // Out-of-office only ever follows a handoff, and only when nobody can answer.
  if (!assigneeId && opts.cause !== 'takeover' && t.channel !== 'internal' && !(await anyAgentOnline(tx))) {
    const settings = await ctx.settings.get();
    if (settings.outOfOfficeMessage) {
      await ctx.outbound
        .enqueue(tx, fx, { ticket: next, content: { kind: 'text', text: settings.outOfOfficeMessage }, author: 'system', automatic: true })
        .catch((err) => ctx.log.info({ err: err.message, ticket: t.id }, 'out-of-office message not sent'));
    }
  }
  if (to === 'pending') fx.routing.push(t.id);
  return next;
}

/** Agent -> bot (SPEC §3.4): the bot resumes on this ticket, optionally starting `flow`. */
export async function handback(ctx: TicketContext, tx: Sql, fx: Effects, t: TicketRow, actor: Actor, flow?: string): Promise<TicketRow> {
  if (t.type !== 'agent' || !['active', 'pending'].includes(t.status) || t.channel === 'internal' || t.channel === 'email') {
    throw conflict(
      t.channel === 'internal' || t.channel === 'email'
        ? `the bot does not answer on ${t.channel} tickets`
        : `only an open agent ticket can be handed back to the bot (this one is ${t.type}, ${t.status})`,
      'forbidden_transition',
    );
  }
  const now = ctx.clock.now();
  const next = await write(tx, t, withSla(t, { type: 'bot', status: 'active', statusChangedAt: now, assigneeId: null }, now, await ctx.settings.get()), now);
  await insertTimeline(tx, t.id, now, 'handler', actor, { from: 'agent', to: 'bot', cause: 'handback', ...(flow ? { flow } : {}) });
  if (t.status !== 'active') await insertTimeline(tx, t.id, now, 'status', actor, { from: t.status, to: 'active', cause: 'handback' });
  await logAssignment(tx, fx, t, null, actor, now, 'handback');
  fx.event('ticket.updated', t.id, now, { type: 'bot', status: 'active', cause: 'handback', ...(flow ? { flow } : {}) });
  if (flow) fx.botStarts.push({ ticketId: t.id, flow });
  return next;
}

export async function loadTicket(sql: Sql, id: string): Promise<TicketRow> {
  const t = await getTicket(sql, id);
  if (!t) throw notFound(`ticket ${id}`);
  return t;
}
