// Channel rendering of outbound content that depends only on Capabilities.
import type { Capabilities, ChoiceOption } from './types.js';

export type RenderedChoice =
  | { kind: 'buttons'; text: string; buttons: { id: string; title: string }[] }
  | { kind: 'list'; text: string; rows: { id: string; title: string; description?: string }[] }
  | { kind: 'quick_replies'; text: string; quickReplies: { id: string; title: string }[] }
  /** Numbered lines ("1. Title"): the customer answers with the number or the title. */
  | { kind: 'text'; text: string };

/**
 * Picks the richest form the channel can show for these options:
 * reply buttons (when they fit and no title would be cut, or no list exists), else a
 * list, else quick replies, else numbered text. Titles are cut to the form's limit; a
 * list row whose title was cut keeps the full title as its description when it had none.
 */
export function renderChoice(caps: Capabilities, content: { text: string; options: ChoiceOption[] }): RenderedChoice {
  const { text, options } = content;
  const fits = (limit: { max: number; titleMax: number }) => limit.max > 0 && options.length > 0 && options.length <= limit.max;
  const allTitlesFit = (titleMax: number) => options.every((o) => length(o.title) <= titleMax);

  if (fits(caps.buttons) && (allTitlesFit(caps.buttons.titleMax) || !fits(caps.list))) {
    return { kind: 'buttons', text, buttons: options.map((o) => ({ id: o.id, title: truncate(o.title, caps.buttons.titleMax) })) };
  }
  if (fits(caps.list)) {
    return {
      kind: 'list',
      text,
      rows: options.map((o) => {
        const title = truncate(o.title, caps.list.titleMax);
        const description = o.description ?? (title !== o.title ? o.title : undefined);
        return { id: o.id, title, ...(description ? { description } : {}) };
      }),
    };
  }
  if (fits(caps.quickReplies)) {
    return { kind: 'quick_replies', text, quickReplies: options.map((o) => ({ id: o.id, title: truncate(o.title, caps.quickReplies.titleMax) })) };
  }
  return { kind: 'text', text: numberedText(text, options) };
}

export function numberedText(text: string, options: ChoiceOption[]): string {
  const lines = options.map((o, i) => `${i + 1}. ${o.title}`);
  return [text, lines.join('\n')].filter((s) => s.length > 0).join('\n\n');
}

/** Length in characters (code points), as Meta counts them. */
export function length(s: string): number {
  return Array.from(s).length;
}

/** Cuts to at most `max` characters, ending with "…" when something was cut. */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  if (max <= 1) return chars.slice(0, max).join('');
  return chars.slice(0, max - 1).join('').trimEnd() + '…';
}

/**
 * Splits text into parts of at most `max` units, preferring paragraph, line, sentence and
 * word boundaries; never splits a character (surrogate pair). `unit` 'utf8' measures
 * bytes (Instagram counts its 1000 limit that way in places), 'chars' code points.
 */
export function splitText(text: string, max: number, unit: 'chars' | 'utf8' = 'chars'): string[] {
  if (max < 1) throw new RangeError('max must be >= 1');
  const size = unit === 'utf8' ? (s: string) => Buffer.byteLength(s, 'utf8') : length;
  const parts: string[] = [];
  let rest = text;
  while (size(rest) > max) {
    const chars = Array.from(rest);
    // The longest prefix (in whole characters) that fits.
    let fit = 0;
    let used = 0;
    for (const ch of chars) {
      const n = size(ch);
      if (used + n > max) break;
      used += n;
      fit++;
    }
    if (fit === 0) fit = 1; // one character larger than max on its own: send it anyway rather than loop
    const head = chars.slice(0, fit).join('');
    const cut = bestCut(head);
    const part = head.slice(0, cut).trimEnd();
    parts.push(part.length > 0 ? part : head.slice(0, cut));
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

/** Index in `head` where to cut: the last good boundary in its second half, else its end. */
function bestCut(head: string): number {
  const minimum = Math.floor(head.length / 2);
  for (const boundary of [/\n\s*\n/g, /\n/g, /[.!?…]\s/g, /\s/g]) {
    let last = -1;
    for (const m of head.matchAll(boundary)) last = m.index! + m[0].length;
    if (last > minimum) return last;
  }
  return head.length;
}
