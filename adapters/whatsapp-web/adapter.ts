// The whatsapp-web.js transport, for businesses without Cloud API access. One process
// holds the session (the coordinator's `whatsapp-web` lease) and runs the client; the
// others stand by and forward their sends to it over pub/sub. The client comes from a
// factory (tests pass a fake). Login: the QR is printed in the terminal and exposed by
// status() (GET /api/channels, the inbox settings page). A dropped connection or a
// failed start is retried with exponential backoff on the injected timers.

import { randomUUID } from 'node:crypto';
import type { ChannelAdapter, InboundSink, OutboundEnvelope, SendResult, StatusUpdate } from '../types.js';
import { SendError } from '../types.js';
import { numberedText, splitText } from '../render.js';
import type { Coordinator, Lease } from '../../gateway/coordination/types.js';
import type { WebClient, WebClientFactory, WebMessage } from './client.js';
import { whatsAppWebCapabilities } from './capabilities.js';
import { chatIdOf, parseWebMessage } from './parse.js';

export const WHATSAPP_WEB_LEASE = 'whatsapp-web';
const SEND_TOPIC = 'whatsapp-web:send';
const replyTopic = (instance: string) => `whatsapp-web:reply:${instance}`;

/** standby: another process holds the session. qr: waiting for the phone to scan. */
export type WebState = 'stopped' | 'standby' | 'starting' | 'qr' | 'ready' | 'reconnecting';

export interface WebStatus {
  state: WebState;
  /** The raw QR string while waiting for login, else null. */
  qr: string | null;
  /** Reconnection attempts since the last `ready`. */
  attempt: number;
  lastError?: string;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WhatsAppWebOptions {
  /** The channel account conversations are filed under (default `whatsapp-web`). */
  account?: string;
  factory: WebClientFactory;
  sink: InboundSink;
  coord: Pick<Coordinator, 'lease' | 'publish' | 'subscribe'>;
  log?: (level: 'info' | 'warn' | 'error', msg: string, obj?: Record<string, unknown>) => void;
  timers?: Timers;
  /** Prints the login QR (default: qrcode-terminal on stdout). */
  printQr?: (qr: string) => void;
  /** Called on every status change (the gateway shares it with the other processes). */
  onStatus?: (s: WebStatus) => void;
  backoff?: { baseMs: number; maxMs: number };
  leaseTtlMs?: number;
  /** How long a forwarded send waits for the holder's answer. */
  forwardTimeoutMs?: number;
}

const ACKS: Record<number, StatusUpdate['status'] | undefined> = { [-1]: 'failed', 1: 'sent', 2: 'delivered', 3: 'read', 4: 'read' };

interface ForwardRequest { id: string; replyTo: string; envelope: OutboundEnvelope }
interface ForwardReply { id: string; externalId?: string; error?: { message: string; code: string; retryable: boolean; retryAfterMs?: number } }

export class WhatsAppWebAdapter implements ChannelAdapter {
  readonly channel = 'whatsapp' as const;
  readonly capabilities = whatsAppWebCapabilities;
  readonly account: string;
  private client: WebClient | null = null;
  private lease: Lease | null = null;
  private state: WebState = 'stopped';
  private qr: string | null = null;
  private attempt = 0;
  private lastError: string | undefined;
  private reconnectTimer: unknown = null;
  private holder = false;
  private readonly instance = randomUUID();
  private readonly pending = new Map<string, { resolve: (r: ForwardReply) => void; timer: unknown }>();
  private readonly unsubscribe: (() => Promise<void>)[] = [];
  /** Inbound messages are handed over one after another, in the order the client emitted them. */
  private inbound: Promise<unknown> = Promise.resolve();
  private readonly timers: Timers;
  private readonly backoff: { baseMs: number; maxMs: number };

  constructor(private readonly o: WhatsAppWebOptions) {
    this.account = o.account ?? 'whatsapp-web';
    this.timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.backoff = o.backoff ?? { baseMs: 2_000, maxMs: 5 * 60_000 };
  }

