// Email threading (SPEC §3.5): which ticket an inbound mail belongs to.
//
// Order: the bounced message (bounces), then In-Reply-To, then References (newest first),
// then a ticket reference (reply token support+<ref>@ in a recipient address, or our body
// marker [#<ref>]), then the sender's open email ticket. Header and reference matches count
// only for tickets of the sender's own contact (someone else quoting our mail, or a guessed
// marker, never lands in another customer's ticket).
//
// - A human reply whose thread is a closed ticket opens a new ticket linked to it
//   (`linkedTicketId`), unless the sender already has another open ticket (it goes there:
//   one open ticket per contact and channel).
// - Automatic mail (LOOP_RULES: auto-replies, bulk, lists, bounces, our own address...)
//   attaches to an open ticket it belongs to, as a message that changes nothing else: no
//   reopening, no "customer answered" (idle / proactive / resolved stay as they are, SLA and
//   idle timers untouched). With no open ticket to attach to it produces no ticket at all
//   (the inbound row keeps it, marked ignored; the mail stays in the mailbox).
// - A bounce attaches to the ticket of the message it bounces (author system) and marks that
//   outbound message failed with the delivery-status reason.
// Mail data (raw source, attachments) was written to files by the gateway's email channel;
// here each stored mail gets its `attachments` rows.

import type { InboundMessage } from '../adapters/types.js';
import type { Sql } from '../gateway/db/sql.js';
import { newId } from '../gateway/ids.js';
import { sha256OfKey } from '../gateway/media/store.js';
import type { TicketContext } from './context.js';
import { csatAwaitingAnswer } from './csat.js';
import type { Effects } from './events.js';
import { moveStatus } from './lifecycle.js';
import { openKeyFor, type Actor, type MessageRow, type TicketRow } from './model.js';
import { ensureConversation, findOpenTicket, getConversation, getMessage, getMessageByExternalId, getTicket, insertMessage, insertTimeline, resolveContact, updateTicket } from './store.js';
import { inboundMessageRow, openTicket, type Threaded } from './threading.js';

/** Our outbound Message-IDs are `<chatgate.<message id>@domain>` (adapters/email/send.ts). */
const OUR_MESSAGE_ID = /^<chatgate\.([0-9A-Za-z]{10,40})@/;

const REPLY_PREFIX = /^\s*((re|aw|sv|vs|antw|odp|r|res|ref|fw|fwd|wg|tr|rv)\s*(\[\d+\])?\s*:\s*)+/i;

/** The ticket subject of a mail: its Subject without Re:/Fwd: prefixes. */
export function emailTicketSubject(msg: InboundMessage): string | undefined {
  const s = (msg.email?.subject ?? '').replace(/\s+/g, ' ').replace(REPLY_PREFIX, '').trim();
  return s ? s.slice(0, 255) : undefined;
}

/** The email identity's contact, without creating one (automatic mail must not create contacts it won't use). */
async function knownContact(tx: Sql, address: string): Promise<string | null> {
  const rows = await tx.query<{ contactId: string }>("SELECT contactId FROM contact_identities WHERE channel = 'email' AND value = ?", [address]);
  return rows[0]?.contactId ?? null;
}

/** A message of ours or the customer's, by Message-ID (also ours whose send result was lost: the id is derived). */
async function messageByMailId(tx: Sql, mailId: string): Promise<MessageRow | null> {
  const m = await getMessageByExternalId(tx, 'email', mailId);
  if (m) return m;
  const ours = OUR_MESSAGE_ID.exec(mailId);
  if (!ours) return null;
  const mine = await getMessage(tx, ours[1]);
  return mine && mine.channel === 'email' ? mine : null;
}

