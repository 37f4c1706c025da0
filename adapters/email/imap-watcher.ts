// Watches one IMAP mailbox and hands every new mail to the gateway's InboundSink.
//
// - IDLE (imapflow's auto-IDLE), broken and re-issued every `idleRestartMs` (default 25 min,
//   under RFC 2177's 29). On servers without IDLE, imapflow polls with NOOP instead
//   (`missingIdleCommand: 'NOOP'`, every min(idleRestartMs, 2 min)).
// - Checkpoint `{uidValidity, lastUid}` in a CheckpointStore. On (re)connect everything after
//   lastUid is fetched, oldest first: mail that arrived while we were down is imported. The
//   checkpoint moves past a mail only after `sink.accept` resolved for it, so nothing is lost;
//   a crash between accept and the checkpoint write re-delivers that one mail, which the
//   gateway drops by Message-ID (its dedupe key, `externalId`).
// - UIDVALIDITY change (mailbox recreated or restored, UIDs renumbered): the old lastUid means
//   nothing any more, so the whole mailbox is re-scanned from UID 1 under the new UIDVALIDITY and
//   mails already imported are dropped downstream by Message-ID dedupe. (Mails without a
//   Message-ID get a hash of their source as id, so they dedupe too.)
// - A dropped connection (close/error) gets a new client after a backoff (exponential, capped,
//   reset after a successful catch-up).
// - The mailbox is opened read-only (EXAMINE): the watcher never changes flags or moves mail.
// - Exactly one process may watch a mailbox: the gateway holds a lease around start()/stop().
//   stop() waits for the mail being handed over to be accepted and checkpointed, then logs out.

import { EventEmitter } from 'node:events';
import type { ConnectionOptions } from 'node:tls';
import { ImapFlow } from 'imapflow';
import type { InboundMessage, InboundSink } from '../types.js';
import type { CheckpointStore } from './checkpoint.js';
import { parseEmail } from './parse.js';

export interface ImapCheckpoint {
  /** UIDVALIDITY of the mailbox (a string: IMAP allows 32-bit unsigned, imapflow gives a bigint). */
  uidValidity: string;
  /** Highest UID handed to the sink (0: none yet). */
  lastUid: number;
}

export interface Logger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  debug?(obj: unknown, msg?: string): void;
}

