// Writing outbound messages: a message row and an outbox row in the caller's
// transaction, after the channel's window rules. The dispatcher sends them later.

import type { Capabilities, Channel, OutboundContent, OutboundEnvelope, TicketChannel } from '../../adapters/types.js';
import type { Clock } from '../clock.js';
import type { Sql } from '../db/sql.js';
import { newId } from '../ids.js';
import type { OutboundPort, OutboundRequest } from '../../tickets/context.js';
import { unprocessable } from '../../tickets/errors.js';
import type { Effects } from '../../tickets/events.js';
import type { MessageRow, TicketRow } from '../../tickets/model.js';
import type { SettingsStore } from '../../tickets/settings.js';
import { slaColumns } from '../../tickets/sla.js';
import { getConversation, insertNewMessage, insertTimeline, patchTicket } from '../../tickets/store.js';
import { approvedTemplate } from '../../tickets/templates.js';
import { SIMULATOR_ACCOUNT, type ChannelRegistry } from '../channels.js';
import { emailAutoReplyBlock, holdBack } from './email-guard.js';
import { decideWindow } from './window-policy.js';
import { recipientFor } from './recipient.js';

export function contentText(c: OutboundContent): string {
  switch (c.kind) {
    case 'text':
    case 'choice':
      return c.text;
    case 'template':
      return c.body ? c.body.replace(/\{\{(\d+)\}\}/g, (_, n) => c.params[Number(n) - 1] ?? '') : `[template ${c.name}]`;
    case 'media':
      return c.text ?? c.media.caption ?? `[${c.media.type}]`;
  }
}

export interface OutboxPayload {
  content: OutboundContent;
  author: OutboundEnvelope['author'];
  tag?: 'HUMAN_AGENT';
  email?: OutboundEnvelope['email'];
}

/** What the dispatcher needs of an outbox row (its immutable columns and the message's ticket). */
export interface WrittenOutboxRow {
  id: string;
  messageId: string;
  ticketId: string;
  channel: Channel;
  account: string;
  recipient: string;
  payload: string;
  createdAt: number;
}

/**
 * Outbox rows written by this process, by id, until the dispatcher takes them after the
 * commit: it then needs no SELECT to find a row it is about to send. Only columns that
 * never change are kept; the claim (`UPDATE … WHERE status = 'pending'`) still decides
 * whether the row is sent. A rolled-back transaction's rows are never taken; the map is
 * bounded so they cannot pile up.
 */
export const writtenOutbox = new Map<string, WrittenOutboxRow>();
const WRITTEN_MAX = 10_000;

function rememberWritten(row: WrittenOutboxRow): void {
  if (writtenOutbox.size >= WRITTEN_MAX) {
    // Oldest first (insertion order): those are the ones whose transaction did not commit.
    let n = WRITTEN_MAX / 10;
    for (const k of writtenOutbox.keys()) {
      writtenOutbox.delete(k);
      if (--n <= 0) break;
    }
  }
  writtenOutbox.set(row.id, row);
}

