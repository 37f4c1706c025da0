// The email channel, wired into the gateway (SPEC §5: IMAP_URL, SMTP_URL, SUPPORT_EMAIL).
//
// - Sending: the email adapter (nodemailer over SMTP_URL, From SUPPORT_EMAIL) is registered
//   in the ChannelRegistry for the support address, so the outbox/dispatcher send email like
//   any other channel (the message's externalId becomes the Message-ID we generated).
// - Receiving: an ImapWatcher (IDLE, checkpoint {UIDVALIDITY, last UID} in `channel_state`,
//   reconnect with backoff) run by exactly one process: the holder of the coordinator lease
//   `imap:<checkpointKey>`. Losing the lease stops the watcher (after the mail in hand is
//   accepted); getting it (again) starts it.
// - Each fetched mail is accepted into the inbound pipeline (stored in `inbound`, dedupe by
//   Message-ID) before the watcher moves its checkpoint. Bytes never go into that JSON: the
//   raw source and attachment contents are written to files under MEDIA_DIR first (the
//   media store: content-addressed, so a re-delivered mail rewrites nothing) and replaced by their
//   storage keys; tickets/email-threading.ts adds the `attachments` rows when the mail is
//   stored on a ticket. The original stays retrievable as the `original.eml` attachment.

import { SqlCheckpointStore } from '../adapters/email/checkpoint.js';
import type { ImapCheckpoint, ImapWatcherOptions } from '../adapters/email/imap-watcher.js';
import type { EmailAdapter } from '../adapters/email/send.js';
import type { InboundMessage, InboundSink, WebhookBatch } from '../adapters/types.js';
import type { ChannelRegistry } from './channels.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Coordinator, Lease } from './coordination/types.js';
import type { Sql } from './db/sql.js';
import type { Logger } from './log.js';
import { MediaStore } from './media/store.js';

export interface EmailChannelDeps {
  config: Config;
  sql: Sql;
  coord: Coordinator;
  channels: ChannelRegistry;
  /** The inbound pipeline. */
  sink: InboundSink;
  clock: Clock;
  log: Logger;
  /** Watcher knobs (tests: short backoff). */
  watcher?: Pick<ImapWatcherOptions, 'backoff' | 'idleRestartMs' | 'idleStartDelayMs'>;
}

export interface EmailChannel {
  readonly adapter: EmailAdapter;
  /** The support address (the email channel's account). */
  readonly account: string;
  /** The mailbox lease name (`imap:<checkpointKey>`), null when IMAP is not configured. */
  readonly leaseName: string | null;
  /** True while this process holds the mailbox lease and runs the watcher. */
  watching(): boolean;
  /** Joins the contest for the mailbox lease (when the gateway starts serving). */
  start(): void;
  /** Stops watching (the mail in hand is finished), releases the lease, closes SMTP. */
  stop(): Promise<void>;
}

/** Builds the email channel when it is configured (null when none of its variables is set). */
export async function createEmailChannel(d: EmailChannelDeps): Promise<EmailChannel | null> {
  const { imapUrl, smtpUrl, supportEmail, replyTokens, initialSync } = d.config.email;
  // MEDIA_DIR, the same store as agents' uploads (GET /api/media/:id serves mail parts too).
  const media = new MediaStore(d.sql, d.config.media.dir, d.config.media.maxBytes);
  if (!imapUrl && !smtpUrl && !supportEmail) return null;
  if (!smtpUrl || !supportEmail) {
    throw new Error('the email channel needs SMTP_URL and SUPPORT_EMAIL (and IMAP_URL to receive mail); set all three or none');
  }
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(supportEmail)) throw new Error(`SUPPORT_EMAIL is not an email address: ${supportEmail}`);
  if (!imapUrl) d.log.warn({ supportEmail }, 'email: SMTP_URL set without IMAP_URL: sending only, no mail is received');

  const sink: InboundSink = {
    async accept(batch: Partial<WebhookBatch>) {
      for (const m of batch.messages ?? []) await storeMailFiles(m, media);
      return d.sink.accept(batch);
    },
  };
  // Loaded only when email is configured: nodemailer, imapflow, mailparser and the HTML tools
  // are tens of MB of an idle gateway's memory otherwise.
  const { createEmailAdapter } = await import('../adapters/email/send.js');
  const adapter = createEmailAdapter({
    smtpUrl,
    supportEmail,
    replyTokens,
    clock: () => d.clock.now(),
    ...(imapUrl
      ? {
          imap: {
            imapUrl,
            sink,
            checkpoints: new SqlCheckpointStore<ImapCheckpoint>(d.sql, 'channel_state', () => d.clock.now()),
            initialSync,
            logger: d.log,
            ...(d.watcher ?? {}),
          },
        }
      : {}),
  });
  d.channels.register(adapter, supportEmail);

  const watcher = adapter.watcher;
  const leaseName = watcher ? `imap:${watcher.checkpointKey}` : null;
  let lease: Lease | null = null;
  let wanted = false;
  let chain: Promise<void> = Promise.resolve();
  // Lease callbacks may come quickly one after another: start/stop run one at a time, each
  // bringing the watcher to what is wanted at that moment.
  const reconcile = () => {
    chain = chain
      .then(async () => {
        if (!watcher) return;
        if (wanted && !watcher.running) {
          d.log.info({ lease: leaseName }, 'email: this process watches the mailbox');
          await watcher.start();
        } else if (!wanted && watcher.running) {
          d.log.info({ lease: leaseName }, 'email: no longer watching the mailbox');
          await watcher.stop();
        }
      })
      .catch((err) => d.log.error({ err }, 'email: starting/stopping the IMAP watcher failed'));
    return chain;
  };

  return {
    adapter,
    account: supportEmail,
    leaseName,
    watching: () => wanted && !!watcher?.running,
    start() {
      if (!watcher || lease) return;
      lease = d.coord.lease(leaseName!, {
        ttlMs: d.config.leaseTtlMs, // LEASE_TTL: a holder that died is replaced within this long
        onAcquired: () => {
          wanted = true;
          void reconcile();
        },
        onLost: () => {
          wanted = false;
          void reconcile();
        },
      });
    },
    async stop() {
      wanted = false;
      await reconcile();
      await lease?.release().catch(() => undefined);
      lease = null;
      await adapter.close();
    },
  };
}

// ---- files ------------------------------------------------------------------------------

/**
 * Writes a mail's bytes (raw source, attachment contents) to files through the media store
 * (content-addressed `email/<sha256>`, atomic, written once) and replaces them by storage keys in
 * the message: `email.rawRef` (+ `extra.rawSize`, `extra.rawSha256`), `media[].storageKey` / `sha256`.
 */
export async function storeMailFiles(m: InboundMessage, store: MediaStore): Promise<void> {
  const raw = m.email?.raw;
  if (raw && m.email) {
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as Uint8Array);
    const { storageKey, sha256 } = await store.write(buf, 'email');
    m.email.rawRef = storageKey;
    m.extra = { ...(m.extra ?? {}), rawSize: buf.length, rawSha256: sha256 };
    delete m.email.raw;
  }
  for (const media of m.media ?? []) {
    if (!media.content) continue;
    const { storageKey, sha256 } = await store.write(media.content, 'email');
    media.storageKey = storageKey;
    media.sha256 = sha256;
    media.size = media.content.length;
    delete media.content;
  }
}
