// Visible reply extraction: what the customer actually wrote in this mail, without the
// quoted history (and, unless asked to keep it, without the signature).
//
// Plain text goes through two stages:
//   1. `cutQuotedHistory`: our own line rules for the markers mail clients put in front of
//      quoted history (attribution lines "On … wrote:" in several languages, also when wrapped
//      over several lines; "-----Original Message-----" separators; Outlook-style
//      "From: … Sent: … To: … Subject:" header blocks; a trailing block of "> " lines), plus
//      bottom-posting (quote first, reply after it, as Thunderbird does). email-reply-parser
//      alone misses wrapped/localised attributions (Android's Russian "… написал:") and treats a
//      bottom-posted reply as entirely quoted, so these rules run first.
//   2. email-reply-parser (`parseReply`) on what is left: it knows further quote headers and
//      strips signatures ("-- ", "Sent from my iPhone", "Regards,"…). Skipped when
//      `keepSignature` is set (talon's semantics, which the fixtures assert).
//
// HTML (used when a mail has no text/plain part): the quote containers of common clients are
// removed from the DOM first (Gmail gmail_quote, Outlook divRplyFwdMsg/appendonsend, Apple and
// Thunderbird blockquote type=cite + moz-cite-prefix, Yahoo yahoo_quoted, Zimbra/Comcast
// hr#zwchr, Hotmail hr#stopSpelling), the rest is turned into text and goes through the plain
// text stages above (which catch Outlook's "From: … Sent:" blocks written as plain HTML).

import EmailReplyParser from 'email-reply-parser';
import { parseDocument } from 'htmlparser2';
import { Element, type AnyNode, type ParentNode } from 'domhandler';
import { findAll, removeElement, getAttributeValue } from 'domutils';
import render from 'dom-serializer';
import { convert as htmlToText } from 'html-to-text';

export interface ReplyOptions {
  /** Keep the signature block (talon's behaviour). Default false: signatures are stripped. */
  keepSignature?: boolean;
}

// ---------------------------------------------------------------------------------------------
// format=flowed (RFC 3676)

/**
 * Decodes a format=flowed body: a line ending in a space continues on the next line *of the
 * same quote depth*. (mailparser's decoder ignores quote depth and glues "> Hi " to the
 * unquoted reply that follows it, which is why parse.ts decodes flowed text itself.)
 */
export function decodeFlowed(text: string, delSp = false): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let current: { depth: number; text: string } | null = null;
  for (const raw of lines) {
    const m = /^(>+)/.exec(raw);
    const depth = m ? m[1].length : 0;
    let body = m ? raw.slice(depth) : raw;
    if (body.startsWith(' ')) body = body.slice(1); // space-stuffing (and "> " after quote marks)
    const isSigSep = body === '-- ';
    const soft = !isSigSep && body.endsWith(' ');
    if (current && current.depth === depth) {
      current.text += body;
    } else {
      if (current) out.push(render1(current));
      current = { depth, text: body };
    }
    if (soft) {
      if (delSp) current.text = current.text.slice(0, -1);
    } else {
      out.push(render1(current));
      current = null;
    }
  }
  if (current) out.push(render1(current));
  return out.join('\n');

  function render1(p: { depth: number; text: string }): string {
    return p.depth ? '>'.repeat(p.depth) + (p.text ? ' ' + p.text : '') : p.text;
  }
}

// ---------------------------------------------------------------------------------------------
// Plain-text quote markers

const WROTE =
  'wrote|writes|a écrit|écrit|escribió|escreveu|ha scritto|scritto|schrieb|skrev|schreef|' +
  'napisał\\(a\\)|napisała|napisał|pisze|kirjoitti|написал\\(а\\)|написала|написал|пишет|yazdı|έγραψε|' +
  'het geschreven|geschreven';
const ON_WORDS = 'On|Le|El|Il|Em|Am|Op|Den|Dne|Dnia|W dniu|pe|ma|ti|ke|to|pe|la|Tanggal';

/** "On <date>, <name> wrote:" and its translations: cut whatever follows. */
const STRONG_ATTRIBUTION = new RegExp(`^\\s*(?:${ON_WORDS})\\s.*\\b(?:${WROTE})\\b.*[:：]\\s*$`, 'iu');
/** "<date> <name> <addr> написал:"-like lines: cut when quoted lines (or nothing) follow. */
const WEAK_ATTRIBUTION = new RegExp(`(?:^|[\\s"'>)])(?:${WROTE})(?:[\\s(][^\\n]*)?[:：]\\s*$|(?:写道|寫道|작성|のメッセージ)\\s*[:：]?\\s*$`, 'iu');

