// WhatsApp Cloud API webhook POST body -> normalized WebhookBatch. Pure: no I/O, no clock.
import type { InboundMessage, StatusUpdate, WebhookBatch } from '../types.js';
import { asArray, asRecord, asString, openEnvelope, parseTimestamp, providerError, quote, type Json } from '../meta/payload.js';
import { isValidBsuid, isValidSenderId } from './ids.js';
import { messageContent } from './message-content.js';
import { boundedName } from '../contact-name.js';

export interface WhatsAppParseOptions {
  /** Our phone_number_id: changes for another number are ignored. */
  phoneNumberId?: string;
}

const STATUSES: readonly StatusUpdate['status'][] = ['sent', 'delivered', 'read', 'failed'];

export function parseWhatsAppWebhook(body: unknown, opts: WhatsAppParseOptions = {}): WebhookBatch {
  const { batch, entries } = openEnvelope(body, 'whatsapp_business_account');
  if (batch.rejected.length) return batch;
  const seen = new Set<string>();
  for (const entry of entries) {
    const changes = asArray(asRecord(entry)?.changes);
    if (changes.length === 0) batch.ignored.push('entry has no changes');
    for (const change of changes) parseChange(asRecord(change), opts, batch, seen);
  }
  return batch;
}

function parseChange(change: Json | undefined, opts: WhatsAppParseOptions, batch: WebhookBatch, seen: Set<string>): void {
  const field = asString(change?.field);
  const value = asRecord(change?.value);
  if (field === 'smb_message_echoes' && value) {
    parseEchoes(value, opts, batch);
    return;
  }
  if (field !== 'messages' || !value) {
    batch.ignored.push(`change field ${quote(field ?? 'none')} is not handled`);
    return;
  }
  const account = ourAccount(value, opts, batch);
  if (!account) return;
  for (const e of asArray(value.errors)) {
    const err = providerError(e);
    if (err) batch.errors.push(err);
  }
  const messages = asArray(value.messages);
  const statuses = asArray(value.statuses);
  if (messages.length === 0 && statuses.length === 0 && asArray(value.errors).length > 0) {
    batch.ignored.push('webhook carries only an error, no messages or statuses');
  }
  const names = contactNames(asArray(value.contacts));
  for (const m of messages) parseMessage(asRecord(m) ?? {}, account, names, batch, seen);
  for (const s of statuses) parseStatus(asRecord(s) ?? {}, account, batch);
}

/** contacts[].profile.name by wa_id and by user_id. */
function contactNames(contacts: unknown[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const c of contacts) {
    const contact = asRecord(c);
    const name = boundedName(asString(asRecord(contact?.profile)?.name));
    if (!name) continue;
    for (const key of [asString(contact?.wa_id), asString(contact?.user_id)]) if (key) names.set(key, name);
  }
  return names;
}

function parseMessage(msg: Json, account: string, names: Map<string, string>, batch: WebhookBatch, seen: Set<string>): void {
  const externalId = asString(msg.id);
  if (!externalId) {
    batch.rejected.push('message without id');
    return;
  }
  for (const e of asArray(msg.errors)) {
    const err = providerError(e);
    if (err) batch.errors.push(err);
  }
  const timestamp = parseTimestamp(msg.timestamp, 'seconds');
  if (timestamp === undefined) {
    batch.rejected.push(`invalid timestamp ${quote(msg.timestamp)}: message ${externalId}`);
    return;
  }
  if (seen.has(externalId)) {
    batch.ignored.push(`duplicate message id ${externalId} in the same payload`);
    return;
  }
  seen.add(externalId);
  if (asString(msg.group_id)) {
    batch.ignored.push(`group message: ${externalId}`);
    return;
  }

  // Sender: the phone number when there is one, else the business-scoped user id.
  const fromPhone = asString(msg.from);
  const fromUserId = asString(msg.from_user_id);
  let from: string;
  if (fromPhone !== undefined) {
    if (!isValidSenderId(fromPhone)) {
      batch.rejected.push(`invalid sender id ${quote(fromPhone)} (invalid whatsapp id): message ${externalId}`);
      return;
    }
    from = fromPhone;
  } else if (fromUserId !== undefined) {
    if (!isValidBsuid(fromUserId)) {
      batch.rejected.push(`invalid sender id ${quote(fromUserId)} (invalid whatsapp id): message ${externalId}`);
      return;
    }
    from = fromUserId;
  } else {
    batch.rejected.push(`message has neither from nor from_user_id (invalid whatsapp id): message ${externalId}`);
    return;
  }
  const altIds = fromUserId && fromUserId !== from && isValidBsuid(fromUserId) ? [fromUserId] : [];
  const contactName = names.get(from) ?? (fromUserId ? names.get(fromUserId) : undefined);

  const content = messageContent(msg);
  if ('ignore' in content) {
    batch.ignored.push(`${content.ignore}: ${externalId}`);
    return;
  }
  const message: InboundMessage = {
    channel: 'whatsapp',
    account,
    externalId,
    from,
    ...(altIds.length ? { altIds } : {}),
    ...(contactName ? { contactName } : {}),
    timestamp,
    ...content,
  };
  const context = asRecord(msg.context);
  const replyTo = asString(context?.id);
  if (replyTo && !message.replyToExternalId) message.replyToExternalId = replyTo;
  const extra: Json = { ...(message.extra ?? {}) };
  if (context?.forwarded === true || context?.frequently_forwarded === true) extra.forwarded = true;
  if (asRecord(msg.referral)) extra.referral = msg.referral;
  if (Object.keys(extra).length) message.extra = extra;
  batch.messages.push(message);
}

