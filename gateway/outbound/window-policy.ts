// Channel rules for outbound messages (SPEC §3.7), read from the adapter's capabilities:
// free-form within the window after the customer's last inbound message; WhatsApp
// templates outside it; Instagram agents up to 7 days with HUMAN_AGENT; email always.

import type { Capabilities, OutboundContent } from '../../adapters/types.js';

export type WindowDecision =
  | { allowed: true; tag?: 'HUMAN_AGENT' }
  | { allowed: false; code: 'template_required' | 'window_closed'; message: string };

export function decideWindow(
  caps: Capabilities,
  lastInboundAt: number | null,
  now: number,
  author: 'bot' | 'agent' | 'system',
  content: OutboundContent,
): WindowDecision {
  if (caps.windowMs === null) return { allowed: true };
  if (content.kind === 'template') {
    return caps.templates ? { allowed: true } : { allowed: false, code: 'window_closed', message: 'this channel has no templates' };
  }
  const age = lastInboundAt === null ? Infinity : now - lastInboundAt;
  if (age <= caps.windowMs) return { allowed: true };
  // Bot messages never use the human-agent extension.
  if (author === 'agent' && caps.humanAgentWindowMs !== null && age <= caps.humanAgentWindowMs) return { allowed: true, tag: 'HUMAN_AGENT' };
  if (caps.templates) {
    return {
      allowed: false,
      code: 'template_required',
      message: lastInboundAt === null
        ? 'the customer has not written yet: only an approved template can start the conversation'
        : `the customer's last message is older than ${caps.windowMs / 3_600_000} hours: only an approved template can be sent`,
    };
  }
  const limit = author === 'agent' && caps.humanAgentWindowMs !== null ? caps.humanAgentWindowMs : caps.windowMs;
  return {
    allowed: false,
    code: 'window_closed',
    message: `the customer's last message is older than ${Math.round(limit / 3_600_000)} hours: the platform allows no more messages until they write again`,
  };
}

/** What the inbox composer shows: until when free-form / HUMAN_AGENT messages may go, and what is needed after. */
export interface WindowInfo {
  /** ISO time the free-form window ends; null when the channel has no window or the customer never wrote. */
  freeFormUntil: string | null;
  /** ISO time agents' HUMAN_AGENT-tagged messages stop being allowed (Instagram); null when the channel has none. */
  humanAgentUntil: string | null;
  /** Only an approved template may go out now (WhatsApp outside 24 h). */
  templateRequired: boolean;
  /** Nothing may go out until the customer writes again (Instagram beyond 7 days). */
  closed: boolean;
}

/** The window an agent sees, from the same capabilities and rules decideWindow applies. */
export function windowInfo(caps: Capabilities, lastInboundAt: number | null, now: number): WindowInfo {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  if (caps.windowMs === null) return { freeFormUntil: null, humanAgentUntil: null, templateRequired: false, closed: false };
  const agent = decideWindow(caps, lastInboundAt, now, 'agent', { kind: 'text', text: '' });
  const freeFormUntil = lastInboundAt === null ? null : lastInboundAt + caps.windowMs;
  const humanAgentUntil = lastInboundAt === null || caps.humanAgentWindowMs === null ? null : lastInboundAt + caps.humanAgentWindowMs;
  return {
    freeFormUntil: iso(freeFormUntil),
    humanAgentUntil: iso(humanAgentUntil),
    templateRequired: !agent.allowed && agent.code === 'template_required',
    closed: !agent.allowed && agent.code === 'window_closed',
  };
}
