// The bot runtime behind BotPort: createBot() wires the flow registry, the
// botbuilder adapter, the flow dialog and the versioned state store together.
//
// One turn = read state (with its version) -> run botbuilder's pipeline on a
// TurnContext built from the input -> write state with the version it was read
// at. A version conflict (another process/turn wrote in between) re-runs the turn
// from fresh state, so concurrent turns never lose an update. The last turn's id
// and result are kept in the state: re-running the same turnId returns the same
// result without advancing the conversation.

import { DialogSet, type DialogState } from 'botbuilder-dialogs';
import type { StatePropertyAccessor, TurnContext } from 'botbuilder';
import type { Sql } from '../gateway/db/sql.js';
import type { FlowProblem, FlowSummary } from '../flows/types.js';
import { GatewayBotAdapter } from './adapter.js';
import { ENV, FLOW_DIALOG, FlowDialog, expectsFreeText, parseChoiceId, type ConvState, type TurnEnv } from './dialog.js';
import { isAgentRequest, isMenuRequest, matchOption, normalize } from './match.js';
import type { BotPort, BotTurnInput, BotTurnResult } from './port.js';
import { FlowRegistry, type Logger } from './registry.js';
import type { FlowVersionStore } from './flow-versions.js';
import { MemoryBotStore, RedisBotStore, SqlBotStore, StateConflictError, type BotStore, type MisunderstoodEntry } from './storage.js';

export type { BotPort, BotTurnInput, BotTurnResult, BotSignal, EscalationCause } from './port.js';
export type { FlowSummary, FlowProblem } from '../flows/types.js';
export type { MisunderstoodEntry } from './storage.js';
export { SqlFlowVersionStore, MemoryFlowVersionStore, type FlowVersionStore } from './flow-versions.js';

export type BotStorageOptions =
  | { kind: 'memory' }
  | { kind: 'redis'; url: string; prefix?: string }
  | { kind: 'sql'; sql: Sql; /** default bot_state */ table?: string }
  /** A ready store (tests, custom backends). */
  | { kind: 'custom'; store: BotStore };

export interface CreateBotOptions {
  flowsDir: string;
  storage: BotStorageOptions;
  /** Base URL of the order API (ORDER_API_URL), available to flows as {{config.orderApiUrl}}. */
  orderApiUrl?: string;
  /** Reload flow files when they change (development). */
  watch?: boolean;
  log?: Logger;
  fetch?: typeof fetch;
  /** Attempts of a turn on version conflicts before giving up (default 20). */
  maxAttempts?: number;
  /** Where flow versions are kept so pinned conversations survive restarts (default: this process only). */
  versions?: FlowVersionStore;
}

export interface Bot extends BotPort {
  /** The flows currently loaded. */
  flows(): FlowSummary[];
  /** Inputs the bot did not understand, per flow and node, most frequent first. */
  misunderstood(): Promise<MisunderstoodEntry[]>;
  /** Reloads the flow files now; returns the problems found (invalid files keep their running version). */
  reload(): FlowProblem[];
  /** Problems of the last (re)load. */
  problems(): FlowProblem[];
  /** The stored state of a conversation (variables, position), for tools and tests. */
  inspect(conversationKey: string): Promise<{ vars: Record<string, unknown>; at?: { flow: string; node: string }; handedOff: boolean; stack: { flow: string; node: string }[] } | undefined>;
  close(): Promise<void>;
}

const STATE_PREFIX = 'c:';

function freshState(): ConvState {
  return { vars: {}, pins: {}, fallback: 0, eTag: '0' };
}

const noopLog: Logger = (level, msg) => {
  if (level === 'error' || level === 'warn') console.error(`[bot] ${level}: ${msg}`);
};