  status(): WebStatus {
    return { state: this.state, qr: this.qr, attempt: this.attempt, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async start(): Promise<void> {
    if (this.state !== 'stopped') return;
    this.setState('standby');
    this.unsubscribe.push(await this.o.coord.subscribe(SEND_TOPIC, (m) => void this.onForwarded(m)));
    this.unsubscribe.push(await this.o.coord.subscribe(replyTopic(this.instance), (m) => this.onReply(m)));
    this.lease = this.o.coord.lease(WHATSAPP_WEB_LEASE, {
      ttlMs: this.o.leaseTtlMs ?? 15_000,
      onAcquired: () => {
        this.holder = true;
        this.log('info', 'whatsapp-web: this process holds the session; starting the client');
        this.connect();
      },
      onLost: () => {
        this.holder = false;
        this.log('warn', 'whatsapp-web: session lease lost; stopping the client');
        void this.dropClient();
        this.setState('standby');
      },
    });
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    this.holder = false;
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    await this.dropClient();
    await this.lease?.release().catch(() => undefined);
    this.lease = null;
    for (const u of this.unsubscribe.splice(0)) await u().catch(() => undefined);
    for (const [id, p] of this.pending) {
      this.timers.clearTimeout(p.timer);
      p.resolve({ id, error: { message: 'whatsapp-web adapter stopped', code: 'not_connected', retryable: true } });
    }
    this.pending.clear();
    await this.inbound.catch(() => undefined);
  }

  // ---- the client's life -------------------------------------------------------------

  private connect(): void {
    if (!this.holder || this.state === 'stopped') return;
    this.reconnectTimer = null;
    let client: WebClient;
    try {
      client = this.o.factory.create();
    } catch (err) {
      this.scheduleReconnect(`client could not be created: ${(err as Error).message}`);
      return;
    }
    this.client = client;
    this.setState('starting');
    const current = () => this.client === client && this.state !== 'stopped';
    client.on('qr', (qr) => {
      if (!current()) return;
      this.qr = qr;
      this.setState('qr');
      this.printQr(qr);
    });
    client.on('ready', () => {
      if (!current()) return;
      this.qr = null;
      this.attempt = 0;
      this.lastError = undefined;
      this.setState('ready');
      this.log('info', 'whatsapp-web: connected');
    });
    client.on('auth_failure', (message) => {
      if (current()) this.scheduleReconnect(`authentication failed: ${message}`);
    });
    client.on('disconnected', (reason) => {
      if (current()) this.scheduleReconnect(`disconnected: ${reason}`);
    });
    client.on('message', (m) => {
      if (current()) this.onMessage(m);
    });
    client.on('message_ack', (m, ack) => {
      if (current()) this.onAck(m, ack);
    });
    client.initialize().catch((err: Error) => {
      if (current()) this.scheduleReconnect(`client failed to start: ${err.message}`);
    });
  }

  private scheduleReconnect(why: string): void {
    if (!this.holder || this.state === 'stopped' || this.reconnectTimer !== null) return;
    this.attempt++;
    this.lastError = why;
    const delay = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** (this.attempt - 1));
    this.log('warn', 'whatsapp-web: reconnecting', { why, attempt: this.attempt, delayMs: delay });
    void this.dropClient();
    this.qr = null;
    this.setState('reconnecting');
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.destroy().catch((err: Error) => this.log('warn', 'whatsapp-web: destroy failed', { err: err.message }));
  }

  // ---- inbound -------------------------------------------------------------------------

  private onMessage(m: WebMessage): void {
    const parsed = parseWebMessage(m, this.account);
    if (!('message' in parsed)) {
      if ('reject' in parsed) this.log('warn', 'whatsapp-web: message rejected', { reason: parsed.reject });
      return;
    }
    this.inbound = this.inbound
      .then(() => this.o.sink.accept({ messages: [parsed.message] }))
      .catch((err: Error) => this.log('error', 'whatsapp-web: inbound message could not be stored', { err: err.message, id: parsed.message.externalId }));
  }

  private onAck(m: WebMessage, ack: number): void {
    const status = ACKS[ack];
    if (!status || !m.id?._serialized || !m.fromMe) return;
    const update: StatusUpdate = { channel: 'whatsapp', account: this.account, externalId: m.id._serialized, status, timestamp: Date.now() };
    if (status === 'failed') update.error = { code: 'ack_error', message: 'WhatsApp Web reported the message as not delivered' };
    this.inbound = this.inbound.then(() => this.o.sink.accept({ statuses: [update] })).catch(() => undefined);
  }

  // ---- outbound ------------------------------------------------------------------------

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    if (this.client && this.state === 'ready') return this.sendHere(envelope);
    if (this.holder || this.state === 'stopped') {
      throw new SendError(`whatsapp-web is not connected (${this.state})`, 'not_connected', true, 30_000);
    }
    return this.forward(envelope);
  }

