// Who an outbound message goes to. Usually the conversation's address (phone, IGSID,
// email). Instagram comments are the exception: someone who only commented on a post
// cannot be written to in DMs; the business may answer once, privately, to the comment
// (recipient {comment_id}, within 7 days). So while the customer's latest message is a
// comment that has had no private reply yet, the next message goes to "comment:<id>"
// (adapters/instagram/targets.ts); once they answer in DMs, messages go to their IGSID.

import type { Sql } from '../db/sql.js';
import type { ConversationRow } from '../../tickets/model.js';

const COMMENT = 'comment:';
const PRIVATE_REPLY_MS = 7 * 24 * 3_600_000;

export async function recipientFor(tx: Sql, conv: ConversationRow, now: number): Promise<string> {
  if (conv.channel !== 'instagram') return conv.address;
  const [last] = await tx.query<{ externalId: string | null; platformAt: number | null }>(
    "SELECT externalId, platformAt FROM messages WHERE conversationId = ? AND direction = 'in' ORDER BY platformAt DESC, createdAt DESC, id DESC LIMIT 1",
    [conv.id],
  );
  const externalId = last?.externalId ?? '';
  if (!externalId.startsWith(COMMENT)) return conv.address;
  if (last!.platformAt !== null && now - Number(last!.platformAt) > PRIVATE_REPLY_MS) return conv.address;
  const target = externalId; // inbound comments are stored as "comment:<commentId>"
  const used = await tx.query('SELECT id FROM outbox WHERE channel = ? AND account = ? AND recipient = ? LIMIT 1', [conv.channel, conv.account, target]);
  return used.length ? conv.address : target;
}
