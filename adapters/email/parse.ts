// One raw RFC 5322 message -> one normalized InboundMessage.

import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject, type Attachment } from 'mailparser';
import type { InboundMessage, MediaRef } from '../types.js';
import { automaticReasons } from './loop-rules.js';
import { findTicketRefs } from './markers.js';
import { decodeFlowed, extractReply, extractReplyFromHtml } from './quotes.js';
import { boundedName } from '../contact-name.js';

export interface ParseEmailOptions {
  /** The support address that received the mail (InboundMessage.account). */
  account: string;
  /** Further addresses that are ours (aliases): mail from them counts as automatic (loop). */
  ownAddresses?: string[];
  /** Keep the signature in `text` (talon's semantics). Default false: quotes and signature are stripped. */
  keepSignature?: boolean;
  /** Clock for mails without a usable Date header. */
  now?: () => number;
}

/**
 * Parses a raw mail. Ids (`externalId`, `email.messageId`, `inReplyTo`, `references`,
 * `bounceOf`) keep their angle brackets, exactly as in the headers (`<abc@host>`), which is
 * also the form the send adapter returns in `messageIdHeader`: compare them as strings.
 */
export async function parseEmail(raw: Buffer, opts: ParseEmailOptions): Promise<InboundMessage> {
  const { source, flowed, delSp } = neutralizeFlowed(raw);
  const parsed = await simpleParser(source, {
    skipHtmlToText: true, // `text` only from text/plain parts: HTML-only mail goes through our quote stripper
    skipTextToHtml: true,
    skipImageLinks: true,
    keepDeliveryStatus: true, // the delivery-status part becomes an attachment instead of body text
  });

  const headers = headerMap(parsed.headerLines);
  const sender = firstAddress(parsed.from);
  const from = (sender?.address ?? '').toLowerCase();
  const account = opts.account.toLowerCase();

  // Visible text
  let plain = typeof parsed.text === 'string' ? parsed.text : '';
  if (flowed) plain = decodeFlowed(plain, delSp);
  const html = typeof parsed.html === 'string' ? parsed.html : undefined;
  const replyOpts = { keepSignature: opts.keepSignature };
  const text = plain.trim() ? extractReply(plain, replyOpts) : html ? extractReplyFromHtml(html, replyOpts) : '';

  // Ids and threading headers
  const messageId = firstId(parsed.messageId);
  const inReplyTo = firstId(parsed.inReplyTo);
  const references = idList(parsed.references);

  // Loop protection and bounces
  const contentType = (parsed.headers.get('content-type') as { value?: string } | undefined)?.value?.toLowerCase() ?? 'text/plain';
  const reasons = automaticReasons({
    headers,
    from,
    contentType,
    ownAddresses: [account, ...(opts.ownAddresses ?? []).map((a) => a.toLowerCase())],
  });
  const isBounce = contentType === 'multipart/report' || /^(mailer-?daemon|postmaster)@/.test(from);
  const bounceOf = isBounce ? bouncedMessageId(parsed.attachments, contentType === 'multipart/report' ? undefined : plain) : undefined;
  const bounceReason = isBounce ? deliveryStatusReason(parsed.attachments) : undefined;

  const media = parsed.attachments.map(toMediaRef);
  const date = parsed.date?.getTime();
  const timestamp = date !== undefined && Number.isFinite(date) ? date : (opts.now ?? Date.now)();

  const extra: Record<string, unknown> = {};
  if (reasons.length) extra.automaticReasons = reasons;
  const replyTo = firstAddress(parsed.replyTo)?.address?.toLowerCase();
  if (replyTo && replyTo !== from) extra.replyTo = replyTo;
  const to = addresses(parsed.to);
  if (to.length) extra.to = to;
  const cc = addresses(parsed.cc);
  if (cc.length) extra.cc = cc;
  // Ticket references: a reply token in any address the mail was delivered to, our marker in the full (quoted) body.
  const deliveredTo = ['delivered-to', 'x-original-to', 'envelope-to'].flatMap((h) => headers.get(h) ?? []).flatMap((v) => v.match(/[^\s<>,;"]+@[^\s<>,;"]+/g) ?? []);
  const refs = findTicketRefs({ supportEmail: account, recipients: [...to, ...cc, ...deliveredTo], bodies: [plain, html ?? ''] });

  const msg: InboundMessage = {
    channel: 'email',
    account,
    externalId: messageId ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`,
    from,
    timestamp,
    kind: media.length ? 'media' : 'text',
    text,
    email: {
      subject: parsed.subject ?? '',
      automatic: reasons.length > 0,
      raw,
    },
  };
  const name = boundedName(sender?.name);
  if (name) msg.contactName = name;
  if (media.length) msg.media = media;
  if (messageId) msg.email!.messageId = messageId;
  if (inReplyTo) msg.email!.inReplyTo = inReplyTo;
  if (references.length) msg.email!.references = references;
  if (bounceOf) msg.email!.bounceOf = bounceOf;
  if (bounceReason) msg.email!.bounceReason = bounceReason;
  if (refs.length) msg.email!.refs = refs;
  if (html) msg.email!.html = html;
  if (Object.keys(extra).length) msg.extra = extra;
  return msg;
}

// ---------------------------------------------------------------------------------------------

/**
 * mailparser decodes format=flowed without regard to quote depth (it glues "> Hi " to the
 * unquoted line after it). We switch its decoding off by renaming the parameter in
 * Content-Type headers and decode flowed text ourselves (quotes.ts `decodeFlowed`). Works on a
 * latin1 view, so every byte round-trips unchanged. Caveat: a body line that itself starts
 * with "Content-Type:" and says format=flowed would be rewritten too (only `source`, never the
 * `raw` we keep).
 */
function neutralizeFlowed(raw: Buffer): { source: Buffer; flowed: boolean; delSp: boolean } {
  const str = raw.toString('latin1');
  let flowed = false;
  let delSp = false;
  const out = str.replace(/^Content-Type:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*/gim, (header) => {
    if (!/format\s*=\s*"?flowed"?/i.test(header)) return header;
    flowed = true;
    if (/delsp\s*=\s*"?yes"?/i.test(header)) delSp = true;
    return header.replace(/format\s*=\s*"?flowed"?/i, (m) => m.replace(/flowed/i, 'fixedx'));
  });
  return { source: flowed ? Buffer.from(out, 'latin1') : raw, flowed, delSp };
}

function headerMap(lines: ReadonlyArray<{ key: string; line: string }>): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const { key, line } of lines) {
    const idx = line.indexOf(':');
    const value = (idx >= 0 ? line.slice(idx + 1) : '').replace(/\r?\n[ \t]+/g, ' ').trim();
    const k = key.toLowerCase();
    map.set(k, [...(map.get(k) ?? []), value]);
  }
  return map;
}

function firstAddress(a: AddressObject | AddressObject[] | undefined) {
  const list = Array.isArray(a) ? a : a ? [a] : [];
  for (const obj of list) {
    for (const v of obj.value) {
      if (v.address) return v;
      for (const g of v.group ?? []) if (g.address) return g;
    }
  }
  return undefined;
}

function addresses(a: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(a) ? a : a ? [a] : [];
  const out: string[] = [];
  for (const obj of list)
    for (const v of obj.value) {
      if (v.address) out.push(v.address.toLowerCase());
      for (const g of v.group ?? []) if (g.address) out.push(g.address.toLowerCase());
    }
  return out;
}

const ID_RE = /<[^<>\s]+>/g;

function firstId(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const m = v.match(ID_RE);
  if (m) return m[0];
  const t = v.trim();
  return t ? `<${t.replace(/^<|>$/g, '')}>` : undefined;
}

function idList(v: string | string[] | undefined): string[] {
  if (!v) return [];
  const out: string[] = [];
  for (const s of Array.isArray(v) ? v : [v]) {
    const ids = s.match(ID_RE);
    if (ids) out.push(...ids);
    else if (s.trim()) out.push(`<${s.trim()}>`);
  }
  return [...new Set(out)];
}

/** Message-ID of the original inside a bounce: its message/rfc822 or text/rfc822-headers part. */
function bouncedMessageId(attachments: Attachment[], fallbackText?: string): string | undefined {
  for (const a of attachments) {
    const ct = (a.contentType ?? '').toLowerCase();
    if (['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/rfc822-headers', 'message/global-headers'].includes(ct)) {
      const text = a.content.toString('utf8');
      const headerPart = text.split(/\r?\n\r?\n/)[0] ?? '';
      const m = /^Message-ID:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+>)/im.exec(headerPart);
      if (m) return m[1];
    }
  }
  // Non-standard bounces (plain text from MAILER-DAEMON) often quote the original's headers.
  if (fallbackText) {
    const m = /^\s*Message-ID:\s*(<[^<>\s]+>)/im.exec(fallbackText);
    if (m) return m[1];
  }
  return undefined;
}

/** The reason of a delivery-status report: `Diagnostic-Code`, else `Status` (+ Action). */
function deliveryStatusReason(attachments: Attachment[]): string | undefined {
  for (const a of attachments) {
    const ct = (a.contentType ?? '').toLowerCase();
    if (ct !== 'message/delivery-status' && ct !== 'message/global-delivery-status') continue;
    const text = a.content.toString('utf8').replace(/\r?\n[ \t]+/g, ' ');
    const diag = /^Diagnostic-Code:\s*(?:[a-z0-9-]+;\s*)?(.+)$/im.exec(text)?.[1]?.trim();
    const status = /^Status:\s*([0-9.]+)/im.exec(text)?.[1];
    const action = /^Action:\s*(\S+)/im.exec(text)?.[1];
    if (diag) return diag.slice(0, 500);
    if (status) return `${action ?? 'failed'} (status ${status})`;
  }
  return undefined;
}

function mediaType(mime: string): MediaRef['type'] {
  if (mime.startsWith('image/')) return 'image';
  if (mime.startsWith('audio/')) return 'audio';
  if (mime.startsWith('video/')) return 'video';
  return 'document';
}

function toMediaRef(a: Attachment): MediaRef {
  const mimeType = (a.contentType || 'application/octet-stream').toLowerCase();
  const ref: MediaRef = { type: mediaType(mimeType), mimeType, size: a.size ?? a.content.length, content: a.content };
  if (a.filename) ref.filename = a.filename;
  return ref;
}
