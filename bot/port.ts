// The one narrow port between the gateway and the bot runtime. Nothing outside
// bot/ imports botbuilder: the gateway sees only these types and createBot().

import type { Capabilities, Channel, OutboundContent } from '../adapters/types.js';

export type EscalationCause = 'customer_request' | 'fallback' | 'flow_end' | 'bot_error';

export type BotSignal =
  | { kind: 'escalate'; cause: EscalationCause; reason?: string; team?: string; priority?: 'low' | 'medium' | 'high' | 'urgent' }
  /** The flow finished the customer's request without agents (counts as bot-resolved). */
  | { kind: 'resolved' }
  /** feedback flow: a CSAT rating (1-5) and optional comment to store on the ticket. */
  | { kind: 'rating'; score: number; comment?: string };

export interface BotTurnInput {
  /**
   * Idempotency key of this turn (the inbound record id). Running the same turnId
   * twice (a crash between the bot's state save and the outbox write) must return
   * the same result and not advance the conversation twice.
   */
  turnId: string;
  /** Conversation state key: one bot conversation per ticket. */
  conversationKey: string;
  ticketId: string;
  channel: Channel;
  capabilities: Capabilities;
  /** The customer's message; absent when the gateway starts a flow (handback with flow, CSAT on resolve). */
  message?: { text: string; choiceId?: string };
  /** Start this flow now (handback `{flow}`, `feedback` on resolve) instead of continuing. */
  startFlow?: string;
  contact: { name?: string | null };
  /** Settings that shape the bot (fallbackLimit ...). */
  settings: { fallbackLimit: number };
  now: number;
}

export interface BotTurnResult {
  replies: OutboundContent[];
  signals: BotSignal[];
  /** Flow and node the conversation is at after the turn (for the timeline / misunderstood log). */
  at?: { flow: string; node: string };
}

/** What designers see of the running bot (GET /api/flows...): plain data, no botbuilder types. */
export interface BotDesignerView {
  flows(): { name: string; file: string; hash: string; description?: string; nodes: number; triggers: string[]; loadedAt: number }[];
  problems(): { file: string; line?: number; column?: number; message: string; severity: 'error' | 'warning' }[];
  misunderstood(): Promise<{ flow: string; node: string; text: string; count: number; lastAt: number }[]>;
  reload(): { file: string; line?: number; column?: number; message: string; severity: 'error' | 'warning' }[];
}

export interface BotPort extends Partial<BotDesignerView> {
  turn(input: BotTurnInput): Promise<BotTurnResult>;
  /** Forget a conversation's state (ticket closed). */
  end(conversationKey: string): Promise<void>;
  close?(): Promise<void>;
}
