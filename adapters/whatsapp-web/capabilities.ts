import type { Capabilities } from '../types.js';

/**
 * whatsapp-web.js drives the consumer WhatsApp Web app: no interactive buttons or lists
 * (deprecated there), so choices render as numbered text; no templates and no 24 h window.
 */
export const whatsAppWebCapabilities: Capabilities = {
  maxTextLength: 4096,
  buttons: { max: 0, titleMax: 0 },
  list: { max: 0, titleMax: 0 },
  quickReplies: { max: 0, titleMax: 0 },
  templates: false,
  windowMs: null,
  humanAgentWindowMs: null,
};