export interface ImapWatcherOptions {
  /** `imap://user:pass@host:143/INBOX` or `imaps://user:pass@host:993/INBOX` (IMAP_URL). */
  imapUrl: string;
  /** The support address (InboundMessage.account). */
  account: string;
  sink: InboundSink;
  checkpoints: CheckpointStore<ImapCheckpoint>;
  /** Defaults to `imap:<user>@<host>:<port>/<mailbox>`. */
  checkpointKey?: string;
  /** Further addresses of ours (loop protection). */
  ownAddresses?: string[];
  /** Break and re-issue IDLE after this long. Default 25 minutes (RFC 2177: under 29). */
  idleRestartMs?: number;
  /** Start IDLE this long after the last command. Default 1000 ms. */
  idleStartDelayMs?: number;
  /** Reconnect backoff: initialMs * 2^(attempt-1), capped at maxMs. Defaults 1 s and 60 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** First start without a checkpoint: 'all' imports the mailbox's current content (default), 'new' only what arrives later. */
  initialSync?: 'all' | 'new';
  /** Replaces parseEmail (tests). */
  parse?: (raw: Buffer) => Promise<InboundMessage>;
  logger?: Logger;
  tls?: ConnectionOptions;
  /** Passed to imapflow (ms). Defaults 30 s / 5 min. */
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export interface ImapTarget {
  secure: boolean;
  host: string;
  port: number;
  user: string;
  pass: string;
  mailbox: string;
}

export function parseImapUrl(url: string): ImapTarget {
  const u = new URL(url);
  if (u.protocol !== 'imap:' && u.protocol !== 'imaps:') throw new Error(`IMAP_URL must start with imap:// or imaps:// (got ${u.protocol}//)`);
  const secure = u.protocol === 'imaps:';
  const mailbox = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'INBOX';
  return {
    secure,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : secure ? 993 : 143,
    user: decodeURIComponent(u.username),
    pass: decodeURIComponent(u.password),
    mailbox,
  };
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * Events: `connected` ({uidValidity, lastUid}), `uidValidityChanged` ({from, to}),
 * `delivered` ({uid, message}), `synced` ({lastUid}), `disconnected` ({error?}),
 * `retry` ({attempt, delayMs, error}).
 */
export class ImapWatcher extends EventEmitter {
  private readonly target: ImapTarget;
  private readonly key: string;
  private readonly log: Logger;
  private loop?: Promise<void>;
  private stopping = false;
  private wake?: () => void;
  private client?: ImapFlow;
  private checkpoint?: ImapCheckpoint;
  private syncRunning?: Promise<boolean>;
  private syncWanted = false;

  constructor(private readonly opts: ImapWatcherOptions) {
    super();
    this.target = parseImapUrl(opts.imapUrl);
    this.key = opts.checkpointKey ?? `imap:${this.target.user}@${this.target.host}:${this.target.port}/${this.target.mailbox}`;
    this.log = opts.logger ?? silent;
  }

  get checkpointKey(): string {
    return this.key;
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Starts watching (returns at once; connection and catch-up run in the background). */
  async start(): Promise<void> {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  /** Stops watching: lets the mail in hand finish (accepted + checkpointed), then logs out. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  // -------------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const stopped = new Promise<void>((resolve) => (this.wake = resolve));
      const client = this.createClient();
      this.client = client;
      let closed = false;
      const whenClosed = new Promise<void>((resolve) =>
        client.once('close', () => {
          closed = true;
          resolve();
        }),
      );
      let failure: unknown;
      client.on('error', (err: unknown) => {
        failure = err;
        this.log.warn({ err, mailbox: this.target.mailbox }, 'IMAP connection error');
      });
      try {
        await client.connect();
        const mailbox = await client.mailboxOpen(this.target.mailbox, { readOnly: true });
        await this.loadCheckpoint(String(mailbox.uidValidity), Number(mailbox.uidNext));
        client.on('exists', () => void this.requestSync(client));
        this.emit('connected', { uidValidity: this.checkpoint!.uidValidity, lastUid: this.checkpoint!.lastUid });
        this.log.info({ mailbox: this.target.mailbox, lastUid: this.checkpoint!.lastUid }, 'IMAP watcher connected');
        const ok = await this.requestSync(client);
        if (ok) attempt = 0;
        await Promise.race([whenClosed, stopped]);
      } catch (err) {
        failure = err;
      }
      // Let the mail in hand finish before letting go of the connection.
      await this.syncRunning;
      if (!closed) {
        if (this.stopping && client.usable) await client.logout().catch(() => client.close());
        else client.close();
      }
      this.client = undefined;
      if (this.stopping) break;
      this.emit('disconnected', { error: failure });
      attempt++;
      const { initialMs = 1000, maxMs = 60_000 } = this.opts.backoff ?? {};
      const delayMs = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
      this.log.warn({ err: failure, attempt, delayMs }, 'IMAP watcher reconnecting');
      this.emit('retry', { attempt, delayMs, error: failure });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
        if (this.stopping) this.wake();
      });
    }
  }

  private createClient(): ImapFlow {
    const t = this.target;
    return new ImapFlow({
      host: t.host,
      port: t.port,
      secure: t.secure,
      auth: { user: t.user, pass: t.pass },
      logger: false,
      tls: this.opts.tls,
      maxIdleTime: this.opts.idleRestartMs ?? 25 * 60_000,
      missingIdleCommand: 'NOOP',
      autoIdleDelay: this.opts.idleStartDelayMs ?? 1000,
      connectionTimeout: this.opts.connectionTimeoutMs ?? 30_000,
      socketTimeout: this.opts.socketTimeoutMs ?? 5 * 60_000,
    });
  }

  private async loadCheckpoint(uidValidity: string, uidNext: number): Promise<void> {
    const stored = await this.opts.checkpoints.get(this.key);
    if (!stored) {
      const lastUid = this.opts.initialSync === 'new' ? Math.max(0, uidNext - 1) : 0;
      this.checkpoint = { uidValidity, lastUid };
      await this.opts.checkpoints.set(this.key, this.checkpoint);
    } else if (stored.uidValidity !== uidValidity) {
      this.log.warn({ from: stored.uidValidity, to: uidValidity, mailbox: this.target.mailbox }, 'IMAP UIDVALIDITY changed: re-scanning the mailbox');
      this.emit('uidValidityChanged', { from: stored.uidValidity, to: uidValidity });
      this.checkpoint = { uidValidity, lastUid: 0 };
      await this.opts.checkpoints.set(this.key, this.checkpoint);
    } else {
      this.checkpoint = { ...stored };
    }
  }

  /** Runs (or queues another round of) the catch-up; resolves true when it completed without error. */
  private requestSync(client: ImapFlow): Promise<boolean> {
    this.syncWanted = true;
    // A round in progress picks the request up (it loops while syncWanted); if it was already
    // finishing, start another once it is done.
    if (this.syncRunning) return this.syncRunning.then((ok) => (ok && this.syncWanted && !this.stopping ? this.requestSync(client) : ok));
    const run = (async () => {
      try {
        while (this.syncWanted && !this.stopping && client.usable) {
          this.syncWanted = false;
          await this.syncOnce(client);
        }
        return true;
      } catch (err) {
        this.log.error({ err, mailbox: this.target.mailbox }, 'IMAP catch-up failed; reconnecting');
        client.close(); // the run loop reconnects (with backoff) and catches up from the checkpoint
        return false;
      }
    })();
    this.syncRunning = run;
    void run.finally(() => {
      if (this.syncRunning === run) this.syncRunning = undefined;
    });
    return run;
  }

  private async syncOnce(client: ImapFlow): Promise<void> {
    const cp = this.checkpoint!;
    const found = await client.search({ uid: `${cp.lastUid + 1}:*` }, { uid: true });
    // "n:*" also matches the highest UID when it is below n: filter.
    const uids = (found || []).filter((u) => u > cp.lastUid).sort((a, b) => a - b);
    for (const uid of uids) {
      if (this.stopping) return;
      const msg = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
      let message: InboundMessage | undefined;
      if (msg && msg.source) {
        try {
          message = await (this.opts.parse ?? ((raw) => parseEmail(raw, { account: this.opts.account, ownAddresses: this.opts.ownAddresses })))(msg.source);
        } catch (err) {
          // A mail we cannot parse at all must not block the mailbox forever; it stays in the mailbox.
          this.log.error({ err, uid, mailbox: this.target.mailbox }, 'unparseable mail skipped');
        }
      }
      if (message) await this.opts.sink.accept({ messages: [message] });
      const next = { uidValidity: cp.uidValidity, lastUid: uid };
      await this.opts.checkpoints.set(this.key, next);
      this.checkpoint = next;
      cp.lastUid = uid;
      this.emit('delivered', { uid, message });
    }
    this.emit('synced', { lastUid: this.checkpoint!.lastUid });
  }
}
