// Loop protection for email, the outbound half (RFC 3834 and helpdesk practice), in the one
// place every outbound message passes (Outbox.enqueue): an automatic message (bot, CSAT,
// out-of-office, acknowledgement, trigger: anything not written by an agent) to an email
// conversation is not sent when
//   - the mail it would answer (the ticket's latest inbound mail) is automatic
//     (parse.ts / loop-rules.ts: auto-replies, bulk, lists, bounces, our own address, no-reply senders), or
//   - the recipient already got AUTO_REPLY_CAP.max automatic mails within AUTO_REPLY_CAP.windowMs.
// The message is kept on the ticket as `failed` with a `loop_protection:` error, so agents see
// what was held back. The count is a query, so it holds across processes and restarts
// (the send adapter's in-memory cap stays as a second, per-process line of defence).

import type { Sql } from '../db/sql.js';
import type { Effects } from '../../tickets/events.js';
import type { MessageRow } from '../../tickets/model.js';
import { insertTimeline } from '../../tickets/store.js';

export const AUTO_REPLY_CAP = { max: 5, windowMs: 60 * 60_000 };

export const LOOP_PROTECTION = 'loop_protection';

/** Why this automatic message must not be sent (a `loop_protection: ...` error), or null when it may go. */
export async function emailAutoReplyBlock(tx: Sql, message: Pick<MessageRow, 'id' | 'ticketId' | 'conversationId'>, now: number, cap = AUTO_REPLY_CAP): Promise<string | null> {
  const [last] = await tx.query<{ payload: string | null }>(
    "SELECT payload FROM messages WHERE ticketId = ? AND direction = 'in' ORDER BY createdAt DESC, id DESC LIMIT 1",
    [message.ticketId],
  );
  if (last?.payload) {
    let email: { automatic?: boolean } | undefined;
    let reasons: unknown;
    try {
      const p = JSON.parse(last.payload);
      email = p?.email;
      reasons = p?.extra?.automaticReasons;
    } catch {
      /* not JSON: not a mail */
    }
    if (email?.automatic) {
      return `${LOOP_PROTECTION}: not sent in answer to an automatic mail${Array.isArray(reasons) && reasons.length ? ` (${reasons.join(', ')})` : ''}`;
    }
  }
  if (message.conversationId) {
    const [row] = await tx.query<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM messages WHERE conversationId = ? AND direction = 'out' AND author <> 'agent' AND createdAt > ? AND id <> ?
         AND (error IS NULL OR error NOT LIKE '${LOOP_PROTECTION}%')`,
      [message.conversationId, now - cap.windowMs, message.id],
    );
    if (Number(row?.n ?? 0) >= cap.max) {
      return `${LOOP_PROTECTION}: ${cap.max} automatic mails already sent to this address within ${Math.round(cap.windowMs / 60_000)} minutes`;
    }
  }
  return null;
}

/** Marks a just-written outbound message as held back: on the timeline, `failed`, no outbox row. */
export async function holdBack(tx: Sql, fx: Effects, message: MessageRow, reason: string, now: number): Promise<MessageRow> {
  await tx.execute("UPDATE messages SET status = 'failed', error = ?, updatedAt = ? WHERE id = ?", [reason, now, message.id]);
  await insertTimeline(tx, message.ticketId, now, 'message', { kind: message.author, ...(message.authorId ? { id: message.authorId } : {}) }, { messageId: message.id });
  fx.event('message.created', message.ticketId, now, { messageId: message.id, direction: 'out', author: message.author, status: 'failed', error: reason });
  return { ...message, status: 'failed', error: reason };
}
