// The content part of one WhatsApp Cloud API inbound message, by `type`.
import type { InboundMessage, MediaRef } from '../types.js';
import { asArray, asNumber, asRecord, asString, type Json } from '../meta/payload.js';

/** What a message type turns into; `ignore` says why nothing is created. */
export type Content =
  | { ignore: string }
  | Pick<InboundMessage, 'kind' | 'text'> & Partial<Pick<InboundMessage, 'choice' | 'media' | 'location' | 'extra' | 'replyToExternalId'>>;

const MEDIA_TYPES = ['image', 'audio', 'voice', 'video', 'document', 'sticker'] as const;

export function messageContent(msg: Json): Content {
  const type = asString(msg.type) ?? 'unknown';
  if ((MEDIA_TYPES as readonly string[]).includes(type)) return mediaContent(type as MediaRef['type'], asRecord(msg[type]));
  switch (type) {
    case 'text':
      return { kind: 'text', text: asString(asRecord(msg.text)?.body) ?? '' };
    case 'button': {
      // A quick-reply button of a template we sent: the payload is the option id.
      const button = asRecord(msg.button);
      const title = asString(button?.text) ?? '';
      const id = asString(button?.payload) ?? title;
      return { kind: 'choice', text: title, choice: { id, title, source: 'template_button' } };
    }
    case 'interactive':
      return interactiveContent(asRecord(msg.interactive));
    case 'location':
      return locationContent(asRecord(msg.location));
    case 'contacts':
      return contactsContent(asArray(msg.contacts));
    case 'reaction': {
      const reaction = asRecord(msg.reaction);
      const emoji = asString(reaction?.emoji);
      const messageId = asString(reaction?.message_id);
      if (!emoji) return { ignore: 'reaction removed' };
      return { kind: 'reaction', text: emoji, replyToExternalId: messageId, extra: { reaction: { emoji, messageId } } };
    }
    case 'system': {
      // e.g. "User A changed from +1 555 to +1 666": no `contacts` block comes with it.
      const system = asRecord(msg.system);
      return {
        kind: 'other',
        text: asString(system?.body) ?? '',
        extra: { system: { type: asString(system?.type), newWaId: asString(system?.wa_id) ?? asString(system?.new_wa_id), customer: asString(system?.customer) } },
      };
    }
    case 'order': {
      const order = asRecord(msg.order);
      return { kind: 'other', text: asString(order?.text) ?? '', extra: { order } };
    }
    case 'unsupported':
      return { ignore: 'unsupported message type' };
    default:
      return { ignore: `unsupported message type '${type}'` };
  }
}

function mediaContent(type: MediaRef['type'], media: Json | undefined): Content {
  // WhatsApp sends voice notes as `audio` with `voice: true`; some payloads use type `voice`.
  const ref: MediaRef = { type: type === 'audio' && media?.voice === true ? 'voice' : type };
  const mediaId = asString(media?.id);
  if (mediaId) ref.mediaId = mediaId;
  const mimeType = asString(media?.mime_type);
  if (mimeType) ref.mimeType = mimeType;
  const caption = asString(media?.caption);
  if (caption) ref.caption = caption;
  const filename = asString(media?.filename);
  if (filename) ref.filename = filename;
  const extra: Json = {};
  const sha256 = asString(media?.sha256);
  if (sha256) extra.sha256 = sha256;
  return { kind: 'media', text: caption ?? '', media: [ref], ...(Object.keys(extra).length ? { extra } : {}) };
}

function interactiveContent(interactive: Json | undefined): Content {
  const type = asString(interactive?.type);
  if (type === 'button_reply' || type === 'list_reply') {
    const reply = asRecord(interactive?.[type]);
    const title = asString(reply?.title) ?? '';
    const id = asString(reply?.id) ?? title;
    const description = asString(reply?.description);
    return {
      kind: 'choice',
      text: title,
      choice: { id, title, source: type === 'button_reply' ? 'button' : 'list' },
      ...(description ? { extra: { description } } : {}),
    };
  }
  if (type === 'nfm_reply') {
    // A WhatsApp Flow was completed: the answers are a JSON object in response_json.
    const reply = asRecord(interactive?.nfm_reply);
    let flowResponse: Json | null = null;
    const raw = asString(reply?.response_json);
    if (raw) {
      try { flowResponse = asRecord(JSON.parse(raw)) ?? null; } catch { flowResponse = null; }
    }
    return { kind: 'other', text: asString(reply?.body) ?? '', extra: { flowResponse, flowName: asString(reply?.name) } };
  }
  return { ignore: `unsupported interactive type '${type ?? 'unknown'}'` };
}

function locationContent(location: Json | undefined): Content {
  const latitude = asNumber(location?.latitude);
  const longitude = asNumber(location?.longitude);
  if (latitude === undefined || longitude === undefined) return { ignore: 'location without coordinates' };
  const name = asString(location?.name);
  const address = asString(location?.address);
  const placeUrl = asString(location?.url);
  return {
    kind: 'location',
    text: '',
    location: {
      latitude,
      longitude,
      ...(name ? { name } : {}),
      ...(address ? { address } : {}),
      url: `geo:${latitude.toFixed(6)},${longitude.toFixed(6)}`,
    },
    ...(placeUrl ? { extra: { placeUrl } } : {}),
  };
}

function contactsContent(contacts: unknown[]): Content {
  // Shared contact cards: keep them whole, and give agents a readable line per card.
  const lines = contacts.map((c) => {
    const card = asRecord(c);
    const name = asString(asRecord(card?.name)?.formatted_name) ?? asString(asRecord(card?.name)?.first_name) ?? 'contact';
    const phones = asArray(card?.phones).map((p) => asString(asRecord(p)?.phone)).filter(Boolean);
    return phones.length ? `${name}: ${phones.join(', ')}` : name;
  });
  return { kind: 'contacts', text: lines.join('\n'), extra: { contacts } };
}
