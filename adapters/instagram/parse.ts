// Instagram webhook POST body (object "instagram") -> normalized WebhookBatch. Pure.
// Handles DMs (entry.messaging[]), comments (field comments/live_comments, both login
// shapes) and the messaging-shaped `changes` Meta's dashboard test button sends.
import type { InboundMessage, MediaRef, WebhookBatch } from '../types.js';
import { asArray, asRecord, asString, openEnvelope, parseTimestamp, quote, type Json } from '../meta/payload.js';
import { parseCommentChange } from './comments.js';
import { isValidIgsid } from './ids.js';

export interface InstagramParseOptions {
  /** Our Instagram account id: entries and messages for another account are ignored. */
  accountId?: string;
}

const HEART = '\u2764\uFE0F';
const MEDIA_TYPES: Record<string, MediaRef['type']> = { image: 'image', video: 'video', audio: 'audio', file: 'file', sticker: 'sticker' };

export function parseInstagramWebhook(body: unknown, opts: InstagramParseOptions = {}): WebhookBatch {
  const { batch, entries } = openEnvelope(body, 'instagram');
  if (batch.rejected.length) return batch;
  const seen = new Set<string>();
  for (const e of entries) {
    const entry = asRecord(e) ?? {};
    const entryId = asString(entry.id);
    if (opts.accountId && entryId && entryId !== opts.accountId) {
      batch.ignored.push(`entry id ${entryId} is not this account (${opts.accountId})`);
      continue;
    }
    const account = opts.accountId ?? entryId;
    if (!account) {
      batch.rejected.push('entry without id');
      continue;
    }
    const messaging = asArray(entry.messaging);
    const changes: unknown[] = Array.isArray(entry.changes) ? entry.changes : entry.field ? [{ field: entry.field, value: entry.value }] : [];
    if (messaging.length === 0 && changes.length === 0) {
      batch.ignored.push('entry has no messaging array');
      continue;
    }
    for (const item of messaging) parseMessagingItem(asRecord(item) ?? {}, account, batch, seen);
    for (const c of changes) {
      const change = asRecord(c);
      const field = asString(change?.field) ?? 'none';
      const value = asRecord(change?.value);
      if (!value) batch.ignored.push(`change ${quote(field)} without value`);
      else if (field === 'comments' || field === 'live_comments') parseCommentChange({ field, value }, entry, account, batch, seen);
      else if (field === 'messages' || field === 'messaging_postbacks' || field === 'message_reactions') parseMessagingItem(value, account, batch, seen);
      else batch.ignored.push(`change field ${quote(field)} is not handled`);
    }
  }
  return batch;
}

