// WhatsApp media by id: resolve (GET /{media-id}), download with the bearer token, upload.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { SendError } from '../types.js';
import { asNumber, asRecord, asString } from '../meta/payload.js';
import type { GraphClient } from '../meta/graph-client.js';

export interface MediaInfo {
  url: string;
  mimeType?: string;
  size?: number;
  sha256?: string;
}

/** GET /{version}/{media-id}: the short-lived download URL and metadata. */
export async function resolveWhatsAppMedia(graph: GraphClient, mediaId: string): Promise<MediaInfo> {
  const info = asRecord(await graph.get(encodeURIComponent(mediaId)));
  const url = asString(info?.url);
  if (!url) throw new SendError(`media ${mediaId}: no url in the Graph answer`, 'media_unavailable', false);
  const mimeType = asString(info?.mime_type);
  const size = asNumber(info?.file_size);
  const sha256 = asString(info?.sha256);
  return { url, ...(mimeType ? { mimeType } : {}), ...(size !== undefined ? { size } : {}), ...(sha256 ? { sha256 } : {}) };
}

/** Resolves then downloads the bytes (the download URL needs the bearer token too). */
export async function fetchWhatsAppMedia(graph: GraphClient, mediaId: string): Promise<{ data: Buffer; mimeType?: string; size: number }> {
  const info = await resolveWhatsAppMedia(graph, mediaId);
  const { data, contentType } = await graph.download(info.url);
  const mimeType = info.mimeType ?? contentType;
  return { data, ...(mimeType ? { mimeType } : {}), size: data.length };
}

/** POST /{version}/{phone-number-id}/media (multipart): the new media id. */
export async function uploadWhatsAppMedia(
  graph: GraphClient,
  phoneNumberId: string,
  file: { path?: string; data?: Buffer; mimeType: string; filename?: string },
): Promise<string> {
  const data = file.data ?? (file.path ? await readFile(file.path) : undefined);
  if (!data) throw new SendError('media upload needs a path or data', 'invalid_media', false);
  const form = new FormData();
  form.append('messaging_product', 'whatsapp');
  form.append('type', file.mimeType);
  form.append('file', new Blob([new Uint8Array(data)], { type: file.mimeType }), file.filename ?? (file.path ? basename(file.path) : 'file'));
  const answer = asRecord(await graph.postForm(`${encodeURIComponent(phoneNumberId)}/media`, form));
  const id = asString(answer?.id);
  if (!id) throw new SendError('media upload: no id in the Graph answer', 'media_upload_failed', true);
  return id;
}
