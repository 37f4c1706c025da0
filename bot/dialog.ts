// The flow interpreter: ONE botbuilder-dialogs Dialog that walks a flow graph.
// Each flow instance on botbuilder's dialog stack is this dialog with
// {flow, hash, node, attempts} as its instance state, so sub-flow calls are
// dc.beginDialog (return = dc.endDialog -> resumeDialog of the caller), jumps to
// another flow are dc.replaceDialog, and a handoff or a restart is cancelAllDialogs.
// The dialog keeps no per-conversation data itself: one instance serves every turn.

import { Dialog, DialogTurnStatus, type DialogContext, type DialogReason, type DialogTurnResult } from 'botbuilder-dialogs';
import type { OutboundContent } from '../adapters/types.js';
import type { Condition, EndNode, FlowNode, HttpNode, InputDef, QuestionNode } from '../flows/types.js';
import { isAgentRequest, matchOption, normalize } from './match.js';
import type { BotSignal, BotTurnInput, EscalationCause } from './port.js';
import type { CompiledFlow, FlowRegistry, Logger } from './registry.js';
import { lookup, render, renderValue } from './template.js';

export const FLOW_DIALOG = 'flow';
/** turnState key of the TurnEnv. */
export const ENV = Symbol('chatgate.env');

export const DEFAULT_MESSAGES = {
  handoff: "I'm connecting you with one of our agents. They'll reply here as soon as possible.",
  botError: "Sorry, something went wrong on our side. I'm passing you to one of our agents.",
  notUnderstood: "Sorry, I didn't get that.",
  staleChoice: 'That option belongs to an earlier menu.',
};

/** The persisted conversation state (one StoreItem per conversation). */
export interface ConvState {
  dialog?: { dialogStack: any[] };
  vars: Record<string, unknown>;
  /** Flow versions (content hashes) this conversation episode runs on. */
  pins: Record<string, string>;
  /** Consecutive inputs not understood. */
  fallback: number;
  /** Handed off to agents: the bot stays silent until a startFlow or end(). */
  handedOff?: boolean;
  last?: { turnId: string; result: unknown };
  eTag?: string;
}

export interface TurnEnv {
  input: BotTurnInput;
  state: ConvState;
  signals: BotSignal[];
  misunderstood: { flow: string; node: string; text: string }[];
  at?: { flow: string; node: string };
  config: Record<string, unknown>;
}

export interface FlowOptions {
  flow: string;
  node?: string;
  /** Apply this option id at `node` right away (a tap on a menu of an ended conversation). */
  choice?: string;
}

interface FlowStep {
  flow: string;
  hash: string;
  node: string;
  attempts: number;
}

export function envOf(dc: DialogContext): TurnEnv {
  return dc.context.turnState.get(ENV) as TurnEnv;
}

export function choiceId(flow: string, node: string, option: string): string {
  return `${flow}:${node}:${option}`;
}

