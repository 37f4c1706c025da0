// Request bodies for POST /{version}/{ig-account-or-page-id}/messages (Instagram messaging).
import type { MediaRef } from '../types.js';
import { recipientOf, type InstagramTarget } from './targets.js';

type Body = Record<string, unknown>;

/** HUMAN_AGENT tag fields, only when asked for (agent replies between 24 h and 7 days). */
function tagFields(tag: 'HUMAN_AGENT' | undefined): Body {
  return tag === 'HUMAN_AGENT' ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : {};
}

export function textBody(target: InstagramTarget, text: string, tag?: 'HUMAN_AGENT'): Body {
  return { recipient: recipientOf(target), ...tagFields(tag), message: { text } };
}

export function quickRepliesBody(target: InstagramTarget, text: string, options: { id: string; title: string }[], tag?: 'HUMAN_AGENT'): Body {
  return {
    recipient: recipientOf(target),
    ...tagFields(tag),
    message: { text, quick_replies: options.map((o) => ({ content_type: 'text', title: o.title, payload: o.id })) },
  };
}

/** Instagram attachment types: image, video, audio, file. */
export function instagramAttachmentType(type: MediaRef['type']): 'image' | 'video' | 'audio' | 'file' {
  switch (type) {
    case 'image':
    case 'sticker': return 'image';
    case 'video': return 'video';
    case 'audio':
    case 'voice': return 'audio';
    default: return 'file';
  }
}

/** An attachment by public URL (Meta fetches it) or by the id of an uploaded attachment. */
export function attachmentBody(target: InstagramTarget, media: { type: MediaRef['type']; url?: string; attachmentId?: string }, tag?: 'HUMAN_AGENT'): Body {
  const payload = media.attachmentId ? { attachment_id: media.attachmentId } : { url: media.url };
  return {
    recipient: recipientOf(target),
    ...tagFields(tag),
    message: { attachment: { type: instagramAttachmentType(media.type), payload } },
  };
}
