import type { Capabilities } from '../types.js';

const HOUR = 60 * 60 * 1000;

/** Instagram messaging: 24 h window, agents up to 7 days with the HUMAN_AGENT tag, no templates. */
export const instagramCapabilities: Capabilities = {
  maxTextLength: 1000,
  buttons: { max: 0, titleMax: 0 },
  list: { max: 0, titleMax: 0 },
  quickReplies: { max: 13, titleMax: 20 },
  templates: false,
  windowMs: 24 * HOUR,
  humanAgentWindowMs: 7 * 24 * HOUR,
};
