// Scripted conversation tests for flows (flows/tests/*.yaml), run by
// `flows test` and by mocha (test/flows/). A file holds conversations; each step
// is what the customer does and what the bot must answer:
//
//   orderApiUrl: https://orders.test            # {{config.orderApiUrl}} (default https://orders.test)
//   http:                                       # mocked HTTP calls of the flows (nothing else is reachable)
//     - { method: GET, url: https://orders.test/orders/A1234, status: 200, body: { status: shipped } }
//   conversations:
//     - name: known order
//       channel: whatsapp                       # whatsapp | instagram | email (default whatsapp)
//       contact: Ana                            # contact name (optional)
//       fallbackLimit: 2                        # settings (optional)
//       steps:
//         - say: where is my order              # or `tap: Order status` (an option of the last menu, by title or number)
//           reply: order number                 # each expected text (substring, or /regex/) must appear in a reply, in order
//         - say: A1234
//           reply: [Order A1234 is shipped]
//           choices: [Yes, No]                  # titles of the last menu sent in this step
//           signals: [resolved]                 # signal kinds expected in this step
//           escalate: flow_end                  # the turn hands off with this cause (false: must not escalate)
//           rating: 5                           # a rating signal with this score
//           vars: { orderNumber: A1234 }        # conversation variables after the step
//           at: order-status/answer             # flow/node after the step
//           silent: true                        # no replies at all
//         - start: feedback                     # the gateway starts a flow (handback / CSAT)

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse } from 'yaml';
import type { Capabilities, Channel, OutboundContent } from '../adapters/types.js';
import { createBot, type Bot } from '../bot/index.js';
import type { BotTurnResult } from '../bot/port.js';

export const CHANNEL_CAPABILITIES: Record<Channel, Capabilities> = {
  whatsapp: { maxTextLength: 4096, buttons: { max: 3, titleMax: 20 }, list: { max: 10, titleMax: 24 }, quickReplies: { max: 0, titleMax: 0 }, templates: true, windowMs: 24 * 3600e3, humanAgentWindowMs: null },
  instagram: { maxTextLength: 1000, buttons: { max: 0, titleMax: 0 }, list: { max: 0, titleMax: 0 }, quickReplies: { max: 13, titleMax: 20 }, templates: false, windowMs: 24 * 3600e3, humanAgentWindowMs: 7 * 24 * 3600e3 },
  email: { maxTextLength: 100000, buttons: { max: 0, titleMax: 0 }, list: { max: 0, titleMax: 0 }, quickReplies: { max: 0, titleMax: 0 }, templates: false, windowMs: null, humanAgentWindowMs: null },
};

export interface HttpMock {
  method?: string;
  url: string;
  status?: number;
  body?: unknown;
  /** Simulate a network error with this message. */
  error?: string;
}

export interface Step {
  say?: string;
  tap?: string | number;
  start?: string;
  reply?: string | string[];
  choices?: string[];
  signals?: string[];
  escalate?: string | false;
  rating?: number;
  vars?: Record<string, unknown>;
  at?: string;
  silent?: boolean;
}

export interface Conversation {
  name: string;
  channel?: Channel;
  contact?: string;
  fallbackLimit?: number;
  steps: Step[];
}

export interface TestFile {
  orderApiUrl?: string;
  http?: HttpMock[];
  conversations: Conversation[];
}

export interface ConversationResult {
  file: string;
  name: string;
  ok: boolean;
  failures: string[];
  transcript: string[];
}

