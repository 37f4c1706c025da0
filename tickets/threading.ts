// Threading (SPEC §3.5): every customer message goes into the single non-closed
// ticket of (channel, channel account, contact), or opens one. The unique openKey
// makes the database, not a read-then-insert, the judge under concurrency.

import type { InboundMessage } from '../adapters/types.js';
import type { Sql } from '../gateway/db/sql.js';
import { newId, newTicketId } from '../gateway/ids.js';
import type { TicketContext } from './context.js';
import type { Effects } from './events.js';
import { moveStatus } from './lifecycle.js';
import { openKeyFor, type Actor, type ConversationRow, type MessageRow, type TicketRow } from './model.js';
import { pickAgent, routeTeam } from './routing.js';
import { threadEmail } from './email-threading.js';
import { csatAwaitingAnswer } from './csat.js';
import { withNewTicketSla } from './sla.js';
import { ensureConversation, findOpenTicket, getMessageByExternalId, getTicket, insertMessage, insertNewMessage, insertTicket, insertTimelines, patchTicket, resolveContactEx, touchInbound, type PendingTimeline } from './store.js';

export interface Threaded {
  ticket: TicketRow;
  conversation: ConversationRow;
  message: MessageRow;
  /** False when this platform message was already stored (a retry): nothing was written. */
  stored: boolean;
  createdTicket: boolean;
}

const SUBJECT_MAX = 120;

function subjectFor(msg: InboundMessage): string {
  if (msg.email?.subject) return msg.email.subject.slice(0, 255);
  const text = msg.text.replace(/\s+/g, ' ').trim();
  if (text) return text.length > SUBJECT_MAX ? `${text.slice(0, SUBJECT_MAX - 1)}…` : text;
  return `${msg.kind} from ${msg.contactName ?? msg.from}`.slice(0, SUBJECT_MAX);
}

export function messageKind(msg: InboundMessage): MessageRow['kind'] {
  if (msg.kind === 'text') return 'text';
  if (msg.kind === 'choice') return 'choice';
  if (msg.kind === 'media') return 'media';
  return 'other';
}

/** The stored row of an inbound message (customer's, or a system notice such as a bounce). */
export function inboundMessageRow(msg: InboundMessage, payload: string, ticketId: string, conversationId: string | null, author: MessageRow['author'], authorId: string | null, now: number): MessageRow {
  return {
    id: newId(now), ticketId, conversationId, channel: msg.channel, direction: 'in', author, authorId,
    kind: messageKind(msg), text: msg.text, payload, externalId: msg.externalId, status: null, error: null,
    platformAt: msg.timestamp, createdAt: now, updatedAt: now,
  };
}

export interface OpenTicketOptions {
  /** Email: the ticket subject (the mail's subject without Re:/Fwd:). */
  subject?: string;
  /** Email: a reply to a closed ticket opens a new ticket linked to it. */
  linkedTicketId?: string;
  /** Timeline cause of the creation (default customer_message / customer_message_bot). */
  cause?: string;
  /** Collects the creation's timeline entries instead of writing them (the caller writes them with its own, in one statement). */
  timeline?: PendingTimeline[];
  /** The customer's message is stored with the ticket: written in the same INSERT (as the UPDATE after it would). */
  customerMessageAt?: number;
}

/** Opens a new ticket for a customer's first message (bot ticket on bot channels). */
export async function openTicket(ctx: TicketContext, tx: Sql, fx: Effects, msg: InboundMessage, conv: ConversationRow, now: number, o: OpenTicketOptions = {}): Promise<TicketRow> {
  const settings = await ctx.settings.get();
  const bot = settings.botChannels.includes(msg.channel) && !msg.email?.automatic;
  // Agent tickets are routed at once (team by the routing rules); bot tickets are routed on handoff.
  const teamId = bot ? null : await routeTeam(tx, { category: null, channel: msg.channel, priority: 'medium' });
  const assigneeId = bot ? null : await pickAgent(tx, teamId, now);
  const t: TicketRow = {
    id: newTicketId(),
    conversationId: conv.id,
    contactId: conv.contactId,
    channel: msg.channel,
    account: msg.account,
    subject: o.subject ?? subjectFor(msg),
    description: null,
    type: bot ? 'bot' : 'agent',
    status: bot || assigneeId ? 'active' : 'pending',
    priority: 'medium',
    category: null,
    tags: '[]',
    assigneeId,
    lastAssigneeId: assigneeId,
    teamId,
    createdBy: 'customer',
    createdById: null,
    linkedTicketId: o.linkedTicketId ?? null,
    openKey: openKeyFor(msg.channel, msg.account, conv.contactId),
    handoffAt: null,
    handoffCause: null,
    botFlow: null,
    createdAt: now,
    updatedAt: now,
    firstResponseAt: null,
    resolvedAt: null,
    closedAt: null,
    lastCustomerMessageAt: null,
    lastAgentMessageAt: null,
    statusChangedAt: now,
    slaFirstResponseDueAt: null,
    slaResolutionDueAt: null,
    slaBreachedAt: null,
    csatScore: null,
    csatComment: null,
    version: 0,
  };
  // A concurrent opener makes this fail on uq_ticket_open; the caller retries and threads into the winner.
  withNewTicketSla(t, settings, now);
  // The SLA moments above are those of the ticket without the message, as when the message's UPDATE followed.
  if (o.customerMessageAt !== undefined) Object.assign(t, { lastCustomerMessageAt: o.customerMessageAt, updatedAt: o.customerMessageAt, version: t.version + 1 });
  await insertTicket(tx, t);
  const entries: PendingTimeline[] = [{
    ticketId: t.id, at: now, type: 'status', actor: { kind: 'customer' },
    data: { from: null, to: t.status, cause: o.cause ?? (bot ? 'customer_message_bot' : 'customer_message'), ...(o.linkedTicketId ? { linkedTicketId: o.linkedTicketId } : {}) },
  }];
  if (assigneeId) entries.push({ ticketId: t.id, at: now, type: 'assignment', actor: { kind: 'system' }, data: { from: null, to: assigneeId, cause: 'auto_assigned' } });
  if (o.timeline) o.timeline.push(...entries);
  else await insertTimelines(tx, entries);
  fx.event('ticket.created', t.id, now, { channel: t.channel, type: t.type, status: t.status });
  if (t.status === 'pending') fx.routing.push(t.id);
  return t;
}