function parseMessagingItem(item: Json, account: string, batch: WebhookBatch, seen: Set<string>): void {
  const senderId = asString(asRecord(item.sender)?.id);
  const recipientId = asString(asRecord(item.recipient)?.id);
  const message = asRecord(item.message);

  if (message?.is_echo === true) {
    // Something our account sent (from this gateway or the native app): not a customer message.
    const mid = asString(message.mid) ?? 'unknown';
    const to = senderId === account ? recipientId : recipientId === account ? senderId : undefined;
    if (!to) {
      batch.ignored.push(`echo for another account (${senderId} -> ${recipientId}, account ${account}): ${mid}`);
      return;
    }
    const timestamp = parseTimestamp(item.timestamp, 'milliseconds') ?? 0;
    batch.events.push({ type: 'echo', channel: 'instagram', account, to, externalId: mid, text: asString(message.text) ?? '', timestamp });
    batch.ignored.push(`echo of an outgoing message (is_echo): ${mid}`);
    return;
  }
  if (recipientId !== account) {
    batch.ignored.push(`recipient id ${recipientId ?? 'none'} is not this account (${account})`);
    return;
  }
  const timestamp = parseTimestamp(item.timestamp, 'milliseconds');
  if (timestamp === undefined) {
    batch.rejected.push(`invalid timestamp ${quote(item.timestamp)}`);
    return;
  }
  if (!senderId || !isValidIgsid(senderId)) {
    batch.rejected.push(`invalid sender id ${quote(senderId ?? 'none')} (invalid instagram id)`);
    return;
  }
  const base = { channel: 'instagram' as const, account, from: senderId, timestamp };

  if (message) {
    const mid = asString(message.mid);
    if (!mid) {
      batch.rejected.push('message without mid');
      return;
    }
    if (message.is_deleted === true) {
      batch.events.push({ type: 'unsent', channel: 'instagram', account, externalId: mid });
      batch.ignored.push(`message unsent by the user (is_deleted): ${mid}`);
      return;
    }
    if (seen.has(mid)) {
      batch.ignored.push(`duplicate message id ${mid} in the same payload`);
      return;
    }
    seen.add(mid);
    const built = dmMessage(message, { ...base, externalId: mid });
    if ('ignore' in built) batch.ignored.push(`${built.ignore}: ${mid}`);
    else batch.messages.push(built);
    return;
  }

  const postback = asRecord(item.postback);
  if (postback) {
    // Ice-breakers and "get started": a conversation opener. With a mid it is also a visible
    // tap on an option we offered, which the bot answers like any choice.
    const title = asString(postback.title);
    const payload = asString(postback.payload);
    batch.events.push({ type: 'new_conversation', ...base, ...(title ? { title } : {}), ...(payload ? { payload } : {}) });
    const mid = asString(postback.mid);
    if (mid && !seen.has(mid)) {
      seen.add(mid);
      batch.messages.push({
        ...base, externalId: mid, kind: 'choice', text: title ?? payload ?? '',
        choice: { id: payload ?? title ?? '', ...(title ? { title } : {}), source: 'postback' },
      });
    }
    return;
  }

  const reaction = asRecord(item.reaction);
  if (reaction) {
    const mid = asString(reaction.mid) ?? 'unknown';
    if (reaction.action === 'unreact') {
      batch.ignored.push(`reaction removed: ${mid}`);
      return;
    }
    const emoji = asString(reaction.emoji) ?? (reaction.reaction === 'love' ? HEART : asString(reaction.reaction) ?? '');
    const externalId = `reaction:${mid}:${senderId}:${timestamp}`;
    if (seen.has(externalId)) return;
    seen.add(externalId);
    batch.messages.push({
      ...base, externalId, kind: 'reaction', text: emoji, replyToExternalId: mid,
      extra: { reaction: { emoji, name: asString(reaction.reaction), messageId: mid } },
    });
    return;
  }

  const read = asRecord(item.read);
  if (read) {
    // Our message was seen.
    const mid = asString(read.mid);
    if (mid) batch.statuses.push({ channel: 'instagram', account, externalId: mid, status: 'read', timestamp });
    else batch.ignored.push('read receipt without mid');
    return;
  }

  const delivery = asRecord(item.delivery);
  if (delivery) {
    const mids = asArray(delivery.mids).map(asString).filter((m): m is string => !!m);
    for (const mid of mids) batch.statuses.push({ channel: 'instagram', account, externalId: mid, status: 'delivered', timestamp });
    if (mids.length === 0) batch.ignored.push('delivery receipt without mids');
    return;
  }

  const referral = asRecord(item.referral);
  if (referral) {
    // An ig.me link or ad opened the thread before any message.
    const ref = asString(referral.ref);
    const source = asString(referral.source);
    batch.events.push({ type: 'new_conversation', ...base, ...(source ? { title: source } : {}), ...(ref ? { payload: ref } : {}) });
    return;
  }
  if (asRecord(item.optin)) {
    batch.ignored.push('optin is not handled');
    return;
  }
  batch.ignored.push('messaging item with no message, postback, referral, optin or delivery');
}

type Base = { channel: 'instagram'; account: string; from: string; timestamp: number; externalId: string };

function dmMessage(message: Json, base: Base): InboundMessage | { ignore: string } {
  let text = asString(message.text) ?? '';
  const media: MediaRef[] = [];
  const extra: Json = {};
  let storyMention = false;
  for (const a of asArray(message.attachments)) {
    const attachment = asRecord(a);
    const type = asString(attachment?.type) ?? 'unknown';
    const url = asString(asRecord(attachment?.payload)?.url);
    if (type === 'like_heart') {
      if (!text) text = HEART;
    } else if (type === 'story_mention') {
      storyMention = true;
      extra.storyMention = { url };
    } else if (MEDIA_TYPES[type]) {
      media.push({ type: MEDIA_TYPES[type]!, ...(url ? { url } : {}) });
    } else if (url) {
      // share, reel, ig_reel, story...: a link to Instagram content.
      media.push({ type: 'file', url });
      extra.sharedTypes = [...((extra.sharedTypes as string[] | undefined) ?? []), type];
    }
  }
  const replyTo = asRecord(message.reply_to);
  const story = asRecord(replyTo?.story);
  if (story) extra.storyReply = { id: asString(story.id), url: asString(story.url) };
  if (asRecord(message.referral)) extra.referral = message.referral;

  const quickReply = asString(asRecord(message.quick_reply)?.payload);
  if (!text && media.length === 0 && !quickReply) return { ignore: storyMention ? 'story mention' : 'empty message' };

  const result: InboundMessage = {
    ...base,
    kind: quickReply ? 'choice' : media.length ? 'media' : 'text',
    text,
    ...(quickReply ? { choice: { id: quickReply, title: text, source: 'quick_reply' as const } } : {}),
    ...(media.length ? { media } : {}),
  };
  const replyMid = asString(replyTo?.mid);
  if (replyMid) result.replyToExternalId = replyMid;
  if (Object.keys(extra).length) result.extra = extra;
  return result;
}