/** The thread a mail names: In-Reply-To, References newest first, then ticket references. Same contact only. */
async function namedThread(tx: Sql, msg: InboundMessage, contactId: string | null): Promise<{ ticket: TicketRow; via: string } | null> {
  if (!contactId) return null;
  const ids = [...new Set([msg.email?.inReplyTo, ...[...(msg.email?.references ?? [])].reverse()].filter((v): v is string => !!v))];
  for (const id of ids) {
    const m = await messageByMailId(tx, id);
    if (!m) continue;
    const t = await getTicket(tx, m.ticketId);
    if (t && t.channel === 'email' && t.contactId === contactId) return { ticket: t, via: id === msg.email?.inReplyTo ? 'in-reply-to' : 'references' };
  }
  for (const ref of msg.email?.refs ?? []) {
    const t = await getTicket(tx, ref);
    if (t && t.channel === 'email' && t.contactId === contactId) return { ticket: t, via: 'reference' };
  }
  return null;
}

export type EmailThreadResult = Threaded | null;

export async function threadEmail(ctx: TicketContext, tx: Sql, fx: Effects, msg: InboundMessage, opts: { payload: string }): Promise<EmailThreadResult> {
  const now = ctx.clock.now();
  const automatic = msg.email?.automatic === true;

  // 1. Bounces belong to the ticket of the message they bounce.
  if (msg.email?.bounceOf) {
    const bounced = await messageByMailId(tx, msg.email.bounceOf);
    if (bounced) return attachBounce(ctx, tx, fx, msg, opts, bounced, now);
  }

  // 2. The thread the mail names, else the sender's open ticket.
  const existing = await knownContact(tx, msg.from);
  const named = await namedThread(tx, msg, existing);
  const open = existing ? await findOpenTicket(tx, openKeyFor('email', msg.account, existing)!) : null;
  let target: TicketRow | null = null;
  let linkedTicketId: string | undefined;
  if (named && named.ticket.status !== 'closed') target = named.ticket;
  else if (open) target = open;
  else if (named) linkedTicketId = named.ticket.id; // a reply to a closed ticket: a new, linked one
  if (!target && automatic) {
    ctx.log.info({ from: msg.from, externalId: msg.externalId, reasons: msg.extra?.automaticReasons }, 'automatic mail with no open ticket to attach to: no ticket');
    return null;
  }

  const contactId = await resolveContact(tx, 'email', [msg.from], msg.contactName, now);
  const conv = await ensureConversation(tx, 'email', msg.account, contactId, msg.from, now);
  let ticket: TicketRow;
  let createdTicket = false;
  if (target) ticket = target;
  else {
    ticket = await openTicket(ctx, tx, fx, msg, conv, now, {
      subject: emailTicketSubject(msg),
      ...(linkedTicketId ? { linkedTicketId, cause: 'reply_to_closed_ticket' } : {}),
    });
    createdTicket = true;
  }

  const message = inboundMessageRow(msg, opts.payload, ticket.id, conv.id, 'customer', contactId, now);
  const stored = await insertMessage(tx, message);
  if (!stored) return { ticket, conversation: conv, message, stored, createdTicket };
  await insertAttachments(tx, msg, message, now);
  const customer: Actor = { kind: 'customer', id: contactId, name: msg.contactName };
  await insertTimeline(tx, ticket.id, now, 'message', customer, { messageId: message.id, ...(automatic ? { automatic: true } : {}) });
  if (!automatic) {
    // The conversation's "last inbound" (email has no window; kept for the list and exports).
    await tx.execute('UPDATE conversations SET lastInboundAt = ?, updatedAt = ? WHERE id = ? AND (lastInboundAt IS NULL OR lastInboundAt < ?)', [msg.timestamp, now, conv.id, msg.timestamp]);
    if (['idle', 'proactive', 'resolved'].includes(ticket.status) && !csatAwaitingAnswer(ticket)) {
      const cause = ticket.status === 'resolved' ? 'reopened_by_customer' : 'customer_reply';
      ticket = await moveStatus(ctx, tx, fx, ticket, 'active', customer, { cause, as: 'customer' });
    }
    await updateTicket(tx, ticket.id, { lastCustomerMessageAt: now, updatedAt: now });
    ticket = { ...ticket, lastCustomerMessageAt: now, updatedAt: now, version: ticket.version + 1 };
  } else {
    await updateTicket(tx, ticket.id, { updatedAt: now });
    ticket = { ...ticket, updatedAt: now, version: ticket.version + 1 };
  }
  fx.event('message.created', ticket.id, now, { messageId: message.id, direction: 'in', author: 'customer', ...(automatic ? { automatic: true } : {}) });
  return { ticket, conversation: conv, message, stored, createdTicket };
}

