// The seam between transports and the rest of the gateway. Adapters turn platform
// payloads into these normalized shapes and send normalized outbound content; they
// know nothing about tickets or flows.

export type Channel = 'whatsapp' | 'instagram' | 'email';
export type TicketChannel = Channel | 'internal';
export const CHANNELS: readonly Channel[] = ['whatsapp', 'instagram', 'email'];

export interface MediaRef {
  type: 'image' | 'audio' | 'voice' | 'video' | 'document' | 'sticker' | 'file';
  /** Platform media id (WhatsApp: fetched on demand through GET /{media-id}). */
  mediaId?: string;
  url?: string;
  mimeType?: string;
  filename?: string;
  caption?: string;
  size?: number;
  /** The bytes, when the transport hands them over with the message (email attachments); the gateway stores them. */
  content?: Buffer;
  /** Where the gateway stored the bytes (attachments.storageKey) once `content` was written to a file. */
  storageKey?: string;
  sha256?: string;
  /** A file the gateway stores (attachments table): the dispatcher resolves it to `path` before sending. */
  attachmentId?: string;
}

export interface LocationRef {
  latitude: number;
  longitude: number;
  name?: string;
  address?: string;
  url?: string;
}

/** One customer message, normalized. `externalId` is the platform's id: the dedupe key. */
export interface InboundMessage {
  channel: Channel;
  /** The business account that received it: WhatsApp phone_number_id, Instagram account id, support address. */
  account: string;
  externalId: string;
  /** Platform id of the sender, used to answer (wa_id / BSUID, IGSID, email address). */
  from: string;
  /** Further identities of the same sender (e.g. WhatsApp business-scoped user id next to the phone number). */
  altIds?: string[];
  contactName?: string;
  /** Platform timestamp (ms since epoch): the messaging window counts from it. */
  timestamp: number;
  kind: 'text' | 'choice' | 'media' | 'location' | 'contacts' | 'reaction' | 'other';
  /** Visible text ('' when none). For a choice, the option's title. */
  text: string;
  /** A tapped button / list row / quick reply / postback: the option id we (or a template) offered. */
  choice?: { id: string; title?: string; source: 'button' | 'list' | 'quick_reply' | 'postback' | 'template_button' | 'flow' };
  media?: MediaRef[];
  location?: LocationRef;
  replyToExternalId?: string;
  /** Email: subject, headers needed for threading, loop protection flags. */
  email?: {
    subject?: string;
    messageId?: string;
    inReplyTo?: string;
    references?: string[];
    /** True when the mail is automatic (auto-reply, bulk, bounce...): never answer it automatically. */
    automatic?: boolean;
    bounceOf?: string;
    /** Bounces: the delivery-status reason (Status / Diagnostic-Code), when the report has one. */
    bounceReason?: string;
    /** Ticket references found in the mail: reply token in a recipient address (support+<ref>@) or our body marker. */
    refs?: string[];
    html?: string;
    rawRef?: string;
    /** The full original message source as received (the gateway stores it and may set rawRef). */
    raw?: Buffer;
  };
  /** Anything else worth keeping (flow response JSON, reaction emoji, referral...). */
  extra?: Record<string, unknown>;
}

export type DeliveryStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed';

/** A platform's delivery receipt for one of our outbound messages. */
export interface StatusUpdate {
  channel: Channel;
  account: string;
  externalId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  timestamp: number;
  error?: { code: string; message: string };
}

/** Non-message platform events worth acting on. */
export type PlatformEvent =
  | { type: 'unsent'; channel: Channel; account: string; externalId: string }
  | { type: 'echo'; channel: Channel; account: string; to: string; externalId: string; text: string; timestamp: number }
  | { type: 'new_conversation'; channel: Channel; account: string; from: string; timestamp: number; title?: string; payload?: string };

/** Everything one webhook POST carried, normalized. */
export interface WebhookBatch {
  messages: InboundMessage[];
  statuses: StatusUpdate[];
  events: PlatformEvent[];
  /** Provider errors reported inside the payload (value.errors ...), logged. */
  errors: { code: string; message: string }[];
  /** Items accepted but deliberately not turned into anything, with why. */
  ignored: string[];
  /** Items refused (invalid sender id, bad timestamp...): nothing created from them. */
  rejected: string[];
}

export interface ChoiceOption {
  id: string;
  title: string;
  description?: string;
}

/** What the gateway asks a transport to send, before channel rendering. */
export type OutboundContent =
  | { kind: 'text'; text: string }
  | { kind: 'choice'; text: string; options: ChoiceOption[]; buttonLabel?: string }
  | { kind: 'template'; name: string; language: string; params: string[]; body?: string }
  | { kind: 'media'; media: MediaRef & { path?: string }; text?: string };

export interface OutboundEnvelope {
  /** Our message id (idempotency, logs). */
  messageId: string;
  channel: Channel;
  account: string;
  to: string;
  content: OutboundContent;
  author: 'bot' | 'agent' | 'system';
  /** Instagram: agent messages between 24 h and 7 days go with the HUMAN_AGENT tag. */
  tag?: 'HUMAN_AGENT';
  /** Email threading and loop protection. */
  email?: { subject?: string; inReplyTo?: string; references?: string[]; automatic?: boolean; ref?: string };
}

export interface SendResult {
  externalId?: string;
  /** Email: the Message-ID we generated, recorded for threading. */
  messageIdHeader?: string;
}

/** A send that failed. `retryable` says whether the dispatcher should try again later. */
export class SendError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'SendError';
  }
}

/** What a channel can show and when it may be written to. One place, used by rendering and outbound policy. */
export interface Capabilities {
  maxTextLength: number;
  /** Reply buttons (WhatsApp: 3, titles ≤ 20). 0 = none. */
  buttons: { max: number; titleMax: number };
  /** List rows (WhatsApp: 10 rows, ≤ 24 chars). 0 = none. */
  list: { max: number; titleMax: number };
  /** Quick replies (Instagram: 13, ≤ 20). 0 = none. */
  quickReplies: { max: number; titleMax: number };
  templates: boolean;
  /** Free-form window after the customer's last inbound message, ms; null = always open. */
  windowMs: number | null;
  /** Agents may still write (tagged HUMAN_AGENT) up to this long; null = no extension. */
  humanAgentWindowMs: number | null;
}

export interface ChannelAdapter {
  readonly channel: Channel;
  readonly capabilities: Capabilities;
  /** Sends one message; throws SendError on failure. */
  send(envelope: OutboundEnvelope): Promise<SendResult>;
  /** Downloads inbound media by its platform id (WhatsApp Cloud: GET /{media-id}, then the URL with the bearer token). */
  fetchMedia?(mediaId: string): Promise<{ data: Buffer; mimeType?: string; size: number }>;
  /** Optional lifecycle for transports with connections (IMAP, whatsapp-web). */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

/** Where transports that receive on their own (IMAP, whatsapp-web, simulator) hand messages over. */
export interface InboundSink {
  /** Resolves once the batch is durably stored (then the source may acknowledge / checkpoint). */
  accept(batch: Partial<WebhookBatch>): Promise<unknown>;
}
