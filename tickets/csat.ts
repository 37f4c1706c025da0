// CSAT (SPEC §3.2 "resolved: CSAT is asked now", §3.8 feedback flow).
//
// When a ticket becomes `resolved` the customer is asked for a 1–5 rating through the
// bot's `feedback` flow: at most once per ticket (csatRequestedAt), and only while the
// channel's window lets the bot write (WhatsApp/Instagram 24 h; email always). Outside
// the window nothing is sent; the skip is recorded (csatSkipped + a timeline entry) so
// reports can tell "not asked" from "not answered".
//
// While the rating is awaited, the customer's messages on the resolved ticket go to the
// feedback flow first (a "5" is an answer, not a new request). Anything that is not an
// answer reopens the ticket at once, as any reply to a resolved ticket does: a message
// that doesn't move the flow forward (the bot would only re-ask), a request for a human,
// or one the bot ignores. After the rating, any reply reopens. The flow's position
// ("flow:node") is kept in tickets.botFlow to tell "moved forward" from "re-asked".

import type { Sql } from '../gateway/db/sql.js';
import { decideWindow } from '../gateway/outbound/window-policy.js';
import type { TicketContext } from './context.js';
import type { Effects } from './events.js';
import { SYSTEM, type Actor, type TicketRow } from './model.js';
import { getConversation, insertTimeline } from './store.js';

export const CSAT_FLOW = 'feedback';

const has = (v: unknown) => v !== null && v !== undefined && v !== '';

/** True while a resolved ticket waits for the customer's rating (their messages go to the feedback flow). */
export function csatAwaitingAnswer(t: TicketRow): boolean {
  return t.status === 'resolved' && has(t.csatRequestedAt) && !has(t.csatScore);
}

/** Why the rating question cannot be sent now, or null when it can. */
async function skipReason(ctx: TicketContext, tx: Sql, t: TicketRow, now: number): Promise<string | null> {
  if (ctx.botEnabled === false) return 'no_bot';
  if (!t.conversationId) return 'no_channel';
  const caps = ctx.outbound.capabilities(t.channel, t.account);
  if (!caps) return 'channel_not_configured';
  const conv = await getConversation(tx, t.conversationId);
  if (!conv) return 'no_channel';
  const decision = decideWindow(caps, conv.lastInboundAt, now, 'bot', { kind: 'text', text: '' });
  return decision.allowed ? null : decision.code;
}

/**
 * Called by moveStatus when a ticket becomes resolved (inside its transaction): asks for
 * the rating, or records why not. Writes the CSAT columns without bumping the ticket's
 * version, so the caller's row stays valid for further writes in the same unit of work.
 */
export async function requestCsat(ctx: TicketContext, tx: Sql, fx: Effects, t: TicketRow): Promise<void> {
  if (t.channel === 'internal') return;
  const [row] = await tx.query<{ csatRequestedAt: unknown; csatScore: unknown }>('SELECT csatRequestedAt, csatScore FROM tickets WHERE id = ?', [t.id]);
  // Once per ticket: a customer who already rated (or was already asked) is not asked again.
  if (!row || has(row.csatRequestedAt) || has(row.csatScore)) return;
  const now = ctx.clock.now();
  const reason = await skipReason(ctx, tx, t, now);
  if (reason) {
    await tx.execute('UPDATE tickets SET csatSkipped = ? WHERE id = ?', [reason, t.id]);
    await insertTimeline(tx, t.id, now, 'csat', SYSTEM, { event: 'skipped', reason });
    return;
  }
  await tx.execute('UPDATE tickets SET csatRequestedAt = ?, csatSkipped = NULL WHERE id = ?', [now, t.id]);
  await insertTimeline(tx, t.id, now, 'csat', SYSTEM, { event: 'requested', flow: CSAT_FLOW });
  fx.botStarts.push({ ticketId: t.id, flow: CSAT_FLOW });
}

/**
 * After the feedback flow took a customer message on a resolved ticket: did it treat it as
 * part of the rating conversation? An agent request, a fallback hand-off or silence mean
 * the customer is talking to us again: the ticket reopens.
 */
export function csatTurnReopens(t: TicketRow, result: CsatTurn): 'answer' | 'escalate' | 'not_an_answer' {
  if (result.signals.some((s) => s.kind === 'escalate')) return 'escalate';
  if (result.signals.some((s) => s.kind === 'rating')) return 'answer';
  if (!result.replies.length) return 'not_an_answer';
  const at = position(result);
  return at && at === t.botFlow ? 'not_an_answer' : 'answer';
}

export interface CsatTurn {
  replies: unknown[];
  signals: { kind: string }[];
  at?: { flow: string; node: string };
}

const position = (r: CsatTurn) => (r.at ? `${r.at.flow}:${r.at.node}`.slice(0, 190) : null);

/** Remembers where the feedback flow stands after a turn (no version bump: bookkeeping only). */
export async function recordCsatPosition(tx: Sql, t: TicketRow, result: CsatTurn): Promise<void> {
  await tx.execute('UPDATE tickets SET botFlow = ? WHERE id = ?', [position(result), t.id]);
}

/** The customer's actor for a reopen decided after a bot turn. */
export const CUSTOMER: Actor = { kind: 'customer' };
