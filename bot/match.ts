// Understanding what the customer typed: normalisation, "talk to an agent" and
// "menu" detection, option matching (id / number / title / fuzzy) and phrase
// matching for shortcuts and FAQ entries (Fuse.js for whole-phrase typos, plus a
// token-overlap scorer for longer messages). All indexes are built once per flow version.

import Fuse from 'fuse.js';

export function normalize(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[’']/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

const STOP = new Set(
  'a an the i im me my mine to is are am be was do does did can could would will you your u please pls plz want wanna like it its of for on in at with and or so hi hello hey there just some any about this that get got have has need know tell'.split(' '),
);

function stem(t: string): string {
  return t.length > 4 && t.endsWith('s') ? t.slice(0, -1) : t;
}

export function tokens(norm: string): string[] {
  const all = norm.split(' ').filter(Boolean).map(stem);
  const content = all.filter((t) => !STOP.has(t));
  return content.length ? content : all;
}

function lev(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (cur[j] < best) best = cur[j];
    }
    if (best > max) return max + 1;
    prev = cur;
  }
  return prev[b.length];
}

function tokenEq(a: string, b: string): boolean {
  if (a === b) return true;
  const min = Math.min(a.length, b.length);
  if (min < 4) return false;
  return lev(a, b, min >= 8 ? 2 : 1) <= (min >= 8 ? 2 : 1);
}

function coverage(from: string[], into: string[]): number {
  if (!from.length) return 0;
  let n = 0;
  for (const t of from) if (into.some((u) => tokenEq(t, u))) n++;
  return n / from.length;
}

export interface PhraseMatch<T> {
  value: T;
  phrase: string;
  score: number;
}

/**
 * Matches a message against phrases.
 * strict: the whole message is (a typo of) the phrase, or contains all of its words
 *   (shortcuts on a first message must not fire on a passing word);
 * lenient: most words of the message appear in the phrase (FAQ questions, option titles).
 */
export class PhraseMatcher<T> {
  private items: { phrase: string; toks: string[]; value: T }[];
  private fuse: Fuse<{ phrase: string; toks: string[]; value: T }>;

  constructor(entries: { phrase: string; value: T }[]) {
    this.items = entries
      .map((e) => ({ phrase: normalize(e.phrase), value: e.value }))
      .filter((e) => e.phrase)
      .map((e) => ({ ...e, toks: tokens(e.phrase) }));
    this.fuse = new Fuse(this.items, { keys: ['phrase'], includeScore: true, threshold: 0.3, ignoreLocation: true });
  }

  get size(): number {
    return this.items.length;
  }

  match(text: string, mode: 'strict' | 'lenient'): PhraseMatch<T> | undefined {
    const norm = normalize(text);
    if (!norm || !this.items.length) return undefined;
    for (const it of this.items) if (it.phrase === norm) return { value: it.value, phrase: it.phrase, score: 1 };
    let best: PhraseMatch<T> | undefined;
    // 1. whole-message typos ("were is my ordr"): Fuse, with a length guard so "hi" never matches "shipping"
    if (norm.length <= 64) {
      for (const r of this.fuse.search(norm, { limit: 3 })) {
        const it = this.items[r.refIndex];
        const ratio = norm.length / it.phrase.length;
        const s = 1 - (r.score ?? 1);
        if (ratio >= 0.75 && ratio <= 1.34 && s >= 0.7 && (!best || s > best.score)) best = { value: it.value, phrase: it.phrase, score: s };
      }
    }
    // 2. word overlap ("hi, I'd like to track my order please")
    const mt = tokens(norm);
    for (const it of this.items) {
      const cp = coverage(it.toks, mt);
      const cm = coverage(mt, it.toks);
      let s = 0;
      if (mode === 'strict') {
        if (cp === 1 && (cm >= 0.5 || it.toks.length >= 2)) s = 0.5 + 0.25 * cp + 0.25 * cm;
      } else if (cm >= 0.5 && cp > 0) s = (cp + cm) / 2;
      if (s > 0 && (!best || s > best.score)) best = { value: it.value, phrase: it.phrase, score: s };
    }
    return best;
  }
}

