// The part of a whatsapp-web.js Client the adapter uses. The adapter gets clients from a
// factory, so tests drive it with a fake (an EventEmitter emitting real-shaped objects)
// and production with the real Client on Debian's Chromium (real-client.ts).

/** A whatsapp-web.js Message, as far as we read it. */
export interface WebMessage {
  id: { _serialized: string; fromMe?: boolean; remote?: string; id?: string };
  /** '<digits>@c.us' for a person, '<id>@g.us' for a group, 'status@broadcast' for statuses, '<id>@lid' for hidden numbers. */
  from: string;
  to?: string;
  /** Group messages: the member who wrote. */
  author?: string;
  body: string;
  /** 'chat', 'image', 'video', 'audio', 'ptt', 'document', 'sticker', 'location', 'vcard', 'revoked', ... */
  type: string;
  /** Seconds since the epoch. */
  timestamp: number;
  hasMedia: boolean;
  fromMe: boolean;
  isStatus?: boolean;
  hasQuotedMsg?: boolean;
  location?: { latitude: number | string; longitude: number | string; description?: string; name?: string; address?: string };
  vCards?: string[];
  /** Raw data: notifyName is the sender's profile name. */
  _data?: { notifyName?: string; mimetype?: string; filename?: string; caption?: string; quotedStanzaID?: string; [k: string]: unknown };
  downloadMedia?(): Promise<{ data: string; mimetype: string; filename?: string | null } | undefined>;
}

/** Media to send (whatsapp-web.js MessageMedia); built by the client factory. */
export type WebMedia = unknown;

export interface WebClient {
  on(event: 'qr', listener: (qr: string) => void): this;
  on(event: 'ready' | 'authenticated', listener: () => void): this;
  on(event: 'auth_failure', listener: (message: string) => void): this;
  on(event: 'disconnected', listener: (reason: string) => void): this;
  on(event: 'message', listener: (message: WebMessage) => void): this;
  on(event: 'message_ack', listener: (message: WebMessage, ack: number) => void): this;
  initialize(): Promise<void>;
  sendMessage(chatId: string, content: string | WebMedia, options?: { caption?: string; sendMediaAsDocument?: boolean }): Promise<{ id: { _serialized: string } }>;
  destroy(): Promise<void>;
  /** A message by its serialized id (for downloading its media later). */
  getMessageById?(messageId: string): Promise<WebMessage | null | undefined>;
}

export interface WebClientFactory {
  create(): WebClient;
  /** A media object from a stored file (MessageMedia.fromFilePath); absent: media goes as a link in text. */
  mediaFromFile?(path: string, mimeType: string, filename?: string): Promise<WebMedia>;
}