const SEPARATOR =
  /^\s*[-_=]{2,}\s*(?:Original Message|Forwarded by .*|Message d'origine|Ursprüngliche Nachricht|Originalnachricht|Mensaje original|Messaggio originale|Oorspronkelijk bericht|Mensagem original|Oprindelig meddelelse|Opprinnelig melding|Ursprungligt meddelande|Alkuperäinen viesti|Исходное сообщение|Wiadomość oryginalna|Původní zpráva|Reply message)\s*[-_=]{2,}\s*$/i;

const HDR_FROM = /^\s*\*?(?:From|Von|De|Van|Da|Från|Fra|Od|От|Lähettäjä|Kimden|Feladó)\s*:\*?\s*\S/i;
const HDR_SENT =
  /^\s*\*?(?:Sent|Date|Datum|Gesendet|Envoyé|Enviado|Verzonden|Inviato|Data|Skickat|Sendt|Отправлено|Дата|Wysłano|Wysłane|Lähetetty|Tarih|Odesláno)\s*:/i;
const HDR_TO_SUBJECT =
  /^\s*\*?(?:To|Cc|Subject|An|Betreff|À|Objet|Para|Asunto|Aan|Onderwerp|A|Oggetto|Till|Ämne|Til|Emne|Кому|Тема|Do|Temat|Vastaanottaja|Aihe|Kime|Konu|Komu|Předmět)\s*:/i;
const UNDERSCORES = /^\s*_{10,}\s*$/;

const isQuoted = (line: string) => /^\s*>/.test(line);
const isBlank = (line: string) => line.trim() === '';

const ATTRIBUTION_START = new RegExp(`^\\s*(?:(?:${ON_WORDS})\\s|[0-9])`, 'iu');

/**
 * An attribution line ending at line j, possibly wrapped over up to 3 lines (Android wraps
 * "02.04.2012 14:20 user "a@b" <" / "a@b> написал:"). A wrapped group must start like an
 * attribution does (a localised "On", or a date), so a reply line right above it (no blank
 * line in between) is not swallowed.
 */
function attributionEndingAt(lines: string[], j: number): { start: number; strong: boolean } | null {
  const last = lines[j];
  if (isBlank(last) || isQuoted(last) || !/[:：]\s*$|(?:写道|寫道|작성|のメッセージ)\s*$/u.test(last)) return null;
  for (let s = Math.max(0, j - 2); s <= j; s++) {
    const group = lines.slice(s, j + 1);
    if (group.some((l) => isBlank(l) || isQuoted(l))) continue;
    if (s < j && !ATTRIBUTION_START.test(group[0])) continue;
    const joined = group.map((l) => l.trim()).join(' ');
    if (joined.length > 400) continue;
    if (STRONG_ATTRIBUTION.test(joined)) return { start: s, strong: true };
    if (WEAK_ATTRIBUTION.test(joined) && /[0-9@]/.test(joined)) return { start: s, strong: false };
  }
  return null;
}

/** A mail-header block ("From: …" with "Sent:/Date:" and "To:/Subject:" within the next lines). */
function headerBlockAt(lines: string[], i: number): boolean {
  if (!HDR_FROM.test(lines[i])) return false;
  let sent = false;
  let other = false;
  for (let k = i + 1; k < Math.min(lines.length, i + 8); k++) {
    if (HDR_SENT.test(lines[k])) sent = true;
    else if (HDR_TO_SUBJECT.test(lines[k])) other = true;
  }
  return sent && other;
}

interface Marker {
  /** First line of the quoted history. */
  start: number;
}

function firstMarker(lines: string[]): Marker | null {
  for (let i = 0; i < lines.length; i++) {
    if (SEPARATOR.test(lines[i])) return { start: i };
    if (headerBlockAt(lines, i)) {
      let start = i;
      // Outlook (web) puts a line of underscores, or a blank line and then underscores, before the block.
      let p = i - 1;
      while (p >= 0 && isBlank(lines[p])) p--;
      if (p >= 0 && (UNDERSCORES.test(lines[p]) || SEPARATOR.test(lines[p]))) start = p;
      return { start };
    }
    const a = attributionEndingAt(lines, i);
    if (a) {
      if (a.strong) return { start: a.start };
      let n = i + 1;
      while (n < lines.length && isBlank(lines[n])) n++;
      if (n >= lines.length || isQuoted(lines[n])) return { start: a.start };
    }
  }
  return null;
}

function trimTrailingQuotes(lines: string[]): string[] {
  let end = lines.length;
  while (end > 0 && (isBlank(lines[end - 1]) || isQuoted(lines[end - 1]))) end--;
  return lines.slice(0, end);
}

/**
 * Removes the quoted history from a plain-text body (stage 1), keeping signatures.
 * Leading/trailing whitespace of the result is stripped; inner lines are left untouched.
 */
export function cutQuotedHistory(text: string): string {
  return cutLines(text.replace(/\r\n?/g, '\n').split('\n'), 0).join('\n').trim();
}

function cutLines(lines: string[], depth: number): string[] {
  const first = lines.findIndex((l) => !isBlank(l));
  if (first < 0) return [];
  // Bottom-posting: the mail opens with quoted history (an attribution and/or "> " lines) and
  // the reply follows it. Skip that leading block and read the rest as a mail of its own.
  if (depth < 5) {
    const lead = leadingQuoteEnd(lines, first);
    if (lead > first) {
      const rest = lines.slice(lead);
      if (rest.some((l) => !isBlank(l))) return cutLines(rest, depth + 1);
      return [];
    }
  }
  const marker = firstMarker(lines);
  const kept = marker ? lines.slice(0, marker.start) : lines;
  return trimTrailingQuotes(kept);
}

/** End (exclusive) of a block of quoted history that starts at line `first`, or `first` when none does. */
function leadingQuoteEnd(lines: string[], first: number): number {
  let i = first;
  let attribution = -1;
  for (let j = first; j < Math.min(lines.length, first + 3); j++) {
    const a = attributionEndingAt(lines, j);
    if (a && a.start === first) {
      attribution = j;
      break;
    }
  }
  if (attribution >= 0) i = attribution + 1;
  else if (SEPARATOR.test(lines[i]) || headerBlockAt(lines, i)) return first; // a forwarded/quoted header on top: not a bottom-post we can delimit
  let sawQuote = false;
  while (i < lines.length && (isBlank(lines[i]) || isQuoted(lines[i]))) {
    if (isQuoted(lines[i])) sawQuote = true;
    i++;
  }
  return sawQuote ? i : first;
}

// ---------------------------------------------------------------------------------------------
// Public API

const replyParser = new EmailReplyParser();

/** The visible reply of a plain-text body. */
export function extractReply(text: string, opts: ReplyOptions = {}): string {
  const cut = cutQuotedHistory(text);
  if (opts.keepSignature || !cut) return cut;
  const stripped = replyParser.parseReply(cut).trim();
  // email-reply-parser hides everything it takes for a signature; if that is the whole mail,
  // the mail *is* its content (e.g. a one-line "Regards, Ann" answer).
  return stripped || cut;
}

/** Class names / ids whose element (and everything inside) is quoted history. */
const QUOTE_CONTAINERS: ((el: Element) => boolean)[] = [
  (el) => hasClass(el, 'gmail_quote') || hasClass(el, 'gmail_quote_container') || hasClass(el, 'gmail_extra'),
  (el) => el.name === 'blockquote' && (getAttributeValue(el, 'type') ?? '').toLowerCase() === 'cite',
  (el) => hasClass(el, 'moz-cite-prefix'),
  (el) => hasClass(el, 'yahoo_quoted') || /^yahoo_quoted/.test(getAttributeValue(el, 'id') ?? ''),
  (el) => hasClass(el, 'protonmail_quote'),
  (el) => hasClass(el, 'zmail_extra') || hasClass(el, 'zm_quote'),
];
/** Elements after which everything is quoted history (Outlook puts the quote in following siblings). */
const QUOTE_STARTS: ((el: Element) => boolean)[] = [
  (el) => getAttributeValue(el, 'id') === 'divRplyFwdMsg',
  (el) => getAttributeValue(el, 'id') === 'appendonsend',
  (el) => el.name === 'hr' && ['stopSpelling', 'zwchr'].includes(getAttributeValue(el, 'id') ?? ''),
  (el) => hasClass(el, 'OutlookMessageHeader'),
];
const SIGNATURE_CONTAINERS: ((el: Element) => boolean)[] = [
  (el) => hasClass(el, 'gmail_signature') || hasClass(el, 'moz-signature') || (getAttributeValue(el, 'id') ?? '') === 'Signature',
];

function hasClass(el: Element, cls: string): boolean {
  const c = getAttributeValue(el, 'class');
  return !!c && c.split(/\s+/).includes(cls);
}

/** Removes `node` and everything after it in document order (the ancestors themselves stay: they hold the reply). */
function truncateFrom(node: AnyNode): void {
  let anc: ParentNode | null = node.parent;
  while (node.next) removeElement(node.next);
  // Outlook's <hr> right before divRplyFwdMsg belongs to the quote.
  let prev = node.prev;
  while (prev && prev.type === 'text' && !(prev as any).data.trim()) prev = prev.prev;
  removeElement(node);
  if (prev instanceof Element && prev.name === 'hr') removeElement(prev);
  while (anc instanceof Element && anc.name !== 'body' && anc.name !== 'html') {
    while (anc.next) removeElement(anc.next);
    anc = anc.parent;
  }
}

/** Removes quote containers of common mail clients from an HTML body; returns the remaining HTML. */
export function stripHtmlQuotes(html: string, opts: ReplyOptions = {}): string {
  const doc = parseDocument(html, { decodeEntities: true });
  const all = () => findAll(() => true, doc.children);
  const starts = all().filter((el) => QUOTE_STARTS.some((t) => t(el)));
  if (starts.length) truncateFrom(starts[0]);
  for (const el of all()) if (el.parent && QUOTE_CONTAINERS.some((t) => t(el))) removeElement(el);
  if (!opts.keepSignature) for (const el of all()) if (el.parent && SIGNATURE_CONTAINERS.some((t) => t(el))) removeElement(el);
  return render(doc, { decodeEntities: false });
}

export function htmlToPlain(html: string): string {
  return htmlToText(html, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'p', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
    ],
  });
}

/** The visible reply of an HTML-only body. */
export function extractReplyFromHtml(html: string, opts: ReplyOptions = {}): string {
  return extractReply(htmlToPlain(stripHtmlQuotes(html, opts)), opts);
}
