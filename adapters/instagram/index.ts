export { parseInstagramWebhook, type InstagramParseOptions } from './parse.js';
export { createInstagramAdapter, type InstagramConfig } from './adapter.js';
export { instagramCapabilities } from './capabilities.js';
export { commentTarget, parseInstagramTarget, type InstagramTarget } from './targets.js';
