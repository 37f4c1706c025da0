// The status machine (SPEC §3.2) as one table. Every allowed move, its cause, and who
// may make it. Anything not in this table is refused with 409 naming the allowed moves.
//
// Who:
//   customer   - a customer message arrived
//   agent      - an agent (admins may do everything agents may)
//   admin      - admins only
//   system     - the gateway itself (handoff, presence, bot)
//   automation - the scheduler (idle, auto-close, on-hold return, presence expiry)
//   trigger    - an admin-defined trigger (/api/triggers): may do what an agent may,
//                plus the rows that name it (resolved -> closed, SPEC §3.2)
//
// Causes recorded on the timeline: handoff, assigned, parked, idle_timeout, resolved,
// closed, requeued, handback, on_hold_return, customer_reply, idle_close,
// reopened_by_customer, auto_close, trigger, reopened.

import type { TicketStatus } from './model.js';

export type Mover = 'customer' | 'agent' | 'admin' | 'system' | 'automation' | 'trigger';

export interface Transition {
  from: TicketStatus;
  to: TicketStatus;
  cause: string;
  by: Mover[];
  /** Side effects applied by lifecycle.ts when this move happens. */
  effects?: ('unassign' | 'needsAssignee' | 'resolvedAt' | 'closedAt' | 'csat' | 'reopen')[];
}

export const TRANSITIONS: readonly Transition[] = [
  // (new) -> ... are creations, made by threading.ts / the create route, not moves.
  { from: 'active', to: 'pending', cause: 'handoff', by: ['system'] }, // bot -> agent, nobody free
  { from: 'active', to: 'active', cause: 'handoff', by: ['system'] }, // bot -> agent, assigned at once
  { from: 'pending', to: 'active', cause: 'assigned', by: ['agent', 'system'], effects: ['needsAssignee'] },
  { from: 'active', to: 'on_hold', cause: 'parked', by: ['agent'], effects: ['unassign'] },
  { from: 'active', to: 'idle', cause: 'idle_timeout', by: ['automation'] },
  { from: 'active', to: 'resolved', cause: 'resolved', by: ['agent'], effects: ['resolvedAt', 'csat'] },
  { from: 'active', to: 'closed', cause: 'closed', by: ['agent'], effects: ['closedAt'] },
  { from: 'active', to: 'pending', cause: 'requeued', by: ['system'], effects: ['unassign'] },
  { from: 'active', to: 'active', cause: 'handback', by: ['agent'] }, // agent -> bot
  { from: 'on_hold', to: 'active', cause: 'assigned', by: ['admin'], effects: ['needsAssignee'] },
  { from: 'on_hold', to: 'pending', cause: 'on_hold_return', by: ['automation'] },
  { from: 'idle', to: 'on_hold', cause: 'parked', by: ['agent'], effects: ['unassign'] },
  { from: 'idle', to: 'active', cause: 'customer_reply', by: ['customer'] },
  { from: 'idle', to: 'closed', cause: 'closed', by: ['agent'], effects: ['closedAt'] },
  { from: 'idle', to: 'closed', cause: 'idle_close', by: ['automation'], effects: ['closedAt'] },
  { from: 'proactive', to: 'active', cause: 'customer_reply', by: ['customer'] },
  { from: 'resolved', to: 'active', cause: 'reopened_by_customer', by: ['customer'], effects: ['reopen'] },
  { from: 'resolved', to: 'closed', cause: 'closed', by: ['agent'], effects: ['closedAt'] },
  { from: 'resolved', to: 'closed', cause: 'auto_close', by: ['automation'], effects: ['closedAt'] },
  { from: 'resolved', to: 'closed', cause: 'trigger', by: ['trigger'], effects: ['closedAt'] },
  { from: 'closed', to: 'pending', cause: 'reopened', by: ['admin'], effects: ['reopen', 'unassign'] }, // pending = nobody assigned
  { from: 'closed', to: 'active', cause: 'reopened', by: ['admin'], effects: ['reopen', 'needsAssignee'] },
];

/** Admins may do what agents may; so may triggers (an admin wrote them). */
function allowed(t: Transition, who: Mover): boolean {
  return t.by.includes(who) || ((who === 'admin' || who === 'trigger') && t.by.includes('agent'));
}

/** The row for this move: one naming `who` itself wins over one it may use by inheritance (trigger -> 'trigger', not 'closed'). */
export function findTransition(from: TicketStatus, to: TicketStatus, who: Mover, cause?: string): Transition | undefined {
  const rows = TRANSITIONS.filter((t) => t.from === from && t.to === to && allowed(t, who) && (!cause || t.cause === cause));
  return rows.find((t) => t.by.includes(who)) ?? rows[0];
}

/** The moves `who` may request from `from` (for the 409 message and the inbox's action buttons). */
export function allowedMoves(from: TicketStatus, who: Mover): TicketStatus[] {
  return [...new Set(TRANSITIONS.filter((t) => t.from === from && allowed(t, who) && t.to !== from).map((t) => t.to))];
}