/** Customer activity on a waiting ticket brings it back (idle / proactive / resolved -> active). */
const CUSTOMER_REVIVES = new Set(['idle', 'proactive', 'resolved']);

/**
 * Threads one inbound message. Resolves null when the message deliberately goes into no
 * ticket (email only: automatic mail with nothing to attach to, see tickets/email-threading.ts).
 */
export async function threadInbound(ctx: TicketContext, tx: Sql, fx: Effects, msg: InboundMessage, opts: { payload: string }): Promise<Threaded | null> {
  if (msg.channel === 'email') return threadEmail(ctx, tx, fx, msg, opts);
  const now = ctx.clock.now();
  const { contactId, created: newContact } = await resolveContactEx(tx, msg.channel, [msg.from, ...(msg.altIds ?? [])], msg.contactName, now);
  // A contact created just now has no conversation and no ticket: nothing to look up, and the
  // first message's window time and ticket columns go into the INSERTs (fewer round trips).
  const conv = await ensureConversation(tx, msg.channel, msg.account, contactId, msg.from, now, newContact ? { lastInboundAt: msg.timestamp } : undefined);
  const openKey = openKeyFor(msg.channel, msg.account, contactId)!;
  let ticket = newContact ? null : await findOpenTicket(tx, openKey);
  let createdTicket = false;
  const timeline: PendingTimeline[] = [];
  if (!ticket && !newContact) {
    // A message stored before its ticket was closed, threaded again (a replay after a
    // crash): it belongs to that closed ticket; opening a new, empty ticket for it would
    // split the conversation. Only this path (no open ticket) pays the lookup.
    const known = await getMessageByExternalId(tx, msg.channel, msg.externalId);
    const owner = known ? await getTicket(tx, known.ticketId) : null;
    if (known && owner) return { ticket: owner, conversation: conv, message: known, stored: false, createdTicket: false };
  }
  if (!ticket) {
    ticket = await openTicket(ctx, tx, fx, msg, conv, now, { timeline, ...(newContact ? { customerMessageAt: now } : {}) });
    createdTicket = true;
  }
  const message = inboundMessageRow(msg, opts.payload, ticket.id, conv.id, 'customer', contactId, now);
  // A new contact's first message cannot be stored already: a plain INSERT, held for the transaction's next round trip.
  const stored = newContact ? (await insertNewMessage(tx, message), true) : await insertMessage(tx, message);
  if (!stored) {
    await insertTimelines(tx, timeline);
    return { ticket, conversation: conv, message, stored, createdTicket };
  }
  if (!newContact) await touchInbound(tx, conv.id, msg.timestamp, now);
  const customer: Actor = { kind: 'customer', id: contactId, name: msg.contactName };
  timeline.push({ ticketId: ticket.id, at: now, type: 'message', actor: customer, data: { messageId: message.id } });
  await insertTimelines(tx, timeline);
  // An answer to the rating question goes to the feedback flow first (it reopens the ticket only if it isn't one).
  if (CUSTOMER_REVIVES.has(ticket.status) && !csatAwaitingAnswer(ticket)) {
    const cause = ticket.status === 'resolved' ? 'reopened_by_customer' : 'customer_reply';
    ticket = await moveStatus(ctx, tx, fx, ticket, 'active', customer, { cause, as: 'customer' });
  }
  if (!(newContact && createdTicket)) {
    await patchTicket(tx, ticket.id, { lastCustomerMessageAt: now, updatedAt: now });
    ticket = { ...ticket, lastCustomerMessageAt: now, updatedAt: now, version: ticket.version + 1 };
  }
  fx.event('message.created', ticket.id, now, { messageId: message.id, direction: 'in', author: 'customer' });
  return { ticket, conversation: conv, message, stored, createdTicket };
}
