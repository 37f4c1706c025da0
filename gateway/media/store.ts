// Files the gateway keeps: agents' uploads (sent as WhatsApp media / Instagram
// attachments) and inbound media fetched for the inbox. Bytes live in a local folder
// (MEDIA_DIR, default ./data/media) under content-addressed keys, written atomically;
// the `attachments` table holds what they are and which message they belong to. The
// same folder and key scheme as the email channel's stored mail parts, so
// GET /api/media/:id serves those too.

import { createHash } from 'node:crypto';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MediaRef } from '../../adapters/types.js';
import type { Sql } from '../db/sql.js';
import { newId } from '../ids.js';
import { ApiError } from '../../tickets/errors.js';

export interface AttachmentRow {
  id: string;
  messageId: string | null;
  ticketId: string | null;
  filename: string;
  contentType: string;
  size: number;
  storageKey: string;
  sha256: string | null;
  createdAt: number;
}

/**
 * What agents may upload: what WhatsApp and Instagram accept as media, plus common
 * documents. Anything else is refused with 415 before a byte is stored.
 */
export const ALLOWED_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg', 'image/png', 'image/webp', 'image/gif',
  'video/mp4', 'video/3gpp', 'video/quicktime', 'video/webm',
  'audio/aac', 'audio/mp4', 'audio/mpeg', 'audio/amr', 'audio/ogg', 'audio/wav', 'audio/x-m4a',
  'application/pdf', 'text/plain', 'text/csv',
  'application/msword', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.ms-powerpoint', 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
]);

/** The media kind a content type is sent as. */
export function mediaTypeOf(contentType: string): MediaRef['type'] {
  if (contentType === 'image/webp') return 'image';
  if (contentType.startsWith('image/')) return 'image';
  if (contentType.startsWith('video/')) return 'video';
  if (contentType.startsWith('audio/')) return 'audio';
  return 'document';
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The digest of a content-addressed storage key (`<prefix>/<sha256>`), or null. */
export const sha256OfKey = (storageKey: string): string | null => /(?:^|\/)([0-9a-f]{64})(?:\.[a-z0-9]+)?$/.exec(storageKey)?.[1] ?? null;

export class MediaStore {
  readonly dir: string;

  constructor(
    private readonly sql: Sql,
    dir: string,
    readonly maxBytes: number,
  ) {
    this.dir = path.resolve(dir);
  }

  /** 413 / 415 for a file that may not be stored. */
  check(file: { size: number; contentType: string; filename?: string }): void {
    const type = file.contentType.split(';')[0]!.trim().toLowerCase();
    if (!ALLOWED_TYPES.has(type)) {
      throw new ApiError(415, 'unsupported_media_type', `${file.filename ?? 'the file'}: content type ${type || 'unknown'} is not accepted (allowed: images, video, audio, PDF, text and office documents)`);
    }
    if (file.size > this.maxBytes) {
      throw new ApiError(413, 'media_too_large', `${file.filename ?? 'the file'} is ${file.size} bytes; at most ${this.maxBytes} bytes are accepted`);
    }
  }

  /** The file of a storage key; refuses keys that would leave the media folder. */
  pathOf(storageKey: string): string {
    const p = path.resolve(this.dir, storageKey);
    if (!p.startsWith(this.dir + path.sep)) throw new Error(`storage key outside the media folder: ${storageKey}`);
    return p;
  }

  /** Writes the bytes (once per content) and returns the storage key and hash; `created` when the file is new. Not yet a row. */
  async write(data: Buffer, prefix: string): Promise<{ storageKey: string; sha256: string; created: boolean }> {
    const hash = sha256(data);
    const storageKey = `${prefix}/${hash}`;
    const file = this.pathOf(storageKey);
    const exists = await stat(file).then(() => true, () => false);
    if (!exists) {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await writeFile(tmp, data);
      await rename(tmp, file);
    }
    return { storageKey, sha256: hash, created: !exists };
  }

  /** Removes files this request created when its transaction failed (unless a row refers to them by now). */
  async discard(written: { storageKey: string; created: boolean }[]): Promise<void> {
    for (const w of written) {
      if (!w.created) continue;
      const used = await this.sql.query('SELECT id FROM attachments WHERE storageKey = ? LIMIT 1', [w.storageKey]);
      if (!used.length) await unlink(this.pathOf(w.storageKey)).catch(() => undefined);
    }
  }

  /** Inserts the attachments row (in the caller's transaction). */
  async insert(sql: Sql, row: Omit<AttachmentRow, 'id'> & { id?: string }): Promise<AttachmentRow> {
    const full: AttachmentRow = { ...row, id: row.id ?? newId(row.createdAt) };
    await sql.execute(
      'INSERT INTO attachments (id, messageId, ticketId, filename, contentType, size, storageKey, sha256, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [full.id, full.messageId, full.ticketId, full.filename, full.contentType, full.size, full.storageKey, full.sha256, full.createdAt],
    );
    return full;
  }

  async get(id: string): Promise<AttachmentRow | null> {
    const rows = await this.sql.query<AttachmentRow>('SELECT * FROM attachments WHERE id = ?', [id]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async ofMessage(messageId: string): Promise<AttachmentRow[]> {
    const rows = await this.sql.query<AttachmentRow>('SELECT * FROM attachments WHERE messageId = ? ORDER BY createdAt, id', [messageId]);
    return rows.map(fromRow);
  }
}

function fromRow(r: any): AttachmentRow {
  r.size = Number(r.size);
  r.createdAt = Number(r.createdAt);
  // Rows written before migration 0006 (sha256 was VARCHAR(24)) hold NULL: the digest is the
  // last part of their content-addressed storage key.
  r.sha256 = r.sha256 ?? sha256OfKey(r.storageKey);
  return r as AttachmentRow;
}