export async function createBot(opts: CreateBotOptions): Promise<Bot> {
  const log = opts.log ?? noopLog;
  const versions = opts.versions;
  const registry = new FlowRegistry(opts.flowsDir, log, versions
    ? (v) => void versions.save(v, Date.now()).catch((e) => log('warn', `flow version ${v.name}@${v.hash} not saved: ${(e as Error).message}`))
    : undefined);
  if (versions) registry.restore(await versions.all());
  registry.reload();
  if (!registry.get('welcome')) log('error', `no valid "welcome" flow in ${opts.flowsDir}: first messages will be handed to agents`);
  if (opts.watch) registry.watch();

  let store: BotStore;
  switch (opts.storage.kind) {
    case 'memory':
      store = new MemoryBotStore();
      break;
    case 'redis':
      store = await RedisBotStore.connect(opts.storage.url, opts.storage.prefix);
      break;
    case 'sql':
      store = new SqlBotStore(opts.storage.sql, opts.storage.table);
      break;
    case 'custom':
      store = opts.storage.store;
      break;
  }

  const adapter = new GatewayBotAdapter();
  const accessor: StatePropertyAccessor<DialogState> = {
    async get(ctx: TurnContext, def?: DialogState) {
      const env = ctx.turnState.get(ENV) as TurnEnv;
      if (!env.state.dialog) env.state.dialog = (def ?? { dialogStack: [] }) as ConvState['dialog'];
      return env.state.dialog as DialogState;
    },
    async set(ctx: TurnContext, value: DialogState) {
      (ctx.turnState.get(ENV) as TurnEnv).state.dialog = value as ConvState['dialog'];
    },
    async delete(ctx: TurnContext) {
      delete (ctx.turnState.get(ENV) as TurnEnv).state.dialog;
    },
  };
  const flowDialog = new FlowDialog(registry, log, opts.fetch ?? globalThis.fetch.bind(globalThis));
  const dialogs = new DialogSet(accessor);
  dialogs.add(flowDialog);
  const config = { orderApiUrl: (opts.orderApiUrl ?? '').replace(/\/+$/, '') };
  const maxAttempts = opts.maxAttempts ?? 20;

  /** The bot's logic for one turn (inside botbuilder's middleware pipeline). */
  async function logic(ctx: TurnContext): Promise<void> {
    const env = ctx.turnState.get(ENV) as TurnEnv;
    const { input, state } = env;
    const dc = await dialogs.createContext(ctx);
    try {
      if (input.startFlow) {
        if (!registry.get(input.startFlow)) throw new Error(`unknown flow "${input.startFlow}"`);
        await dc.cancelAllDialogs();
        state.handedOff = false;
        state.fallback = 0;
        state.pins = {};
        await dc.beginDialog(FLOW_DIALOG, { flow: input.startFlow });
        return;
      }
      const msg = input.message;
      if (!msg || (!msg.text?.trim() && !msg.choiceId)) return; // the bot never writes first
      if (state.handedOff) return; // agents have the conversation: stay silent
      const text = msg.text ?? '';

      const top = dc.activeDialog?.state as { flow: string; hash: string; node: string } | undefined;
      const topFlow = top ? registry.version(top.flow, top.hash) : undefined;
      // an exact answer to the current question wins over interruptions ("Someone else", "2")
      const topIdx = top ? topFlow?.options.get(top.node) : undefined;
      const tapped = msg.choiceId ? resolveTap(msg.choiceId) : undefined;
      const exactAnswer = !tapped && topIdx && text && (topIdx.byNorm.has(normalize(text)) || /^\s*\d{1,2}\s*$/.test(text)) && matchOption(topIdx, text) !== undefined;

      if (!exactAnswer && (tapped?.next === '@agent' || (!tapped && isAgentRequest(text, expectsFreeText(topFlow, top?.node))))) {
        await flowDialog.handoff(dc, 'customer_request', topFlow);
      } else if (!exactAnswer && (tapped?.next === '@menu' || (!tapped && isMenuRequest(text)))) {
        await flowDialog.restartMenu(dc);
      } else if (dc.activeDialog) {
        await dc.continueDialog();
      } else {
        // a new episode: tap on an old menu, a shortcut (trigger phrase / FAQ entry), or the welcome menu
        state.pins = {};
        const p = msg.choiceId ? parseChoiceId(msg.choiceId) : undefined;
        if (tapped && p) {
          await dc.beginDialog(FLOW_DIALOG, { flow: p.flow, node: p.node, choice: p.option });
          return;
        }
        const sc = registry.matchShortcut(text);
        if (sc?.faq) {
          const f = registry.get(sc.flow)!;
          state.vars[f.def.faq?.save ?? 'faq'] = { id: sc.faq.id, question: sc.faq.question, answer: sc.faq.answer };
          await dc.beginDialog(FLOW_DIALOG, { flow: sc.flow, node: f.def.faq!.answerNode });
        } else {
          await dc.beginDialog(FLOW_DIALOG, { flow: sc?.flow ?? 'welcome' });
        }
      }
    } catch (err) {
      // a failing turn never leaves the customer unanswered: apologise and hand off
      log('error', `bot turn failed on ${input.conversationKey}: ${(err as Error).message}`, { err, turnId: input.turnId });
      try {
        await dc.cancelAllDialogs();
      } catch {
        state.dialog = { dialogStack: [] };
      }
      const welcome = registry.get('welcome');
      await flowDialog.handoff(dc, 'bot_error', welcome, {
        text: flowDialog.message(welcome, 'botError'),
        reason: String((err as Error).message ?? err).slice(0, 300),
      });
    }
  }

  /** A tapped option id (flow:node:option) resolved against the flow's current version. */
  function resolveTap(id: string): { next: string } | undefined {
    const p = parseChoiceId(id);
    if (!p) return undefined;
    const f = registry.get(p.flow);
    const n = f?.nodes.get(p.node);
    if (n?.type !== 'question') return undefined;
    const o = n.choices?.find((c) => c.id === p.option);
    return o ? { next: o.next } : undefined;
  }

  async function attempt(input: BotTurnInput, key: string): Promise<{ result: BotTurnResult; env?: TurnEnv }> {
    const items = await store.read([key]);
    const state: ConvState = (items[key] as ConvState | undefined) ?? freshState();
    if (state.last && state.last.turnId === input.turnId) return { result: state.last.result as BotTurnResult };
    const env: TurnEnv = { input, state, signals: [], misunderstood: [], config };
    const col = await adapter.process(input, new Map([[ENV, env]]), logic);
    const top = state.dialog?.dialogStack?.[state.dialog.dialogStack.length - 1]?.state as { flow?: string; node?: string } | undefined;
    const at = top?.flow && top.node ? { flow: top.flow, node: top.node } : env.at;
    const result: BotTurnResult = { replies: col.replies, signals: env.signals };
    if (at) result.at = at;
    state.last = { turnId: input.turnId, result };
    await store.write({ [key]: state });
    return { result, env };
  }

  const bot: Bot = {
    async turn(input: BotTurnInput): Promise<BotTurnResult> {
      const key = STATE_PREFIX + input.conversationKey;
      for (let i = 1; ; i++) {
        try {
          const { result, env } = await attempt(input, key);
          if (env?.misunderstood.length) {
            for (const m of env.misunderstood) {
              store.logMisunderstood(m.flow, m.node, m.text, input.now).catch((e) => log('warn', `misunderstood log: ${(e as Error).message}`));
            }
          }
          return result;
        } catch (err) {
          if (!(err instanceof StateConflictError) || i >= maxAttempts) throw err;
          log('debug', `state conflict on ${input.conversationKey}, retrying turn ${input.turnId} (attempt ${i + 1})`);
          // back off a little so the winner's write lands; grows with the attempt number
          await new Promise((r) => setTimeout(r, Math.random() * 2 * i));
        }
      }
    },
    async end(conversationKey: string): Promise<void> {
      await store.delete([STATE_PREFIX + conversationKey]);
    },
    flows: () => registry.summaries(),
    misunderstood: () => store.listMisunderstood(),
    reload: () => registry.reload(),
    problems: () => registry.lastProblems,
    async inspect(conversationKey: string) {
      const items = await store.read([STATE_PREFIX + conversationKey]);
      const s = items[STATE_PREFIX + conversationKey] as ConvState | undefined;
      if (!s) return undefined;
      const stack = (s.dialog?.dialogStack ?? []).map((d: any) => ({ flow: d.state?.flow, node: d.state?.node }));
      return { vars: s.vars, at: stack[stack.length - 1], handedOff: !!s.handedOff, stack };
    },
    async close(): Promise<void> {
      registry.close();
      await store.close();
    },
  };
  return bot;
}