function parseStatus(status: Json, account: string, batch: WebhookBatch): void {
  const externalId = asString(status.id);
  const value = asString(status.status);
  if (!externalId) {
    batch.rejected.push('status without id');
    return;
  }
  if (value === 'deleted') {
    batch.ignored.push(`status 'deleted' is ignored: ${externalId}`);
    return;
  }
  if (!value || !(STATUSES as readonly string[]).includes(value)) {
    batch.rejected.push(`unknown status ${quote(value ?? 'none')}: ${externalId}`);
    return;
  }
  const timestamp = parseTimestamp(status.timestamp, 'seconds');
  if (timestamp === undefined) {
    batch.rejected.push(`invalid timestamp ${quote(status.timestamp)}: status of ${externalId}`);
    return;
  }
  const update: StatusUpdate = { channel: 'whatsapp', account, externalId, status: value as StatusUpdate['status'], timestamp };
  const errors = asArray(status.errors).map(providerError).filter((e): e is { code: string; message: string } => !!e);
  batch.errors.push(...errors);
  if (value === 'failed') update.error = errors[0] ?? { code: 'unknown', message: 'failed without an error' };
  batch.statuses.push(update);
}

/** The change's phone number id when it is this gateway's account; else null, with the reason recorded in the batch. */
function ourAccount(value: Json, opts: WhatsAppParseOptions, batch: WebhookBatch): string | null {
  const account = asString(asRecord(value.metadata)?.phone_number_id);
  if (!account) {
    batch.rejected.push('change without metadata.phone_number_id');
    return null;
  }
  if (opts.phoneNumberId && account !== opts.phoneNumberId) {
    batch.ignored.push(`phone_number_id ${account} is not this account (${opts.phoneNumberId})`);
    return null;
  }
  return account;
}

/**
 * Coexistence (a number used in the WhatsApp Business app and the Cloud API at once):
 * messages the business typed in the app come back as `smb_message_echoes`. They are
 * not customer messages; the gateway records them on the ticket as agent messages.
 */
function parseEchoes(value: Json, opts: WhatsAppParseOptions, batch: WebhookBatch): void {
  const account = ourAccount(value, opts, batch);
  if (!account) return;
  for (const e of asArray(value.message_echoes)) {
    const echo = asRecord(e) ?? {};
    const externalId = asString(echo.id);
    const to = asString(echo.to) ?? asString(echo.to_user_id);
    const timestamp = parseTimestamp(echo.timestamp, 'seconds');
    if (!externalId || !to || timestamp === undefined) {
      batch.rejected.push(`message echo without id, recipient or timestamp: ${externalId ?? 'unknown'}`);
      continue;
    }
    const content = messageContent(echo);
    const text = 'ignore' in content ? '' : content.text;
    batch.events.push({ type: 'echo', channel: 'whatsapp', account, to, externalId, text, timestamp });
  }
}