export function parseChoiceId(id: string): { flow: string; node: string; option: string } | undefined {
  const p = id.split(':');
  return p.length === 3 && p.every(Boolean) ? { flow: p[0], node: p[1], option: p[2] } : undefined;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/;

export function validateInput(def: InputDef, text: string, re?: RegExp): { ok: true; value: unknown } | { ok: false } {
  const t = text.trim();
  if (!t) return { ok: false };
  switch (def.type) {
    case 'text': {
      if (t.length < (def.minLength ?? 1) || t.length > (def.maxLength ?? 2000)) return { ok: false };
      return { ok: true, value: t };
    }
    case 'number': {
      const m = /^[-+]?\d+(?:[.,]\d+)?$/.exec(t.replace(/\s/g, ''));
      if (!m) return { ok: false };
      const v = Number(m[0].replace(',', '.'));
      if ((def.min !== undefined && v < def.min) || (def.max !== undefined && v > def.max)) return { ok: false };
      return { ok: true, value: v };
    }
    case 'email':
      return EMAIL.test(t) ? { ok: true, value: t.toLowerCase() } : { ok: false };
    case 'phone': {
      const p = t.replace(/[\s().-]/g, '');
      return /^\+?\d{7,15}$/.test(p) ? { ok: true, value: p } : { ok: false };
    }
    case 'regex':
      return re && re.test(t) ? { ok: true, value: t } : { ok: false };
    default:
      return { ok: false };
  }
}

function evalCondition(c: Condition, ctx: Record<string, unknown>): boolean {
  if ('all' in c) return c.all.every((x) => evalCondition(x, ctx));
  if ('any' in c) return c.any.some((x) => evalCondition(x, ctx));
  if ('not' in c) return !evalCondition(c.not, ctx);
  const v = lookup(ctx, c.var);
  const want = typeof c.value === 'string' ? render(c.value, ctx) : c.value;
  const num = (x: unknown) => (typeof x === 'number' ? x : Number(x));
  switch (c.op) {
    case 'eq':
      return v === want || (v != null && want != null && String(v) === String(want));
    case 'ne':
      return !(v === want || (v != null && want != null && String(v) === String(want)));
    case 'gt':
      return num(v) > num(want);
    case 'gte':
      return num(v) >= num(want);
    case 'lt':
      return num(v) < num(want);
    case 'lte':
      return num(v) <= num(want);
    case 'in':
      return Array.isArray(want) && want.some((w) => String(w) === String(v));
    case 'contains':
      return Array.isArray(v) ? v.some((x) => String(x) === String(want)) : String(v ?? '').toLowerCase().includes(String(want ?? '').toLowerCase());
    case 'matches':
      try {
        return new RegExp(String(want), 'i').test(String(v ?? ''));
      } catch {
        return false;
      }
    case 'exists':
      return v !== undefined && v !== null;
    case 'empty':
      return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
  }
}

export class FlowDialog extends Dialog<FlowOptions> {
  constructor(
    private registry: FlowRegistry,
    private log: Logger,
    private fetchFn: typeof fetch,
  ) {
    super(FLOW_DIALOG);
  }

  // ------------------------------------------------------------ dialog protocol

  override async beginDialog(dc: DialogContext, options?: FlowOptions): Promise<DialogTurnResult> {
    if (!options?.flow) throw new Error('flow dialog started without a flow');
    const env = envOf(dc);
    const flow = this.resolve(env, options.flow);
    const st = dc.activeDialog!.state as FlowStep;
    st.flow = flow.name;
    st.hash = flow.hash;
    st.attempts = 0;
    const start = options.node ?? flow.def.start;
    if (options.choice) {
      const node = flow.nodes.get(start);
      if (node?.type === 'question') {
        st.node = start;
        env.at = { flow: flow.name, node: start };
        return this.answer(dc, st, flow, node, { text: '', choiceId: choiceId(flow.name, start, options.choice) });
      }
    }
    return this.run(dc, st, flow, start);
  }

  override async continueDialog(dc: DialogContext): Promise<DialogTurnResult> {
    const env = envOf(dc);
    const st = dc.activeDialog!.state as FlowStep;
    const flow = this.version(st);
    const node = flow.nodes.get(st.node);
    if (node?.type !== 'question') {
      // the node vanished (a restart lost the old version and the new one has no such node)
      this.log('warn', `conversation ${env.input.conversationKey}: node ${st.flow}/${st.node} no longer exists; restarting the flow`);
      return this.run(dc, st, flow, flow.def.start);
    }
    env.at = { flow: flow.name, node: node.id };
    return this.answer(dc, st, flow, node, env.input.message ?? { text: '' });
  }

  override async resumeDialog(dc: DialogContext, _reason: DialogReason, _result?: unknown): Promise<DialogTurnResult> {
    // a sub-flow called from a `call` node returned
    const st = dc.activeDialog!.state as FlowStep;
    const flow = this.version(st);
    const node = flow.nodes.get(st.node);
    return this.run(dc, st, flow, node?.type === 'call' ? node.next : undefined);
  }

  // ------------------------------------------------------------ helpers

  private resolve(env: TurnEnv, name: string): CompiledFlow {
    const pinned = env.state.pins[name];
    const f = pinned ? this.registry.version(name, pinned) : this.registry.get(name);
    if (!f) throw new Error(`unknown flow "${name}"`);
    env.state.pins[name] = f.hash;
    return f;
  }

  private version(st: FlowStep): CompiledFlow {
    const f = this.registry.version(st.flow, st.hash);
    if (!f) throw new Error(`unknown flow "${st.flow}"`);
    return f;
  }

  ctx(env: TurnEnv): Record<string, unknown> {
    return {
      ...env.state.vars,
      vars: env.state.vars,
      contact: { name: env.input.contact.name ?? '' },
      channel: env.input.channel,
      ticketId: env.input.ticketId,
      config: env.config,
    };
  }

  message(flow: CompiledFlow | undefined, key: keyof typeof DEFAULT_MESSAGES): string {
    return flow?.def.messages?.[key] ?? this.registry.get('welcome')?.def.messages?.[key] ?? DEFAULT_MESSAGES[key];
  }

  private async send(dc: DialogContext, content: OutboundContent): Promise<void> {
    await dc.context.sendActivity({ type: 'message', text: 'text' in content ? content.text : '', channelData: { content } });
  }

  private prompt(env: TurnEnv, flow: CompiledFlow, node: QuestionNode, text?: string): OutboundContent {
    const t = render(text ?? node.text, this.ctx(env));
    if (!node.choices) return { kind: 'text', text: t };
    const content: OutboundContent = {
      kind: 'choice',
      text: t,
      options: node.choices.map((c) => ({
        id: choiceId(flow.name, node.id, c.id),
        title: render(c.title, this.ctx(env)),
        ...(c.description ? { description: c.description } : {}),
      })),
    };
    if (node.buttonLabel) content.buttonLabel = node.buttonLabel;
    return content;
  }

  /** Hands the conversation to agents: handoff message, escalate signal, stack cleared, bot silent afterwards. */
  async handoff(dc: DialogContext, cause: EscalationCause, flow: CompiledFlow | undefined, extra: { reason?: string; team?: string; priority?: EndNode['priority']; text?: string } = {}): Promise<DialogTurnResult> {
    const env = envOf(dc);
    const text = extra.text ?? this.message(flow, 'handoff');
    await this.send(dc, { kind: 'text', text: render(text, this.ctx(env)) });
    const sig: BotSignal = { kind: 'escalate', cause };
    if (extra.reason) sig.reason = extra.reason;
    if (extra.team) sig.team = extra.team;
    if (extra.priority) sig.priority = extra.priority;
    env.signals.push(sig);
    env.state.handedOff = true;
    env.state.fallback = 0;
    await dc.cancelAllDialogs();
    return { status: DialogTurnStatus.complete };
  }

  async restartMenu(dc: DialogContext): Promise<DialogTurnResult> {
    const env = envOf(dc);
    await dc.cancelAllDialogs();
    env.state.pins = {};
    env.state.fallback = 0;
    return dc.beginDialog(FLOW_DIALOG, { flow: 'welcome' });
  }

  // ------------------------------------------------------------ walking the graph

  private async run(dc: DialogContext, st: FlowStep, flow: CompiledFlow, target: string | undefined): Promise<DialogTurnResult> {
    const env = envOf(dc);
    for (let steps = 0; ; steps++) {
      if (steps > 200) throw new Error(`flow ${flow.name}: more than 200 steps without waiting for the customer (a loop?)`);
      if (target === undefined || target === '@end') return dc.endDialog();
      if (target === '@agent') return this.handoff(dc, 'customer_request', flow);
      if (target === '@menu') return this.restartMenu(dc);
      const node: FlowNode | undefined = flow.nodes.get(target);
      if (!node) throw new Error(`flow ${flow.name}: node "${target}" does not exist`);
      st.node = node.id;
      st.attempts = 0;
      env.at = { flow: flow.name, node: node.id };
      switch (node.type) {
        case 'message':
          await this.send(dc, { kind: 'text', text: render(node.text, this.ctx(env)) });
          target = node.next;
          break;
        case 'question':
          await this.send(dc, this.prompt(env, flow, node));
          return Dialog.EndOfTurn;
        case 'set': {
          const ctx = this.ctx(env);
          for (const [k, v] of Object.entries(node.set)) env.state.vars[k] = renderValue(v, ctx);
          target = node.next;
          break;
        }
        case 'condition': {
          const ctx = this.ctx(env);
          target = node.branches.find((b) => evalCondition(b.when, ctx))?.next ?? node.else;
          break;
        }
        case 'http':
          target = await this.http(env, flow, node);
          break;
        case 'jump':
          if (node.flow) return dc.replaceDialog(FLOW_DIALOG, { flow: node.flow, node: node.node });
          target = node.node;
          break;
        case 'call':
          return dc.beginDialog(FLOW_DIALOG, { flow: node.flow, node: node.node });
        case 'end':
          return this.end(dc, flow, node);
      }
    }
  }

  private async end(dc: DialogContext, flow: CompiledFlow, node: EndNode): Promise<DialogTurnResult> {
    const env = envOf(dc);
    const ctx = this.ctx(env);
    if (node.rating) {
      const score = Number(render(node.rating.score, ctx));
      if (Number.isInteger(score) && score >= 1 && score <= 5) {
        const comment = node.rating.comment ? render(node.rating.comment, ctx).trim() : '';
        env.signals.push(comment ? { kind: 'rating', score, comment } : { kind: 'rating', score });
      } else this.log('warn', `flow ${flow.name}/${node.id}: rating score "${score}" is not 1-5; no rating signal`);
    }
    if (node.escalate) {
      return this.handoff(dc, 'flow_end', flow, {
        text: node.text,
        reason: node.reason ? render(node.reason, ctx) : `${flow.name}/${node.id}`,
        team: node.team,
        priority: node.priority,
      });
    }
    if (node.text) await this.send(dc, { kind: 'text', text: render(node.text, ctx) });
    if (node.resolved) env.signals.push({ kind: 'resolved' });
    return dc.endDialog({ end: node.id });
  }

  private async http(env: TurnEnv, flow: CompiledFlow, node: HttpNode): Promise<string> {
    const ctx = this.ctx(env);
    const url = render(node.url, ctx, encodeURIComponent);
    const method = node.method ?? 'GET';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(node.headers ?? {})) headers[k] = render(v, ctx);
    let body: string | undefined;
    if (node.body !== undefined && method !== 'GET') {
      if (typeof node.body === 'string') body = render(node.body, ctx);
      else {
        body = JSON.stringify(renderValue(node.body, ctx));
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
    }
    const fail = (status: number, error: string): string => {
      if (node.save) env.state.vars[node.save] = { status, ok: false, error };
      if (node.failure) {
        this.log('warn', `flow ${flow.name}/${node.id}: ${method} ${url} failed: ${error}`);
        return node.failure;
      }
      throw new Error(`flow ${flow.name}/${node.id}: ${method} ${url} failed: ${error}`);
    };
    if (!/^https?:\/\/[^/]/i.test(url)) return fail(0, `invalid URL "${url}"`);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(url, { method, headers, body, signal: AbortSignal.timeout(node.timeout ?? 5000) });
      text = await res.text();
    } catch (e) {
      const err = e as Error;
      return fail(0, err.name === 'TimeoutError' ? `timeout after ${node.timeout ?? 5000} ms` : err.message);
    }
    let parsed: unknown = text;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        /* text body */
      }
    }
    if (node.save) env.state.vars[node.save] = { status: res.status, ok: res.ok, body: parsed };
    const specific = node.on?.[String(res.status)];
    if (specific) return specific;
    if (res.ok) return node.success;
    return fail(res.status, `HTTP ${res.status}`);
  }

  // ------------------------------------------------------------ answers to questions

  private async answer(dc: DialogContext, st: FlowStep, flow: CompiledFlow, node: QuestionNode, msg: { text: string; choiceId?: string }): Promise<DialogTurnResult> {
    const env = envOf(dc);
    const idx = flow.options.get(node.id);
    let opt: number | undefined;
    if (msg.choiceId) {
      const p = parseChoiceId(msg.choiceId);
      if (p && p.flow === flow.name && p.node === node.id && idx) {
        const i = idx.options.findIndex((o) => o.id === p.option);
        if (i >= 0) opt = i;
      }
      if (opt === undefined && p) {
        // a tap on an option of an earlier menu: say so and ask the current question again (not a misunderstanding)
        await this.send(dc, this.prompt(env, flow, node, `${this.message(flow, 'staleChoice')} ${node.text}`));
        return Dialog.EndOfTurn;
      }
    }
    if (opt === undefined && idx && msg.text) opt = matchOption(idx, msg.text);
    if (opt !== undefined) {
      const o = idx!.options[opt];
      if (node.save) env.state.vars[node.save] = o.value !== undefined ? o.value : o.id;
      env.state.fallback = 0;
      return this.run(dc, st, flow, o.next);
    }
    if (node.input && msg.text) {
      if (node.input.type === 'faq') {
        const m = flow.faq?.match(msg.text, 'lenient');
        if (m && m.score >= 0.5) {
          const entry = { id: m.value.id, question: m.value.question, answer: m.value.answer };
          env.state.vars[flow.def.faq?.save ?? 'faq'] = entry;
          if (node.save) env.state.vars[node.save] = entry;
          env.state.fallback = 0;
          return this.run(dc, st, flow, node.next ?? flow.def.faq?.answerNode);
        }
      } else {
        const v = validateInput(node.input, msg.text, flow.regex.get(node.id));
        if (v.ok) {
          if (node.save) env.state.vars[node.save] = v.value;
          env.state.fallback = 0;
          return this.run(dc, st, flow, node.next);
        }
      }
    }
    return this.notUnderstood(dc, st, flow, node, msg.text);
  }

  private async notUnderstood(dc: DialogContext, st: FlowStep, flow: CompiledFlow, node: QuestionNode, text: string): Promise<DialogTurnResult> {
    const env = envOf(dc);
    env.misunderstood.push({ flow: flow.name, node: node.id, text });
    st.attempts++;
    env.state.fallback++;
    const limit = node.retry?.limit;
    if (node.retry?.failure) {
      if (st.attempts >= (limit ?? env.input.settings.fallbackLimit)) {
        env.state.fallback = 0;
        return this.run(dc, st, flow, node.retry.failure);
      }
    } else if (env.state.fallback >= Math.max(1, env.input.settings.fallbackLimit) || (limit !== undefined && st.attempts >= limit)) {
      return this.handoff(dc, 'fallback', flow, { reason: `not understood ${env.state.fallback}x at ${flow.name}/${node.id}` });
    }
    const retry = node.retry?.prompt ?? `${this.message(flow, 'notUnderstood')} ${node.text}`;
    await this.send(dc, this.prompt(env, flow, node, retry));
    return Dialog.EndOfTurn;
  }
}

/** True when the customer is answering a free-text question (agent requests must then be explicit). */
export function expectsFreeText(flow: CompiledFlow | undefined, nodeId: string | undefined): boolean {
  const n = nodeId ? flow?.nodes.get(nodeId) : undefined;
  return n?.type === 'question' && !!n.input && (n.input.type === 'text' || n.input.type === 'faq');
}

export { isAgentRequest, normalize };
