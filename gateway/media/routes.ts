// Agent attachments and media over HTTP:
//   POST /api/tickets/:id/messages (multipart/form-data: `text` and one or more files)
//       stores each file (size and type checked first: 413 / 415, nothing written on
//       refusal), then queues one media message per file (the text as the caption of a
//       single file, else as its own message first) with an `attachments` row each.
//       The JSON form of the same route lives in tickets/api.ts; this router only
//       takes multipart requests.
//   GET /api/media/:attachmentId                   a stored file, for signed-in agents
//   GET /api/tickets/:id/messages/:messageId/media inbound media, fetched from the platform
//       on first view (WhatsApp: GET /{media-id} then its URL with the bearer token) and kept
//   GET /media/public/:attachmentId/:sha256        the capability URL Instagram fetches an
//       attachment from when PUBLIC_URL is set (the hash is the secret)

import { createReadStream } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import multer from 'multer';
import type { MediaRef, OutboundContent } from '../../adapters/types.js';
import type { ChannelRegistry } from '../channels.js';
import type { Config } from '../config.js';
import { userOf, type Authenticator } from '../../tickets/auth.js';
import type { TicketContext } from '../../tickets/context.js';
import { ApiError, badRequest, conflict, notFound } from '../../tickets/errors.js';
import { Effects } from '../../tickets/events.js';
import { loadTicket } from '../../tickets/lifecycle.js';
import { getMessage } from '../../tickets/store.js';
import { messageView, parseJson } from '../../tickets/views.js';
import { mediaTypeOf, type AttachmentRow, type MediaStore } from './store.js';

export interface MediaRoutesDeps {
  ctx: TicketContext;
  auth: Authenticator;
  store: MediaStore;
  channels: ChannelRegistry;
  config: Config;
  afterCommit: (fx: Effects) => void;
}

const MAX_FILES = 10;
const INLINE = /^(image\/(jpeg|png|gif|webp)|video\/|audio\/|application\/pdf$|text\/plain$)/;

