export { WhatsAppWebAdapter, WHATSAPP_WEB_LEASE, type WebState, type WebStatus, type WhatsAppWebOptions, type Timers } from './adapter.js';
export type { WebClient, WebClientFactory, WebMessage } from './client.js';
export { whatsAppWebCapabilities } from './capabilities.js';
export { parseWebMessage, chatIdOf, phoneOf } from './parse.js';
export { SqlSessionStore } from './session-store.js';
