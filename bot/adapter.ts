// A botbuilder BotAdapter for the gateway: it turns a BotTurnInput into an
// Activity + TurnContext, runs the bot logic through botbuilder's middleware
// pipeline, and collects what the bot sends (sendActivities) as OutboundContent
// instead of calling a channel. The gateway's outbound pipeline delivers them.

import { BotAdapter, TurnContext, type Activity, type ConversationReference, type ResourceResponse } from 'botbuilder';
import type { OutboundContent } from '../adapters/types.js';
import type { BotTurnInput } from './port.js';

/** turnState key of the per-turn collector. */
export const COLLECTOR = Symbol('chatgate.collector');

export interface Collector {
  replies: OutboundContent[];
}

/** Builds the activity botbuilder sees for a turn. */
export function toActivity(input: BotTurnInput): Partial<Activity> {
  const base = {
    id: input.turnId,
    channelId: input.channel,
    serviceUrl: 'chatgate://gateway',
    timestamp: new Date(input.now),
    conversation: { id: input.conversationKey, isGroup: false, conversationType: 'personal', name: input.ticketId },
    from: { id: `customer:${input.conversationKey}`, name: input.contact.name ?? undefined, role: 'user' },
    recipient: { id: 'bot', name: 'bot', role: 'bot' },
    channelData: { ticketId: input.ticketId, capabilities: input.capabilities },
  } as Partial<Activity>;
  if (input.message) {
    return { ...base, type: 'message', text: input.message.text, value: input.message.choiceId ? { choiceId: input.message.choiceId } : undefined };
  }
  return { ...base, type: 'event', name: input.startFlow ? 'startFlow' : 'noop', value: input.startFlow };
}

/** The content of an activity the bot sent: channelData.content when set by the flow runtime, else its text. */
export function contentOf(a: Partial<Activity>): OutboundContent | undefined {
  const c = (a.channelData as { content?: OutboundContent } | undefined)?.content;
  if (c) return c;
  if (a.type === 'message' && a.text) return { kind: 'text', text: a.text };
  return undefined;
}

export class GatewayBotAdapter extends BotAdapter {
  async sendActivities(context: TurnContext, activities: Partial<Activity>[]): Promise<ResourceResponse[]> {
    const col = context.turnState.get(COLLECTOR) as Collector | undefined;
    if (!col) throw new Error('GatewayBotAdapter: no collector on this turn');
    return activities.map((a) => {
      const c = contentOf(a);
      if (c) col.replies.push(c);
      return { id: `${context.activity.id}:${col.replies.length}` };
    });
  }

  async updateActivity(): Promise<void> {
    throw new Error('GatewayBotAdapter: updating sent messages is not supported');
  }

  async deleteActivity(): Promise<void> {
    throw new Error('GatewayBotAdapter: deleting sent messages is not supported');
  }

  async continueConversation(_ref: Partial<ConversationReference>, _logic: (ctx: TurnContext) => Promise<void>): Promise<void> {
    // The bot never writes first: proactive turns go through the gateway (startFlow) instead.
    throw new Error('GatewayBotAdapter: proactive messages go through BotPort.turn({startFlow})');
  }

  /** Runs one turn: builds the context, attaches the collector and extra turn state, runs the middleware + logic. */
  async process(
    input: BotTurnInput,
    turnState: Map<symbol, unknown>,
    logic: (ctx: TurnContext) => Promise<void>,
  ): Promise<Collector> {
    const ctx = new TurnContext(this, toActivity(input));
    const col: Collector = { replies: [] };
    ctx.turnState.set(COLLECTOR, col);
    for (const [k, v] of turnState) ctx.turnState.set(k, v);
    await this.runMiddleware(ctx, logic);
    return col;
  }
}
