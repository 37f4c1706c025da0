import type { Capabilities } from '../types.js';

const HOUR = 60 * 60 * 1000;

/** WhatsApp Cloud API: what a message may hold and when free-form messages may go out. */
export const whatsAppCloudCapabilities: Capabilities = {
  maxTextLength: 4096,
  buttons: { max: 3, titleMax: 20 },
  list: { max: 10, titleMax: 24 },
  quickReplies: { max: 0, titleMax: 0 },
  templates: true,
  windowMs: 24 * HOUR,
  humanAgentWindowMs: null,
};

/** Limits of interactive messages that Capabilities does not name. */
export const WHATSAPP_LIMITS = {
  /** body.text of an interactive message. */
  interactiveBody: 1024,
  /** action.button of a list message. */
  listButtonLabel: 20,
  listRowDescription: 72,
  /** Caption of image / video / document. */
  caption: 1024,
} as const;
