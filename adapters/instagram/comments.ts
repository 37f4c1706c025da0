// Instagram comments on our media (`field: comments` / `live_comments`) -> InboundMessage.
// Two shapes arrive: Business Login for Instagram puts `field`/`value` on the entry
// itself (or in `changes`); Facebook Login for Business always uses `changes[]`.
import type { InboundMessage, WebhookBatch } from '../types.js';
import { asRecord, asString, parseLooseTimestamp, quote, type Json } from '../meta/payload.js';
import { commentTarget } from './targets.js';
import { isValidIgsid } from './ids.js';
import { boundedName } from '../contact-name.js';

export function parseCommentChange(
  change: { field: string; value: Json },
  entry: Json,
  account: string,
  batch: WebhookBatch,
  seen: Set<string>,
): void {
  const { value } = change;
  const commentId = asString(value.id);
  const from = asRecord(value.from);
  const senderId = asString(from?.id);
  if (!commentId) {
    batch.rejected.push('comment without id');
    return;
  }
  if (!senderId || !isValidIgsid(senderId)) {
    batch.rejected.push(`invalid sender id ${quote(senderId ?? 'none')} (invalid instagram id): comment ${commentId}`);
    return;
  }
  if (senderId === account || (asString(from?.self_ig_scoped_id) && asString(from?.self_ig_scoped_id) === senderId)) {
    batch.ignored.push(`comment by our own account: ${commentId}`);
    return;
  }
  // Comments carry no timestamp of their own: the entry's time (seconds or ms) is the best we have.
  const timestamp = parseLooseTimestamp(value.timestamp) ?? parseLooseTimestamp(entry.time);
  if (timestamp === undefined) {
    batch.rejected.push(`invalid timestamp ${quote(entry.time)}: comment ${commentId}`);
    return;
  }
  const externalId = `comment:${commentId}`;
  if (seen.has(externalId)) {
    batch.ignored.push(`duplicate message id ${externalId} in the same payload`);
    return;
  }
  seen.add(externalId);
  const media = asRecord(value.media);
  const username = asString(from?.username);
  const message: InboundMessage = {
    channel: 'instagram',
    account,
    externalId,
    from: senderId,
    ...(boundedName(username) ? { contactName: boundedName(username) } : {}),
    timestamp,
    kind: 'text',
    text: asString(value.text) ?? '',
    extra: {
      commentId,
      mediaId: asString(media?.id),
      mediaProductType: asString(media?.media_product_type),
      parentCommentId: asString(value.parent_id),
      username,
      live: change.field === 'live_comments',
      /** Answer privately with envelope.to = this value (one private reply per comment, within 7 days). */
      replyTo: commentTarget(commentId),
    },
  };
  batch.messages.push(message);
}
