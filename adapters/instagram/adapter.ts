// The Instagram messaging transport (Instagram Login or Facebook Login tokens).
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ChannelAdapter, MediaRef, OutboundEnvelope, SendResult } from '../types.js';
import { SendError } from '../types.js';
import { renderChoice, splitText } from '../render.js';
import { createGraphClient, type GraphConfig } from '../meta/graph-client.js';
import { asRecord, asString } from '../meta/payload.js';
import { instagramCapabilities } from './capabilities.js';
import { attachmentBody, instagramAttachmentType, quickRepliesBody, textBody } from './payloads.js';
import { parseInstagramTarget, type InstagramTarget } from './targets.js';

export interface InstagramConfig extends GraphConfig {
  /** The Instagram professional account id (webhook entry.id). */
  accountId: string;
  /**
   * Node that sends: the IG account id with Instagram Login (graph.instagram.com), the
   * linked Facebook Page id with Facebook Login (graph.facebook.com). Default: accountId.
   */
  senderNodeId?: string;
}

export function createInstagramAdapter(config: InstagramConfig): ChannelAdapter & { readonly channel: 'instagram' } {
  const graph = createGraphClient(config);
  const messagesPath = `${encodeURIComponent(config.senderNodeId ?? config.accountId)}/messages`;

  async function post(body: Record<string, unknown>): Promise<string | undefined> {
    const answer = asRecord(await graph.post(messagesPath, body));
    return asString(answer?.message_id);
  }

  async function sendText(target: InstagramTarget, text: string, tag?: 'HUMAN_AGENT'): Promise<SendResult> {
    const parts = splitText(text, instagramCapabilities.maxTextLength, 'utf8');
    if (target.kind === 'comment' && parts.length > 1) {
      // Only one private reply is allowed per comment: it must fit in one message.
      throw new SendError('a private reply must fit in one message (1000 bytes)', 'text_too_long', false);
    }
    let externalId: string | undefined;
    for (const part of parts) externalId = await post(textBody(target, part, tag));
    return { externalId };
  }

  /** POST /{node}/message_attachments (multipart, platform instagram): the reusable attachment id. */
  async function uploadAttachment(file: string, type: MediaRef['type'], mimeType: string, filename?: string): Promise<string> {
    const data = await readFile(file);
    const form = new FormData();
    form.append('platform', 'instagram');
    form.append('message', JSON.stringify({ attachment: { type: instagramAttachmentType(type), payload: { is_reusable: true } } }));
    form.append('filedata', new Blob([new Uint8Array(data)], { type: mimeType }), filename ?? basename(file));
    const answer = asRecord(await graph.postForm(`${encodeURIComponent(config.senderNodeId ?? config.accountId)}/message_attachments`, form));
    const id = asString(answer?.attachment_id);
    if (!id) throw new SendError('attachment upload: no attachment_id in the Graph answer', 'media_upload_failed', true);
    return id;
  }

  return {
    channel: 'instagram',
    capabilities: instagramCapabilities,

    async send(envelope: OutboundEnvelope): Promise<SendResult> {
      const target = parseInstagramTarget(envelope.to);
      // HUMAN_AGENT only when the gateway asked for it, and never on bot messages.
      const tag = envelope.tag === 'HUMAN_AGENT' && envelope.author !== 'bot' ? 'HUMAN_AGENT' : undefined;
      const { content } = envelope;
      switch (content.kind) {
        case 'text':
          return sendText(target, content.text, tag);
        case 'choice': {
          const rendered = renderChoice(instagramCapabilities, content);
          if (rendered.kind === 'quick_replies' && content.text && Buffer.byteLength(content.text) <= instagramCapabilities.maxTextLength) {
            return { externalId: await post(quickRepliesBody(target, rendered.text, rendered.quickReplies, tag)) };
          }
          const numbered = renderChoice({ ...instagramCapabilities, quickReplies: { max: 0, titleMax: 0 } }, content);
          return sendText(target, numbered.text, tag);
        }
        case 'template':
          throw new SendError('Instagram has no message templates', 'templates_unsupported', false);
        case 'media': {
          const { media } = content;
          if (target.kind === 'comment') throw new SendError('a private reply can only be text', 'invalid_media', false);
          let externalId: string | undefined;
          if (media.url) {
            externalId = await post(attachmentBody(target, { type: media.type, url: media.url }, tag));
          } else if (media.path) {
            // No public URL for Meta to fetch from: upload the file, then send it by attachment id.
            const attachmentId = await uploadAttachment(media.path, media.type, media.mimeType ?? 'application/octet-stream', media.filename);
            externalId = await post(attachmentBody(target, { type: media.type, attachmentId }, tag));
          } else {
            throw new SendError('an Instagram attachment needs a public url or a stored file', 'invalid_media', false);
          }
          const caption = content.text ?? media.caption;
          if (caption) return sendText(target, caption, tag);
          return { externalId };
        }
      }
    },
  };
}
