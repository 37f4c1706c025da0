// Outbound email over SMTP (nodemailer), plus the IMAP watcher's lifecycle when configured.

import { access, constants } from 'node:fs/promises';
import { basename } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import {
  SendError,
  type Capabilities,
  type ChannelAdapter,
  type OutboundContent,
  type OutboundEnvelope,
  type SendResult,
} from '../types.js';
import { ImapWatcher, type ImapWatcherOptions } from './imap-watcher.js';
import { replyTokenAddress, ticketMarker } from './markers.js';
import { EMAIL_CAPABILITIES } from './capabilities.js';

export { EMAIL_CAPABILITIES };

export interface EmailAdapterOptions {
  /** SMTP_URL: `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://user:pass@host:465`. */
  smtpUrl: string;
  /** SUPPORT_EMAIL: the From address of everything we send (and the IMAP account). */
  supportEmail: string;
  /** Display name for From. */
  supportName?: string;
  /**
   * Per-recipient cap on automatic mail (bot, system, CSAT, out-of-office…): at most `max` in any
   * `windowMs`. Default 5 per hour. Kept in memory, per process: a restart resets it and several
   * gateway processes each count on their own (fine as a loop breaker, which is its purpose).
   */
  autoReplyCap?: { max: number; windowMs: number };
  /** Subject when the envelope carries none. */
  defaultSubject?: string;
  /** Domain of generated Message-IDs; default the support address's domain. */
  messageIdDomain?: string;
  clock?: () => number;
  /** When set, start()/stop() run an IMAP watcher for SUPPORT_EMAIL's mailbox (account = supportEmail). */
  imap?: Omit<ImapWatcherOptions, 'account'>;
  /**
   * Reply-To `support+<ticket ref>@domain` on mail that belongs to a ticket, so replies thread even
   * when the customer's client drops In-Reply-To. Only for mailboxes with sub-addressing (plus
   * addresses delivered to the same inbox). Default off; the body marker is always there.
   */
  replyTokens?: boolean;
  /** A ready transporter instead of one built from smtpUrl (tests). */
  transport?: Transporter;
}

export interface EmailAdapter extends ChannelAdapter {
  readonly watcher?: ImapWatcher;
  /** Starts the IMAP watcher (if configured). Take the mailbox lease before calling it. */
  start(): Promise<void>;
  /** Stops the IMAP watcher (if configured); release the lease after it resolves. */
  stop(): Promise<void>;
  /** Closes the SMTP transport (and stops the watcher). */
  close(): Promise<void>;
}

