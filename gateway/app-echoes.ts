// Messages the business typed in the platform's own app (Instagram sends them back to
// us as `is_echo`). Echoes of our own sends are recognised by their platform id (or, while
// the send is still in flight, by their text) and dropped; the others are recorded on the
// customer's open ticket as agent messages without an author ("via Instagram app"), so
// the ticket shows the whole conversation.

import type { PlatformEvent } from '../adapters/types.js';
import { newId } from './ids.js';
import type { TicketContext } from '../tickets/context.js';
import { Effects } from '../tickets/events.js';
import { openKeyFor, type MessageRow } from '../tickets/model.js';
import { findOpenTicket, getMessageByExternalId, insertMessage, insertTimeline, updateTicket } from '../tickets/store.js';

type Echo = Extract<PlatformEvent, { type: 'echo' }>;

/** How far back an outbound message of ours may explain an echo whose id we have not recorded yet. */
const IN_FLIGHT_MS = 10 * 60_000;

export const APP_LABEL: Record<string, string> = { instagram: 'via Instagram app', whatsapp: 'via WhatsApp app' };

/** Records one echo when it is not ours; returns the stored message id, or null when nothing was recorded. */
export async function recordAppEcho(ctx: TicketContext, e: Echo, afterCommit: (fx: Effects) => void): Promise<string | null> {
  const fx = new Effects();
  const now = ctx.clock.now();
  const id = await ctx.sql.tx(async (tx) => {
    if (await getMessageByExternalId(tx, e.channel, e.externalId)) return null;
    const ident = await tx.query<{ contactId: string }>('SELECT contactId FROM contact_identities WHERE channel = ? AND value = ?', [e.channel, e.to]);
    const contactId = ident[0]?.contactId;
    if (!contactId) return null;
    const conv = (await tx.query<{ id: string }>('SELECT id FROM conversations WHERE channel = ? AND account = ? AND contactId = ?', [e.channel, e.account, contactId]))[0];
    if (!conv) return null;
    // Our own send whose answer (with the platform id) has not been recorded yet, or one
    // part of a long text we split: same conversation, recent, the echo's text inside it.
    const recent = await tx.query<{ text: string; status: string | null }>(
      "SELECT text, status FROM messages WHERE conversationId = ? AND direction = 'out' AND createdAt >= ? AND (externalId IS NULL OR status = 'sent' OR status = 'queued')",
      [conv.id, now - IN_FLIGHT_MS],
    );
    if (recent.some((m) => (e.text ? m.text.includes(e.text) : m.status === 'queued'))) return null;
    const ticket = await findOpenTicket(tx, openKeyFor(e.channel, e.account, contactId)!);
    if (!ticket) return null;
    const label = APP_LABEL[e.channel] ?? 'via the platform app';
    const message: MessageRow = {
      id: newId(now),
      ticketId: ticket.id,
      conversationId: conv.id,
      channel: e.channel,
      direction: 'out',
      author: 'agent',
      authorId: null,
      kind: e.text ? 'text' : 'other',
      text: e.text,
      payload: JSON.stringify({ via: `${e.channel}_app` }),
      externalId: e.externalId,
      status: 'sent',
      error: null,
      platformAt: e.timestamp || null,
      createdAt: now,
      updatedAt: now,
    };
    if (!(await insertMessage(tx, message))) return null;
    await insertTimeline(tx, ticket.id, now, 'message', { kind: 'agent', name: label }, { messageId: message.id, via: `${e.channel}_app` });
    await updateTicket(tx, ticket.id, { lastAgentMessageAt: now, updatedAt: now });
    fx.event('message.created', ticket.id, now, { messageId: message.id, direction: 'out', author: 'agent', via: `${e.channel}_app` });
    return message.id;
  });
  afterCommit(fx);
  return id;
}
