// whatsapp-web.js Message -> InboundMessage. Pure. Own messages, groups, status
// broadcasts and system notices are not customer messages.
import type { InboundMessage, MediaRef } from '../types.js';
import type { WebMessage } from './client.js';
import { boundedName } from '../contact-name.js';

export type WebParse = { message: InboundMessage } | { ignore: string } | { reject: string };

const MEDIA: Record<string, MediaRef['type']> = { image: 'image', video: 'video', audio: 'audio', ptt: 'voice', document: 'document', sticker: 'sticker' };

/** '34600111222@c.us' -> '34600111222'; undefined for anything that is not a person's chat. */
export function phoneOf(chatId: string): string | undefined {
  const m = /^(\d{5,20})@c\.us$/.exec(chatId);
  return m?.[1];
}

export function chatIdOf(phone: string): string {
  return `${phone.replace(/\D/g, '')}@c.us`;
}

export function parseWebMessage(m: WebMessage, account: string): WebParse {
  const externalId = m.id?._serialized;
  if (!externalId) return { reject: 'message without id' };
  if (m.fromMe || m.id.fromMe) return { ignore: `own message: ${externalId}` };
  if (m.isStatus || m.from === 'status@broadcast') return { ignore: `status update: ${externalId}` };
  if (m.from.endsWith('@g.us')) return { ignore: `group message: ${externalId}` };
  const from = phoneOf(m.from);
  if (!from) return { ignore: `not a person's chat (${m.from}): ${externalId}` };
  if (!Number.isFinite(m.timestamp) || m.timestamp <= 0) return { reject: `invalid timestamp ${m.timestamp}: ${externalId}` };
  const base = {
    channel: 'whatsapp' as const,
    account,
    externalId,
    from,
    ...(boundedName(m._data?.notifyName) ? { contactName: boundedName(m._data?.notifyName) } : {}),
    timestamp: Math.round(m.timestamp * 1000),
    ...(m._data?.quotedStanzaID ? { replyToExternalId: m._data.quotedStanzaID } : {}),
  };
  const mediaType = MEDIA[m.type];
  if (mediaType) {
    const caption = m._data?.caption ?? (m.type === 'document' ? '' : m.body) ?? '';
    const ref: MediaRef = { type: mediaType, mediaId: externalId };
    if (m._data?.mimetype) ref.mimeType = m._data.mimetype;
    if (m._data?.filename) ref.filename = m._data.filename;
    if (caption) ref.caption = caption;
    return { message: { ...base, kind: 'media', text: caption, media: [ref] } };
  }
  switch (m.type) {
    case 'chat':
      return { message: { ...base, kind: 'text', text: m.body ?? '' } };
    case 'location': {
      const latitude = Number(m.location?.latitude);
      const longitude = Number(m.location?.longitude);
      if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return { ignore: `location without coordinates: ${externalId}` };
      const name = m.location?.name ?? m.location?.description;
      return {
        message: {
          ...base, kind: 'location', text: '',
          location: { latitude, longitude, ...(name ? { name } : {}), ...(m.location?.address ? { address: m.location.address } : {}), url: `geo:${latitude.toFixed(6)},${longitude.toFixed(6)}` },
        },
      };
    }
    case 'vcard':
    case 'multi_vcard':
      return { message: { ...base, kind: 'contacts', text: (m.vCards ?? []).map((v) => /FN:(.*)/.exec(v)?.[1]?.trim() ?? 'contact').join('\n'), extra: { vCards: m.vCards ?? [] } } };
    case 'revoked':
      return { ignore: `message deleted by the sender: ${externalId}` };
    default:
      if (m.body) return { message: { ...base, kind: 'other', text: m.body, extra: { webType: m.type } } };
      return { ignore: `unsupported message type '${m.type}': ${externalId}` };
  }
}
