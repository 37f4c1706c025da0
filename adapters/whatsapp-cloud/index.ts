export { parseWhatsAppWebhook, type WhatsAppParseOptions } from './parse.js';
export { createWhatsAppCloudAdapter, type WhatsAppCloudAdapter, type WhatsAppCloudConfig } from './adapter.js';
export { whatsAppCloudCapabilities, WHATSAPP_LIMITS } from './capabilities.js';
export { fetchWhatsAppMedia, resolveWhatsAppMedia, uploadWhatsAppMedia } from './media.js';
export { isValidBsuid, isValidWaId } from './ids.js';
