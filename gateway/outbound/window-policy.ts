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
