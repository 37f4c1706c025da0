// The WhatsApp Cloud API transport: sends normalized outbound content through the Graph API.
import type { ChannelAdapter, MediaRef, OutboundEnvelope, SendResult } from '../types.js';
import { SendError } from '../types.js';
import { renderChoice, splitText } from '../render.js';
import { createGraphClient, type GraphConfig } from '../meta/graph-client.js';
import { asArray, asRecord, asString } from '../meta/payload.js';
import { whatsAppCloudCapabilities, WHATSAPP_LIMITS } from './capabilities.js';
import { buttonsBody, listBody, markReadBody, mediaBody, templateBody, textBody, whatsAppMediaType } from './payloads.js';
import { fetchWhatsAppMedia, resolveWhatsAppMedia, uploadWhatsAppMedia, type MediaInfo } from './media.js';

export interface WhatsAppCloudConfig extends GraphConfig {
  phoneNumberId: string;
}

export interface WhatsAppCloudAdapter extends ChannelAdapter {
  readonly channel: 'whatsapp';
  /** Marks a customer's message read (blue ticks). */
  markRead(messageId: string): Promise<void>;
  /** GET /{media-id}: download URL and metadata of inbound media. */
  resolveMedia(mediaId: string): Promise<MediaInfo>;
  /** Downloads inbound media by id (for the inbox, on demand). */
  fetchMedia(mediaId: string): Promise<{ data: Buffer; mimeType?: string; size: number }>;
  /** Uploads a file to /{phone-number-id}/media; returns the media id. */
  uploadMedia(file: { path?: string; data?: Buffer; mimeType: string; filename?: string }): Promise<string>;
}

export function createWhatsAppCloudAdapter(config: WhatsAppCloudConfig): WhatsAppCloudAdapter {
  const graph = createGraphClient(config);
  const messagesPath = `${encodeURIComponent(config.phoneNumberId)}/messages`;

  async function post(body: Record<string, unknown>): Promise<string | undefined> {
    const answer = asRecord(await graph.post(messagesPath, body));
    return asString(asRecord(asArray(answer?.messages)[0])?.id);
  }

  /** Sends each part in order; the result is the last part's id (its status covers the whole). */
  async function sendText(to: string, text: string): Promise<SendResult> {
    let externalId: string | undefined;
    for (const part of splitText(text, whatsAppCloudCapabilities.maxTextLength)) externalId = await post(textBody(to, part));
    return { externalId };
  }

  async function sendMedia(to: string, media: MediaRef & { path?: string }, text?: string): Promise<SendResult> {
    let id = media.mediaId;
    if (!id && !media.url) {
      if (!media.path) throw new SendError('media needs a mediaId, a url or a path', 'invalid_media', false);
      id = await uploadWhatsAppMedia(graph, config.phoneNumberId, {
        path: media.path,
        mimeType: media.mimeType ?? 'application/octet-stream',
        ...(media.filename ? { filename: media.filename } : {}),
      });
    }
    const caption = text ?? media.caption;
    const captioned = whatsAppMediaType(media.type).caption && (!caption || caption.length <= WHATSAPP_LIMITS.caption);
    const body = mediaBody(
      to,
      { type: media.type, ...(id ? { id } : { link: media.url }), ...(media.filename ? { filename: media.filename } : {}) },
      captioned ? caption : undefined,
    );
    const externalId = await post(body);
    // Audio and stickers take no caption: the text follows as its own message.
    if (caption && !captioned) return sendText(to, caption);
    return { externalId };
  }

  return {
    channel: 'whatsapp',
    capabilities: whatsAppCloudCapabilities,

    async send(envelope: OutboundEnvelope): Promise<SendResult> {
      const { to, content } = envelope;
      switch (content.kind) {
        case 'text':
          return sendText(to, content.text);
        case 'choice': {
          const rendered = renderChoice(whatsAppCloudCapabilities, content);
          // Interactive bodies hold 1024 characters: longer prompts go as numbered text.
          if (rendered.kind === 'text' || Array.from(content.text).length > WHATSAPP_LIMITS.interactiveBody || !content.text) {
            const fallback = renderChoice({ ...whatsAppCloudCapabilities, buttons: { max: 0, titleMax: 0 }, list: { max: 0, titleMax: 0 } }, content);
            return sendText(to, fallback.text);
          }
          if (rendered.kind === 'buttons') return { externalId: await post(buttonsBody(to, rendered)) };
          if (rendered.kind === 'list') return { externalId: await post(listBody(to, rendered, content.buttonLabel)) };
          return sendText(to, rendered.text);
        }
        case 'template':
          return { externalId: await post(templateBody(to, content.name, content.language, content.params)) };
        case 'media':
          return sendMedia(to, content.media, content.text);
      }
    },

    async markRead(messageId) {
      await graph.post(messagesPath, markReadBody(messageId));
    },
    resolveMedia: (mediaId) => resolveWhatsAppMedia(graph, mediaId),
    fetchMedia: (mediaId) => fetchWhatsAppMedia(graph, mediaId),
    uploadMedia: (file) => uploadWhatsAppMedia(graph, config.phoneNumberId, file),
  };
}