export function mockFetch(mocks: HttpMock[]): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    const u = String(url instanceof Request ? url.url : url);
    const method = (init?.method ?? 'GET').toUpperCase();
    const m = mocks.find((x) => x.url === u && (x.method ?? 'GET').toUpperCase() === method);
    if (!m) throw new TypeError(`fetch failed: no mock for ${method} ${u}`);
    if (m.error) throw new TypeError(m.error);
    const body = m.body === undefined ? '' : typeof m.body === 'string' ? m.body : JSON.stringify(m.body);
    return new Response(body, { status: m.status ?? 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

export function describeContent(c: OutboundContent): string {
  switch (c.kind) {
    case 'text':
      return c.text;
    case 'choice':
      return `${c.text} ${c.options.map((o, i) => `[${i + 1}. ${o.title}]`).join(' ')}`;
    case 'template':
      return `(template ${c.name})`;
    case 'media':
      return `(media ${c.media.type}) ${c.text ?? ''}`;
  }
}

function textMatches(expected: string, actual: string): boolean {
  const re = /^\/(.*)\/([a-z]*)$/s.exec(expected);
  if (re) return new RegExp(re[1], re[2] || 'i').test(actual);
  return actual.toLowerCase().includes(expected.toLowerCase());
}

function deepMatch(expected: unknown, actual: unknown): boolean {
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    return Object.entries(expected as Record<string, unknown>).every(([k, v]) => deepMatch(v, (actual as Record<string, unknown>)[k]));
  }
  return expected === actual || String(expected) === String(actual);
}

export function readTestFile(path: string): TestFile {
  const data = parse(readFileSync(path, 'utf8')) as TestFile;
  if (!data || !Array.isArray(data.conversations)) throw new Error(`${path}: a test file needs a "conversations" list`);
  return data;
}

export async function runConversation(bot: Bot, conv: Conversation, file = ''): Promise<ConversationResult> {
  const failures: string[] = [];
  const transcript: string[] = [];
  const key = `test:${basename(file)}:${conv.name}:${Math.random().toString(36).slice(2)}`;
  const channel = conv.channel ?? 'whatsapp';
  let lastChoice: Extract<OutboundContent, { kind: 'choice' }> | undefined;
  let n = 0;
  for (const [i, step] of conv.steps.entries()) {
    const where = `step ${i + 1}`;
    let message: { text: string; choiceId?: string } | undefined;
    if (step.say !== undefined) message = { text: String(step.say) };
    else if (step.tap !== undefined) {
      const opts = lastChoice?.options ?? [];
      const o = typeof step.tap === 'number' ? opts[step.tap - 1] : opts.find((x) => x.title.toLowerCase() === String(step.tap).toLowerCase());
      if (!o) {
        failures.push(`${where}: no option "${step.tap}" in the last menu (${opts.map((x) => x.title).join(', ') || 'none'})`);
        break;
      }
      message = { text: o.title, choiceId: o.id };
    }
    transcript.push(step.start ? `  (start ${step.start})` : `customer: ${message?.text ?? ''}`);
    let res: BotTurnResult;
    try {
      res = await bot.turn({
        turnId: `${key}:${n++}`,
        conversationKey: key,
        ticketId: 'TEST',
        channel,
        capabilities: CHANNEL_CAPABILITIES[channel],
        message,
        startFlow: step.start,
        contact: { name: conv.contact ?? null },
        settings: { fallbackLimit: conv.fallbackLimit ?? 2 },
        now: Date.now(),
      });
    } catch (e) {
      failures.push(`${where}: turn threw ${(e as Error).message}`);
      break;
    }
    const texts = res.replies.map(describeContent);
    for (const t of texts) transcript.push(`bot: ${t}`);
    for (const s of res.signals) transcript.push(`  (signal ${JSON.stringify(s)})`);
    const choice = [...res.replies].reverse().find((r) => r.kind === 'choice') as typeof lastChoice;
    if (choice) lastChoice = choice;

    if (step.reply !== undefined) {
      let from = 0;
      for (const exp of ([] as string[]).concat(step.reply)) {
        const k = texts.findIndex((t, j) => j >= from && textMatches(String(exp), t));
        if (k < 0) failures.push(`${where}: expected a reply matching "${exp}", got ${JSON.stringify(texts.slice(from))}`);
        else from = k + 1;
      }
    }
    if (step.choices) {
      const got = choice?.options.map((o) => o.title) ?? [];
      if (JSON.stringify(got) !== JSON.stringify(step.choices)) failures.push(`${where}: expected menu ${JSON.stringify(step.choices)}, got ${JSON.stringify(got)}`);
    }
    if (step.silent && res.replies.length) failures.push(`${where}: expected no reply, got ${JSON.stringify(texts)}`);
    if (step.silent === false && !res.replies.length) failures.push(`${where}: expected a reply, got none`);
    const esc = res.signals.find((s) => s.kind === 'escalate');
    if (step.escalate === false && esc) failures.push(`${where}: expected no handoff, got ${JSON.stringify(esc)}`);
    else if (typeof step.escalate === 'string' && (!esc || esc.kind !== 'escalate' || esc.cause !== step.escalate))
      failures.push(`${where}: expected handoff with cause ${step.escalate}, got ${esc ? JSON.stringify(esc) : 'none'}`);
    for (const k of step.signals ?? []) if (!res.signals.some((s) => s.kind === k)) failures.push(`${where}: expected signal ${k}, got ${JSON.stringify(res.signals)}`);
    if (step.rating !== undefined) {
      const r = res.signals.find((s) => s.kind === 'rating');
      if (!r || r.kind !== 'rating' || r.score !== step.rating) failures.push(`${where}: expected rating ${step.rating}, got ${JSON.stringify(r ?? null)}`);
    }
    if (step.vars || step.at) {
      const st = await bot.inspect(key);
      if (step.vars) for (const [k, v] of Object.entries(step.vars)) if (!deepMatch(v, st?.vars[k])) failures.push(`${where}: expected variable ${k} = ${JSON.stringify(v)}, got ${JSON.stringify(st?.vars[k])}`);
      if (step.at) {
        const at = res.at ? `${res.at.flow}/${res.at.node}` : '(none)';
        if (at !== step.at) failures.push(`${where}: expected to be at ${step.at}, got ${at}`);
      }
    }
  }
  return { file, name: conv.name, ok: failures.length === 0, failures, transcript };
}

/** Runs every conversation of a test file on a fresh memory-storage bot. */
export async function runTestFile(path: string, flowsDir: string): Promise<ConversationResult[]> {
  const tf = readTestFile(path);
  const bot = await createBot({
    flowsDir,
    storage: { kind: 'memory' },
    orderApiUrl: tf.orderApiUrl ?? 'https://orders.test',
    fetch: mockFetch(tf.http ?? []),
    log: () => {},
  });
  try {
    const out: ConversationResult[] = [];
    for (const conv of tf.conversations) out.push(await runConversation(bot, conv, path));
    return out;
  } finally {
    await bot.close();
  }
}