export class Outbox implements OutboundPort {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly clock: Clock,
    /** For the SLA columns the first agent answer changes (tickets/sla.ts). */
    private readonly settings?: SettingsStore,
  ) {}

  capabilities(channel: TicketChannel, account: string | null): Capabilities | null {
    if (channel === 'internal') return null;
    return this.channels.get(channel, account ?? '')?.capabilities ?? null;
  }

  /** The accounts `channel` can send from: configured platform accounts first, the simulator's last. */
  accounts(channel: Channel): string[] {
    const list = this.channels.list().filter((c) => c.channel === channel).map((c) => c.account);
    return [...list.filter((a) => a !== SIMULATOR_ACCOUNT), ...list.filter((a) => a === SIMULATOR_ACCOUNT)];
  }

  async enqueue(tx: Sql, fx: Effects, req: OutboundRequest): Promise<MessageRow> {
    const { ticket } = req;
    let content = req.content;
    if (ticket.channel === 'internal' || !ticket.conversationId) throw unprocessable('no_channel', 'an internal ticket has no customer to write to');
    if (ticket.status === 'closed') throw unprocessable('ticket_closed', 'a closed ticket never receives new messages');
    const conv = req.conversation?.id === ticket.conversationId ? req.conversation : await getConversation(tx, ticket.conversationId);
    if (!conv) throw unprocessable('no_channel', 'the ticket has no conversation');
    const adapter = this.channels.get(conv.channel, conv.account);
    if (!adapter) throw unprocessable('channel_not_configured', `the ${conv.channel} channel (${conv.account}) is not configured on this gateway`);
    const now = this.clock.now();
    const decision = decideWindow(adapter.capabilities, conv.lastInboundAt, now, req.author, content);
    if (!decision.allowed) throw unprocessable(decision.code, decision.message);
    // The one place templates are checked: approved, params fitting the body (which is attached for the stored text).
    if (content.kind === 'template') content = await approvedTemplate(tx, content);
    const message: MessageRow = {
      id: newId(now),
      ticketId: ticket.id,
      conversationId: conv.id,
      channel: conv.channel,
      direction: 'out',
      author: req.author,
      authorId: req.authorId ?? null,
      kind: content.kind,
      text: contentText(content),
      payload: JSON.stringify(content),
      externalId: null,
      status: 'queued',
      error: null,
      platformAt: null,
      createdAt: now,
      updatedAt: now,
    };
    await insertNewMessage(tx, message);
    // Email loop protection (email-guard.ts): automatic mail may be held back, kept as failed.
    const held = conv.channel === 'email' && (req.automatic || req.author !== 'agent') ? await emailAutoReplyBlock(tx, message, now) : null;
    if (held) return holdBack(tx, fx, message, held, now);
    const payload: OutboxPayload = {
      content,
      author: req.author,
      ...(decision.tag ? { tag: decision.tag } : {}),
      ...(conv.channel === 'email' ? { email: await emailThreading(tx, ticket.id, ticket.subject, !!req.automatic) } : {}),
    };
    const outboxId = newId(now);
    const recipient = await recipientFor(tx, conv, now);
    const payloadJson = JSON.stringify(payload);
    await tx.defer(
      'INSERT INTO outbox (id, messageId, channel, account, recipient, payload, status, attempts, nextAttemptAt, lockedUntil, error, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, NULL, ?, ?)',
      [outboxId, message.id, conv.channel, conv.account, recipient, payloadJson, 'pending', now, now, now],
    );
    rememberWritten({ id: outboxId, messageId: message.id, ticketId: ticket.id, channel: conv.channel, account: conv.account, recipient, payload: payloadJson, createdAt: now });
    const actor = { kind: req.author === 'agent' ? 'agent' : req.author, id: req.authorId } as const;
    await insertTimeline(tx, ticket.id, now, 'message', actor, { messageId: message.id });
    if (req.author === 'agent') {
      const patch: Partial<TicketRow> = { lastAgentMessageAt: now, updatedAt: now, ...(ticket.firstResponseAt ? {} : { firstResponseAt: now }) };
      // The first answer stops the first-response SLA clock: the stored SLA moments follow at once.
      if (patch.firstResponseAt && this.settings) Object.assign(patch, slaColumns({ ...ticket, ...patch }, await this.settings.get(), now));
      await patchTicket(tx, ticket.id, patch);
    }
    fx.outbox.push(outboxId);
    fx.event('message.created', ticket.id, now, { messageId: message.id, direction: 'out', author: req.author });
    return message;
  }
}

/** Email replies thread on the customer's last mail (In-Reply-To / References; not on a bounce) and carry the ticket's reference. */
async function emailThreading(tx: Sql, ticketId: string, subject: string, automatic: boolean): Promise<OutboundEnvelope['email']> {
  const rows = await tx.query<{ payload: string | null; externalId: string | null }>(
    "SELECT payload, externalId FROM messages WHERE ticketId = ? AND direction = 'in' AND author = 'customer' ORDER BY createdAt DESC, id DESC LIMIT 1",
    [ticketId],
  );
  let inReplyTo: string | undefined;
  let references: string[] = [];
  if (rows[0]?.payload) {
    try {
      const p = JSON.parse(rows[0].payload);
      inReplyTo = p.email?.messageId ?? rows[0].externalId ?? undefined;
      references = [...(p.email?.references ?? []), ...(inReplyTo ? [inReplyTo] : [])];
    } catch {
      /* not an email payload */
    }
  }
  return { subject, inReplyTo, references, automatic, ref: ticketId };
}
