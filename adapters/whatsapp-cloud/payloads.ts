// Request bodies for POST /{version}/{phone-number-id}/messages, exactly as Meta documents them.
import type { MediaRef } from '../types.js';
import type { RenderedChoice } from '../render.js';
import { truncate } from '../render.js';
import { WHATSAPP_LIMITS } from './capabilities.js';
import { isValidBsuid } from './ids.js';

type Body = Record<string, unknown>;

/**
 * Addressing: a phone number goes in `to`; a business-scoped user id (a customer known only
 * by BSUID) goes in `recipient`, per Meta's 2026 BSUID changes to the Messages API.
 */
const envelope = (to: string) =>
  isValidBsuid(to)
    ? { messaging_product: 'whatsapp', recipient_type: 'individual', recipient: to }
    : { messaging_product: 'whatsapp', recipient_type: 'individual', to };

export function textBody(to: string, text: string): Body {
  return { ...envelope(to), type: 'text', text: { preview_url: false, body: text } };
}

export function buttonsBody(to: string, choice: Extract<RenderedChoice, { kind: 'buttons' }>): Body {
  return {
    ...envelope(to),
    type: 'interactive',
    interactive: {
      type: 'button',
      body: { text: choice.text },
      action: { buttons: choice.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) },
    },
  };
}

export function listBody(to: string, choice: Extract<RenderedChoice, { kind: 'list' }>, buttonLabel = 'Options'): Body {
  return {
    ...envelope(to),
    type: 'interactive',
    interactive: {
      type: 'list',
      body: { text: choice.text },
      action: {
        button: truncate(buttonLabel, WHATSAPP_LIMITS.listButtonLabel),
        sections: [
          {
            rows: choice.rows.map((r) => ({
              id: r.id,
              title: r.title,
              ...(r.description ? { description: truncate(r.description, WHATSAPP_LIMITS.listRowDescription) } : {}),
            })),
          },
        ],
      },
    },
  };
}

export function templateBody(to: string, name: string, language: string, params: string[]): Body {
  return {
    ...envelope(to),
    type: 'template',
    template: {
      name,
      language: { code: language },
      ...(params.length
        ? { components: [{ type: 'body', parameters: params.map((text) => ({ type: 'text', text })) }] }
        : {}),
    },
  };
}

/** Which WhatsApp message type carries this media, and whether it may have a caption / filename. */
export function whatsAppMediaType(type: MediaRef['type']): { type: 'image' | 'audio' | 'video' | 'document' | 'sticker'; caption: boolean; filename: boolean } {
  switch (type) {
    case 'image': return { type: 'image', caption: true, filename: false };
    case 'video': return { type: 'video', caption: true, filename: false };
    case 'audio':
    case 'voice': return { type: 'audio', caption: false, filename: false };
    case 'sticker': return { type: 'sticker', caption: false, filename: false };
    case 'document':
    case 'file': return { type: 'document', caption: true, filename: true };
  }
}

/** A media message by uploaded media id or by public link. */
export function mediaBody(to: string, media: { type: MediaRef['type']; id?: string; link?: string; filename?: string }, caption?: string): Body {
  const kind = whatsAppMediaType(media.type);
  const object: Body = media.id ? { id: media.id } : { link: media.link };
  if (caption && kind.caption) object.caption = caption;
  if (media.filename && kind.filename) object.filename = media.filename;
  return { ...envelope(to), type: kind.type, [kind.type]: object };
}

export function markReadBody(messageId: string): Body {
  return { messaging_product: 'whatsapp', status: 'read', message_id: messageId };
}