/** A bounce: the bounced outbound message is marked failed; the report goes on its ticket unless that is closed. */
async function attachBounce(ctx: TicketContext, tx: Sql, fx: Effects, msg: InboundMessage, opts: { payload: string }, bounced: MessageRow, now: number): Promise<EmailThreadResult> {
  const error = `bounced: ${msg.email?.bounceReason ?? msg.email?.subject ?? 'delivery failed'}`.slice(0, 1000);
  if (bounced.direction === 'out') {
    const { affected } = await tx.execute(
      "UPDATE messages SET status = 'failed', error = ?, updatedAt = ? WHERE id = ? AND (status IS NULL OR status <> 'failed')",
      [error, now, bounced.id],
    );
    if (affected) fx.event('message.updated', bounced.ticketId, now, { messageId: bounced.id, status: 'failed', error });
  }
  const ticket = await getTicket(tx, bounced.ticketId);
  if (!ticket || ticket.status === 'closed') {
    ctx.log.info({ bounceOf: msg.email?.bounceOf, ticket: bounced.ticketId }, 'bounce of a closed ticket\'s mail: message marked failed, no ticket');
    return null;
  }
  const conv = ticket.conversationId ? await getConversation(tx, ticket.conversationId) : null;
  if (!conv) return null;
  const message = inboundMessageRow(msg, opts.payload, ticket.id, conv.id, 'system', null, now);
  const stored = await insertMessage(tx, message);
  if (!stored) return { ticket, conversation: conv, message, stored, createdTicket: false };
  await insertAttachments(tx, msg, message, now);
  await insertTimeline(tx, ticket.id, now, 'message', { kind: 'system', name: 'Mail delivery' }, { messageId: message.id, bounceOf: bounced.id, automatic: true });
  await updateTicket(tx, ticket.id, { updatedAt: now });
  fx.event('message.created', ticket.id, now, { messageId: message.id, direction: 'in', author: 'system', bounceOf: bounced.id });
  return { ticket: { ...ticket, updatedAt: now, version: ticket.version + 1 }, conversation: conv, message, stored, createdTicket: false };
}

/** One `attachments` row per stored file of the mail: the original (.eml) and every attachment. */
async function insertAttachments(tx: Sql, msg: InboundMessage, message: MessageRow, now: number): Promise<void> {
  const rows: { filename: string; contentType: string; size: number; storageKey: string; sha256?: string }[] = [];
  const raw = msg.email?.rawRef;
  if (raw) rows.push({ filename: 'original.eml', contentType: 'message/rfc822', size: Number(msg.extra?.rawSize ?? 0), storageKey: raw, sha256: msg.extra?.rawSha256 as string | undefined });
  for (const [i, m] of (msg.media ?? []).entries()) {
    if (!m.storageKey) continue;
    rows.push({ filename: (m.filename ?? `attachment-${i + 1}`).slice(0, 255), contentType: m.mimeType ?? 'application/octet-stream', size: m.size ?? 0, storageKey: m.storageKey, sha256: m.sha256 });
  }
  for (const r of rows) {
    // Mail stored before the digest travelled with it: the content-addressed key ends in it.
    const sha256 = r.sha256 ?? sha256OfKey(r.storageKey);
    await tx.execute('INSERT INTO attachments (id, messageId, ticketId, filename, contentType, size, storageKey, sha256, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      newId(now), message.id, message.ticketId, r.filename, r.contentType, r.size, r.storageKey, sha256, now,
    ]);
  }
}