  private async sendHere(envelope: OutboundEnvelope): Promise<SendResult> {
    const client = this.client!;
    const chatId = chatIdOf(envelope.to);
    const { content } = envelope;
    const sendText = async (text: string) => {
      let id: string | undefined;
      for (const part of splitText(text, this.capabilities.maxTextLength)) id = (await this.call(() => client.sendMessage(chatId, part))).id._serialized;
      return { externalId: id };
    };
    switch (content.kind) {
      case 'text':
        return sendText(content.text);
      case 'choice':
        // Buttons and lists are deprecated in WhatsApp Web: options as numbered lines.
        return sendText(numberedText(content.text, content.options));
      case 'template':
        throw new SendError('whatsapp-web has no message templates', 'templates_unsupported', false);
      case 'media': {
        const { media } = content;
        const caption = content.text ?? media.caption;
        if (media.path && this.o.factory.mediaFromFile) {
          const file = await this.o.factory.mediaFromFile(media.path, media.mimeType ?? 'application/octet-stream', media.filename);
          const sent = await this.call(() => client.sendMessage(chatId, file, { ...(caption ? { caption } : {}), ...(media.type === 'document' || media.type === 'file' ? { sendMediaAsDocument: true } : {}) }));
          return { externalId: sent.id._serialized };
        }
        if (media.url) return sendText([caption, media.url].filter(Boolean).join('\n'));
        throw new SendError('media needs a stored file or a url', 'invalid_media', false);
      }
    }
  }

  /** A client call; failures of the browser session are worth retrying. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new SendError(`whatsapp-web send failed: ${(err as Error).message}`, 'send_failed', true);
    }
  }

  /** Inbound media by message id (the id is the media reference), downloaded through the session holder's client. */
  async fetchMedia(mediaId: string): Promise<{ data: Buffer; mimeType?: string; size: number }> {
    const client = this.client;
    if (!client || this.state !== 'ready' || !client.getMessageById) {
      throw new SendError(`whatsapp-web media is only available from the process holding the session while connected (${this.state})`, 'media_unavailable', true);
    }
    const message = await client.getMessageById(mediaId);
    const media = message?.downloadMedia ? await message.downloadMedia() : undefined;
    if (!media) throw new SendError(`media of ${mediaId} is no longer available on the phone`, 'media_unavailable', false);
    const data = Buffer.from(media.data, 'base64');
    return { data, mimeType: media.mimetype, size: data.length };
  }

  /** Asks the process holding the session to send; its answer comes back on our reply topic. */
  private async forward(envelope: OutboundEnvelope): Promise<SendResult> {
    const id = randomUUID();
    const reply = await new Promise<ForwardReply>((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(id);
        // The holder may have sent it: never retry blindly (at most once).
        resolve({ id, error: { message: 'no answer from the process holding the whatsapp-web session: delivery unknown', code: 'delivery_unknown', retryable: false } });
      }, this.o.forwardTimeoutMs ?? 30_000);
      this.pending.set(id, { resolve, timer });
      const req: ForwardRequest = { id, replyTo: replyTopic(this.instance), envelope };
      this.o.coord.publish(SEND_TOPIC, JSON.stringify(req)).catch((err: Error) => {
        this.timers.clearTimeout(timer);
        this.pending.delete(id);
        resolve({ id, error: { message: `could not reach the session holder: ${err.message}`, code: 'not_connected', retryable: true } });
      });
    });
    if (reply.error) throw new SendError(reply.error.message, reply.error.code, reply.error.retryable, reply.error.retryAfterMs);
    return { externalId: reply.externalId };
  }

  private async onForwarded(raw: string): Promise<void> {
    if (!this.holder) return; // only the session holder answers
    const req = JSON.parse(raw) as ForwardRequest;
    let reply: ForwardReply;
    try {
      reply = { id: req.id, ...(await this.send(req.envelope)) };
    } catch (err) {
      const e = err instanceof SendError ? err : new SendError(String((err as Error).message ?? err), 'send_failed', true);
      reply = { id: req.id, error: { message: e.message, code: e.code, retryable: e.retryable, ...(e.retryAfterMs ? { retryAfterMs: e.retryAfterMs } : {}) } };
    }
    await this.o.coord.publish(req.replyTo, JSON.stringify(reply)).catch(() => undefined);
  }

  private onReply(raw: string): void {
    const reply = JSON.parse(raw) as ForwardReply;
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.timers.clearTimeout(p.timer);
    p.resolve(reply);
  }

  // ---- helpers -------------------------------------------------------------------------

  private setState(state: WebState): void {
    this.state = state;
    try {
      this.o.onStatus?.(this.status());
    } catch {
      /* a failing observer must not break the transport */
    }
  }

  private printQr(qr: string): void {
    if (this.o.printQr) return this.o.printQr(qr);
    void import('qrcode-terminal').then((m) => {
      const generate = (m.default?.generate ?? m.generate) as (t: string, o: { small: boolean }) => void;
      process.stdout.write('Scan this QR code with WhatsApp on the phone (Settings > Linked devices):\n');
      generate(qr, { small: true });
    }).catch(() => process.stdout.write(`WhatsApp Web login QR: ${qr}\n`));
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, obj?: Record<string, unknown>): void {
    this.o.log?.(level, msg, obj);
  }
}
