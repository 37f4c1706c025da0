// What ticket logic needs from the outside, injected by the composition root
// (gateway/main.ts). tickets/ imports no bot and no specific adapter.

import type { Capabilities, Channel, OutboundContent, TicketChannel } from '../adapters/types.js';
import type { Clock } from '../gateway/clock.js';
import type { Sql } from '../gateway/db/sql.js';
import type { Logger } from '../gateway/log.js';
import type { Effects, EventPublisher } from './events.js';
import type { ConversationRow, MessageRow, TicketRow } from './model.js';
import type { SettingsStore } from './settings.js';

export interface OutboundRequest {
  ticket: TicketRow;
  content: OutboundContent;
  author: 'bot' | 'agent' | 'system';
  authorId?: string;
  /** Sent without a human asking (bot, CSAT, out-of-office): never in answer to automatic mail. */
  automatic?: boolean;
  /**
   * The ticket's conversation as the caller read it during this conversation's turn
   * (saves reading it again). Its window (lastInboundAt) only moves forward, so a copy
   * read a moment ago can only err towards a closed window.
   */
  conversation?: ConversationRow;
}

/** The outbound pipeline, as tickets see it: write a message + outbox row in the caller's transaction. */
export interface OutboundPort {
  /** Throws ApiError 422 (template_required / window_closed) when the channel's rules refuse it. */
  enqueue(tx: Sql, fx: Effects, req: OutboundRequest): Promise<MessageRow>;
  capabilities(channel: TicketChannel, account: string | null): Capabilities | null;
  /** The accounts a channel can send from (configured platform accounts first, the simulator's last); [] when not configured. */
  accounts(channel: Channel): string[];
}

export interface TicketContext {
  sql: Sql;
  clock: Clock;
  settings: SettingsStore;
  outbound: OutboundPort;
  events: EventPublisher;
  log: Logger;
  /** False when the gateway runs without a bot (no CSAT question can be asked). */
  botEnabled?: boolean;
}