// ------------------------------------------------------------ interruptions

const AGENT_EXACT = new Set(
  [
    'agent', 'an agent', 'human', 'a human', 'person', 'a person', 'real person', 'a real person', 'human agent', 'live agent',
    'operator', 'representative', 'customer service', 'customer support', 'support agent', 'someone', 'somebody',
    'talk to an agent', 'talk to agent', 'talk to a human', 'talk to a person', 'talk to someone', 'talk to somebody',
    'speak to an agent', 'speak to agent', 'speak to a human', 'speak to a person', 'speak to someone', 'speak with someone',
    'chat with an agent', 'chat with a human', 'chat with a person', 'connect me to an agent', 'i want an agent', 'i want a human',
    'i want to talk to someone', 'i want to speak to someone', 'i want to talk to a person', 'i want to talk to an agent',
    'agente', 'humano', 'persona', 'hablar con un agente', 'hablar con una persona',
  ].map(normalize),
);
const AGENT_WORDS = /\b(agents?|humans?|person|persons|people|someone|somebody|representative|operator|staff|employee|agente|humano|persona)\b/;
const AGENT_VERBS = /\b(talk|speak|chat|connect|transfer|put me through|want|need|get me|hablar)\b/;
const AGENT_FUZZY = new PhraseMatcher([...AGENT_EXACT].map((p) => ({ phrase: p, value: true })));

/**
 * True when the customer asks for a human. `strict` (used while the bot waits for free text,
 * e.g. a feedback comment) only accepts a message that is essentially the request itself.
 */
export function isAgentRequest(text: string, strict = false): boolean {
  const n = normalize(text);
  if (!n) return false;
  if (AGENT_EXACT.has(n)) return true;
  const words = n.split(' ').length;
  if (words <= 6) {
    const m = AGENT_FUZZY.match(n, 'strict');
    if (m && m.score >= 0.85 && (!strict || m.score >= 0.9)) return true;
  }
  if (strict) return false;
  if (words <= 12 && AGENT_WORDS.test(n) && AGENT_VERBS.test(n)) return true;
  return words <= 3 && /\b(agent|human|representative|operator)\b/.test(n);
}

const MENU_EXACT = new Set(['menu', 'main menu', 'restart', 'start over', 'back to menu', 'back to the menu', 'go back to menu', 'home', 'show menu', 'menu please'].map(normalize));

export function isMenuRequest(text: string): boolean {
  return MENU_EXACT.has(normalize(text));
}

// ------------------------------------------------------------ options

export interface OptionIndex<O> {
  options: O[];
  byNorm: Map<string, number>;
  matcher: PhraseMatcher<number>;
}

export function buildOptionIndex<O extends { id: string; title: string; match?: string[] }>(options: O[]): OptionIndex<O> {
  const byNorm = new Map<string, number>();
  const phrases: { phrase: string; value: number }[] = [];
  options.forEach((o, i) => {
    for (const p of [o.title, o.id, ...(o.match ?? [])]) {
      const n = normalize(p);
      if (n && !byNorm.has(n)) byNorm.set(n, i);
      phrases.push({ phrase: p, value: i });
    }
  });
  return { options, byNorm, matcher: new PhraseMatcher(phrases) };
}

/** Index of the option the text selects: its number ("2", "2.", "#2", "option 2"), its title, id or a match phrase, fuzzily. */
export function matchOption<O>(idx: OptionIndex<O>, text: string): number | undefined {
  const t = text.trim();
  const num = /^(?:#|no\.?\s*|option\s*|opcion\s*)?(\d{1,2})[.)]?$/i.exec(t);
  if (num) {
    const i = Number(num[1]) - 1;
    if (i >= 0 && i < idx.options.length) return i;
  }
  const n = normalize(t);
  const exact = idx.byNorm.get(n);
  if (exact !== undefined) return exact;
  if (!n) return undefined;
  const m = idx.matcher.match(n, 'lenient');
  return m && m.score >= 0.5 ? m.value : undefined;
}