export function createEmailAdapter(opts: EmailAdapterOptions): EmailAdapter {
  const supportEmail = opts.supportEmail.trim();
  const domain = opts.messageIdDomain ?? (supportEmail.split('@')[1] || 'localhost');
  const clock = opts.clock ?? Date.now;
  const cap = opts.autoReplyCap ?? { max: 5, windowMs: 60 * 60_000 };
  const transport: Transporter = opts.transport ?? nodemailer.createTransport(opts.smtpUrl);
  const watcher = opts.imap ? new ImapWatcher({ ...opts.imap, account: supportEmail }) : undefined;
  /** recipient -> send times of automatic mails within the window */
  const automaticSent = new Map<string, number[]>();

  function reserveAutomatic(to: string): () => void {
    const now = clock();
    const times = (automaticSent.get(to) ?? []).filter((t) => t > now - cap.windowMs);
    if (times.length >= cap.max) {
      automaticSent.set(to, times);
      throw new SendError(
        `automatic mail to ${to} refused: ${cap.max} already sent within ${Math.round(cap.windowMs / 60_000)} min (loop protection)`,
        'auto_reply_limit',
        false,
      );
    }
    times.push(now);
    automaticSent.set(to, times);
    return () => {
      const i = times.indexOf(now);
      if (i >= 0) times.splice(i, 1);
    };
  }

  async function send(envelope: OutboundEnvelope): Promise<SendResult> {
    const to = envelope.to.trim().toLowerCase();
    if (!/^[^\s@<>]+@[^\s@<>]+$/.test(to)) throw new SendError(`invalid email recipient "${envelope.to}"`, 'invalid_recipient', false);
    if (envelope.content.kind === 'media' && envelope.content.media.path && !envelope.content.media.content) {
      const path = envelope.content.media.path;
      await access(path, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
        throw new SendError(`attachment ${path} unreadable: ${err.code ?? err.message}`, 'attachment_unreadable', false);
      });
    }
    const automatic = envelope.author !== 'agent' || envelope.email?.automatic === true;
    const release = automatic ? reserveAutomatic(to) : () => {};

    const messageId = `<${idPart(envelope.messageId)}@${domain}>`;
    const inReplyTo = envelope.email?.inReplyTo;
    const references = [...(envelope.email?.references ?? [])];
    if (inReplyTo && !references.includes(inReplyTo)) references.push(inReplyTo);
    const rendered = render(envelope.content);
    const attachments = rendered.attachments;
    let { text, html } = rendered;
    const ref = envelope.email?.ref;
    if (ref) {
      // The ticket marker: found again in the quoted part of the customer's answer (threading fallback).
      text = `${text}\n\n${ticketMarker(ref)}`;
      html = html.replace('</body>', `<p style="color:#888;font-size:12px">${escapeHtml(ticketMarker(ref))}</p></body>`);
    }

    const headers: Record<string, string> = {};
    if (automatic) {
      headers['Auto-Submitted'] = 'auto-replied'; // RFC 3834
      headers['X-Auto-Response-Suppress'] = 'All'; // no out-of-office answers to our automatic mail
    }
    const mail: Mail.Options = {
      from: opts.supportName ? { name: opts.supportName, address: supportEmail } : supportEmail,
      to,
      subject: subjectFor(envelope.email?.subject, !!inReplyTo, opts.defaultSubject ?? 'Your message to our support'),
      messageId,
      text,
      html,
      attachments,
      headers,
    };
    if (inReplyTo) mail.inReplyTo = inReplyTo;
    if (ref && opts.replyTokens) mail.replyTo = replyTokenAddress(supportEmail, ref);
    if (references.length) mail.references = references;

    try {
      await transport.sendMail(mail);
    } catch (err) {
      release();
      throw toSendError(err);
    }
    return { externalId: messageId, messageIdHeader: messageId };
  }

  return {
    channel: 'email',
    capabilities: EMAIL_CAPABILITIES,
    watcher,
    send,
    async start() {
      await watcher?.start();
    },
    async stop() {
      await watcher?.stop();
    },
    async close() {
      await watcher?.stop();
      transport.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Our message id becomes the Message-ID's left part: a retried send keeps its Message-ID. */
function idPart(messageId: string): string {
  const clean = messageId.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 120) || 'msg';
  return `chatgate.${clean}`;
}

const REPLY_PREFIX = /^\s*(re|aw|sv|vs|antw|odp|r|res|ref)\s*(\[\d+\])?\s*:/i;

export function subjectFor(subject: string | undefined, isReply: boolean, fallback: string): string {
  const s = (subject ?? '').replace(/\s+/g, ' ').trim();
  if (!s) return isReply ? `Re: ${fallback}` : fallback;
  if (!isReply || REPLY_PREFIX.test(s)) return s;
  return `Re: ${s}`;
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const paragraphs = (s: string) =>
  s
    .split(/\n{2,}/)
    .filter((p) => p.trim())
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('\n');

function wrapHtml(body: string): string {
  return `<!doctype html><html><body style="font-family:sans-serif">${body}</body></html>`;
}

export function render(content: OutboundContent): { text: string; html: string; attachments: Mail.Attachment[] } {
  switch (content.kind) {
    case 'text':
      return { text: content.text, html: wrapHtml(paragraphs(content.text)), attachments: [] };
    case 'choice': {
      // Email has no buttons: a numbered list; the customer answers with the number or the title.
      const lines = content.options.map((o, i) => `${i + 1}. ${o.title}${o.description ? ` - ${o.description}` : ''}`);
      const items = content.options
        .map((o) => `<li>${escapeHtml(o.title)}${o.description ? ` - ${escapeHtml(o.description)}` : ''}</li>`)
        .join('');
      return {
        text: `${content.text}\n\n${lines.join('\n')}`,
        html: wrapHtml(`${paragraphs(content.text)}\n<ol>${items}</ol>`),
        attachments: [],
      };
    }
    case 'template': {
      const body = content.body
        ? content.body.replace(/\{\{(\d+)\}\}/g, (m, n: string) => content.params[Number(n) - 1] ?? m)
        : [content.name, ...content.params].join(' ');
      return { text: body, html: wrapHtml(paragraphs(body)), attachments: [] };
    }
    case 'media': {
      const m = content.media;
      const att: Mail.Attachment = {};
      if (m.content) att.content = m.content;
      else if (m.path) att.path = m.path;
      else if (m.url) att.path = m.url;
      const name = m.filename ?? (m.path ? basename(m.path) : m.url ? basename(new URL(m.url).pathname) : undefined);
      if (name) att.filename = name;
      if (m.mimeType) att.contentType = m.mimeType;
      const text = content.text ?? m.caption ?? '';
      return { text, html: wrapHtml(paragraphs(text)), attachments: att.content || att.path ? [att] : [] };
    }
  }
}

/** SMTP 4xx and connection trouble: retry later. SMTP 5xx and unusable input: permanent. */
export function toSendError(err: unknown): SendError {
  if (err instanceof SendError) return err;
  const e = err as { message?: string; code?: string; responseCode?: number; response?: string };
  const message = e.response || e.message || String(err);
  const rc = e.responseCode;
  if (typeof rc === 'number' && rc >= 500) return new SendError(message, `smtp_${rc}`, false);
  if (typeof rc === 'number' && rc >= 400) return new SendError(message, `smtp_${rc}`, true);
  if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR' || (e.code === 'ESTREAM' && /\b(ENOENT|EACCES|EISDIR)\b/.test(message))) return new SendError(message, 'attachment_unreadable', false);
  if (e.code === 'EENVELOPE') return new SendError(message, 'invalid_envelope', false);
  // ECONNECTION, ECONNREFUSED, ETIMEDOUT, ESOCKET, EDNS, EPROTOCOL…: the server or the network.
  return new SendError(message, (e.code ?? 'smtp_error').toLowerCase(), true);
}
