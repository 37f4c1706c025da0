// What the email channel can carry, apart from the adapter: the gateway needs this at startup
// even when email is off, without loading nodemailer / imapflow / mailparser (send.ts).
import type { Capabilities } from '../types.js';

export const EMAIL_CAPABILITIES: Capabilities = {
  maxTextLength: 1_000_000,
  buttons: { max: 0, titleMax: 0 },
  list: { max: 0, titleMax: 0 },
  quickReplies: { max: 0, titleMax: 0 },
  templates: false,
  windowMs: null,
  humanAgentWindowMs: null,
};
