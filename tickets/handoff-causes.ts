// Why a conversation went from the bot to agents (SPEC §3.3); mirrors bot/port.ts.
export type EscalationCause = 'customer_request' | 'fallback' | 'flow_end' | 'bot_error';
export const HANDOFF_CAUSES = ['customer_request', 'fallback', 'flow_end', 'bot_error', 'takeover'] as const;
