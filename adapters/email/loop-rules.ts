// Loop protection (RFC 3834 and helpdesk practice): which inbound mails are "automatic".
// An automatic mail is still stored (a bounce or an out-of-office note is useful on the
// ticket), but nothing automatic (bot, CSAT, out-of-office, acknowledgement) is ever sent in
// answer to it. One row per rule; `parseEmail` reports the ids of the rules that matched in
// `extra.automaticReasons` and sets `email.automatic` when any did.

export interface LoopContext {
  /** Header values by lower-case name (unfolded, raw; several when the header repeats). */
  headers: Map<string, string[]>;
  /** Sender address, lower-case. */
  from: string;
  /** Top-level content type, lower-case, without parameters (e.g. `multipart/report`). */
  contentType: string;
  /** Addresses that are ours (the support address and aliases), lower-case. */
  ownAddresses: string[];
}

export interface LoopRule {
  id: string;
  description: string;
  matches(ctx: LoopContext): boolean;
}

const values = (ctx: LoopContext, name: string) => ctx.headers.get(name) ?? [];
const has = (ctx: LoopContext, name: string) => values(ctx, name).length > 0;
const anyValue = (ctx: LoopContext, name: string, test: (v: string) => boolean) =>
  values(ctx, name).some((v) => test(v.trim().toLowerCase()));
/** Tokens of a comma/space separated header value, lower-case, without comments. */
const tokens = (v: string) => v.replace(/\(.*?\)/g, '').split(/[\s,;]+/).filter(Boolean);

const SYSTEM_LOCAL_PARTS = /^(mailer-daemon|mailerdaemon|postmaster|no-?reply|do-?not-?reply|noreply-.*|bounces?(\+.*)?)$/;

export const LOOP_RULES: readonly LoopRule[] = [
  {
    id: 'auto-submitted',
    description: 'Auto-Submitted present with a value other than "no" (RFC 3834: auto-replied, auto-generated, auto-notified)',
    matches: (c) => anyValue(c, 'auto-submitted', (v) => v !== '' && !/^no\b/.test(v)),
  },
  {
    id: 'x-autoreply',
    description: 'X-Autoreply header present (vacation programs, cPanel, qmail)',
    matches: (c) => anyValue(c, 'x-autoreply', (v) => v !== 'no' && v !== 'false'),
  },
  {
    id: 'x-autorespond',
    description: 'X-Autorespond header present',
    matches: (c) => anyValue(c, 'x-autorespond', (v) => v !== 'no' && v !== 'false'),
  },
  {
    id: 'precedence',
    description: 'Precedence: bulk, junk, list or auto_reply',
    matches: (c) => anyValue(c, 'precedence', (v) => ['bulk', 'junk', 'list', 'auto_reply'].includes(v)),
  },
  {
    id: 'x-auto-response-suppress',
    description: 'X-Auto-Response-Suppress (Exchange) containing All, AutoReply or OOF',
    matches: (c) => anyValue(c, 'x-auto-response-suppress', (v) => tokens(v).some((t) => ['all', 'autoreply', 'oof'].includes(t))),
  },
  {
    id: 'list-id',
    description: 'List-Id present: mailing-list traffic',
    matches: (c) => has(c, 'list-id'),
  },
  {
    id: 'list-unsubscribe',
    description: 'List-Unsubscribe present: newsletters and other bulk mail',
    matches: (c) => has(c, 'list-unsubscribe'),
  },
  {
    id: 'empty-return-path',
    description: 'Return-Path is the null sender <> (bounces, auto-replies per RFC 3834 §3.3)',
    matches: (c) => anyValue(c, 'return-path', (v) => /^<\s*>$/.test(v) || v === ''),
  },
  {
    id: 'system-sender',
    description: 'Sender is mailer-daemon, postmaster or a no-reply address',
    matches: (c) => SYSTEM_LOCAL_PARTS.test(c.from.split('@')[0] ?? ''),
  },
  {
    id: 'bounce-report',
    description: 'multipart/report (delivery status notification / bounce)',
    matches: (c) => c.contentType === 'multipart/report',
  },
  {
    id: 'own-address',
    description: 'Sent from our own support address (a loop through our own mailbox)',
    matches: (c) => c.from !== '' && c.ownAddresses.includes(c.from),
  },
];

/** Ids of the rules that say this mail is automatic (empty: a person wrote it). */
export function automaticReasons(ctx: LoopContext): string[] {
  return LOOP_RULES.filter((r) => r.matches(ctx)).map((r) => r.id);
}