export function createMediaRoutes(d: MediaRoutesDeps): { api: Router; public: Router } {
  const { ctx, store } = d;
  const api = express.Router();
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: store.maxBytes, files: MAX_FILES, fields: 20 } });

  const receive = (req: Request, res: Response) =>
    new Promise<void>((resolve, reject) => {
      upload.any()(req, res, (err: unknown) => {
        if (!err) return resolve();
        const e = err as { code?: string; message?: string };
        if (e.code === 'LIMIT_FILE_SIZE') return reject(new ApiError(413, 'media_too_large', `a file is larger than ${store.maxBytes} bytes`));
        if (e.code === 'LIMIT_FILE_COUNT') return reject(badRequest(`at most ${MAX_FILES} files per message`));
        reject(badRequest(`multipart body could not be read: ${e.message ?? String(err)}`));
      });
    });

  // Multipart only; JSON bodies go on to the route in tickets/api.ts.
  const multipartOnly = (req: Request, _res: Response, next: (r?: 'route') => void) => next(req.is('multipart/form-data') ? undefined : 'route');
  api.post('/tickets/:id/messages', multipartOnly, d.auth.middleware(), async (req, res) => {
    await receive(req, res);
    const files = (req.files as Express.Multer.File[] | undefined) ?? [];
    const text = typeof req.body?.text === 'string' ? req.body.text : '';
    if (!files.length && !text.trim()) throw badRequest('a message needs text or at least one file');
    if (text.length > 4096) throw badRequest('text must be at most 4096 characters');
    for (const f of files) store.check({ size: f.size, contentType: f.mimetype, filename: f.originalname });

    const me = userOf(req);
    const now = ctx.clock.now();
    const written: { file: Express.Multer.File; storageKey: string; sha256: string; created: boolean }[] = [];
    for (const f of files) written.push({ file: f, ...(await store.write(f.buffer, 'uploads')) });
    const fx = new Effects();
    // Nothing half-written: when the transaction fails (bot ticket, window rules...), the new files go too.
    const messages = await ctx.sql.tx(async (tx) => {
      const t = await loadTicket(tx, String(req.params.id));
      if (t.type === 'bot' && t.status === 'active') throw conflict('the bot is handling this ticket: take it over before replying', 'bot_ticket');
      const out = [];
      const caption = written.length === 1 ? text.trim() : '';
      if (text.trim() && !caption) out.push(await ctx.outbound.enqueue(tx, fx, { ticket: t, content: { kind: 'text', text }, author: 'agent', authorId: me.id }));
      for (const w of written) {
        const contentType = w.file.mimetype.split(';')[0]!.trim().toLowerCase();
        const att = await store.insert(tx, {
          messageId: null, ticketId: t.id, filename: w.file.originalname || 'file', contentType, size: w.file.size,
          storageKey: w.storageKey, sha256: w.sha256, createdAt: now,
        });
        const media: MediaRef = { type: mediaTypeOf(contentType), mimeType: contentType, filename: att.filename, size: att.size, attachmentId: att.id };
        // Instagram fetches attachments by URL when this gateway is reachable; otherwise the adapter uploads the file.
        if (t.channel === 'instagram' && d.config.publicUrl) media.url = `${d.config.publicUrl}/media/public/${att.id}/${att.sha256}`;
        const content: OutboundContent = { kind: 'media', media, ...(caption ? { text: caption } : {}) };
        const m = await ctx.outbound.enqueue(tx, fx, { ticket: t, content, author: 'agent', authorId: me.id });
        await tx.execute('UPDATE attachments SET messageId = ? WHERE id = ?', [m.id, att.id]);
        out.push(m);
      }
      return out;
    }).catch(async (err) => {
      await store.discard(written);
      throw err;
    });
    d.afterCommit(fx);
    const views = messages.map(messageView);
    res.status(201).json({ ...views[views.length - 1], messages: views });
  });

  api.get('/media/:attachmentId', d.auth.middleware(), async (req, res) => {
    const att = await store.get(req.params.attachmentId as string);
    if (!att) throw notFound(`attachment ${req.params.attachmentId}`);
    serveFile(res, store, att);
  });

  api.get('/tickets/:id/messages/:messageId/media', d.auth.middleware(), async (req, res) => {
    const m = await getMessage(ctx.sql, req.params.messageId as string);
    if (!m || m.ticketId !== req.params.id) throw notFound(`message ${req.params.messageId} on ticket ${req.params.id}`);
    const index = req.query.index === undefined ? 0 : Number(req.query.index);
    if (!Number.isInteger(index) || index < 0) throw badRequest('index must be a non-negative integer');
    const kept = await store.ofMessage(m.id);
    if (kept[index]) return serveFile(res, store, kept[index]!);
    const media = parseJson<{ media?: MediaRef[] }>(m.payload, {}).media?.[index];
    if (!media) throw notFound(`message ${m.id} has no media #${index}`);
    let fetched: { data: Buffer; mimeType?: string };
    const adapter = m.channel === 'internal' ? undefined : d.channels.get(m.channel, (await ticketAccount(ctx, m.ticketId)) ?? '');
    if (media.mediaId && adapter?.fetchMedia) {
      fetched = await adapter.fetchMedia(media.mediaId).catch((err) => {
        throw new ApiError(502, 'media_unavailable', `the platform did not hand over the media: ${(err as Error).message}`);
      });
    } else if (media.url && /^https:\/\//.test(media.url)) {
      // Instagram CDN URLs need no token (and expire after a while).
      const r = await fetch(media.url).catch(() => null);
      if (!r?.ok) throw new ApiError(502, 'media_unavailable', `the media URL answered ${r?.status ?? 'nothing'} (it may have expired)`);
      fetched = { data: Buffer.from(await r.arrayBuffer()), mimeType: r.headers.get('content-type') ?? undefined };
    } else {
      throw new ApiError(404, 'media_unavailable', 'this media cannot be fetched from its platform');
    }
    const contentType = (media.mimeType ?? fetched.mimeType ?? 'application/octet-stream').split(';')[0]!.trim();
    const { storageKey, sha256 } = await store.write(fetched.data, 'inbound');
    // Kept for the next view: at most one row per (message, index) even when two agents open it at once.
    const att = await ctx.sql.tx(async (tx) => {
      const again = await tx.query<{ id: string }>('SELECT id FROM attachments WHERE messageId = ? ORDER BY createdAt, id', [m.id]);
      if (again.length > index) return (await store.get(again[index]!.id))!;
      return store.insert(tx, {
        messageId: m.id, ticketId: m.ticketId, filename: media.filename ?? `${media.type}-${m.id}`, contentType, size: fetched.data.length,
        storageKey, sha256, createdAt: ctx.clock.now(),
      });
    });
    serveFile(res, store, att);
  });

  const pub = express.Router();
  pub.get('/media/public/:attachmentId/:sha256', async (req, res) => {
    const att = await store.get(req.params.attachmentId as string);
    const given = Buffer.from(String(req.params.sha256));
    const ok = !!att?.sha256 && given.length === att.sha256.length && timingSafeEqual(given, Buffer.from(att.sha256));
    if (!att || !ok) throw notFound('no such file');
    serveFile(res, store, att);
  });
  return { api, public: pub };
}

async function ticketAccount(ctx: TicketContext, ticketId: string): Promise<string | null> {
  const t = await loadTicket(ctx.sql, ticketId);
  return t.account;
}

function serveFile(res: Response, store: MediaStore, att: AttachmentRow): void {
  const file = store.pathOf(att.storageKey);
  const stream = createReadStream(file);
  stream.once('error', () => {
    if (!res.headersSent) res.status(404).json({ error: { code: 'not_found', message: 'the stored file is missing' } });
    else res.destroy();
  });
  stream.once('open', () => {
    res.status(200);
    res.setHeader('content-type', att.contentType);
    res.setHeader('content-length', String(att.size));
    // Only media and plain documents open in the browser; anything else (e.g. HTML from a mail) downloads.
    const inline = INLINE.test(att.contentType);
    res.setHeader('content-disposition', `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(att.filename)}`);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('content-security-policy', "default-src 'none'; sandbox");
    res.setHeader('cache-control', 'private, max-age=3600');
    stream.pipe(res);
  });
}
