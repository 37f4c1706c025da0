// Who an Instagram send goes to. Convention for OutboundEnvelope.to:
//   "<IGSID>"             a DM to that user:           {"recipient": {"id": "<IGSID>"}}
//   "comment:<commentId>" a private reply to a comment: {"recipient": {"comment_id": "<commentId>"}}
// Inbound comments carry extra.replyTo = "comment:<id>" so the gateway can answer them
// privately; once the customer answers in DMs, later sends use the IGSID.

const COMMENT_PREFIX = 'comment:';

export type InstagramTarget = { kind: 'user'; id: string } | { kind: 'comment'; commentId: string };

export function commentTarget(commentId: string): string {
  return COMMENT_PREFIX + commentId;
}

export function parseInstagramTarget(to: string): InstagramTarget {
  if (to.startsWith(COMMENT_PREFIX)) return { kind: 'comment', commentId: to.slice(COMMENT_PREFIX.length) };
  return { kind: 'user', id: to };
}

export function recipientOf(target: InstagramTarget): { id: string } | { comment_id: string } {
  return target.kind === 'comment' ? { comment_id: target.commentId } : { id: target.id };
}
