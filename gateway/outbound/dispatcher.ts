// Sends outbox rows through their channel adapter. At most once: a row is claimed
// (status sending) before the platform call; a row found still `sending` after its
// claim expired (the process died mid-send) is marked failed as "delivery unknown",
// never sent again. Transient failures go back to pending with backoff.
// Rows of one recipient are sent one after another, in order.
// Throttling (Graph codes 4, 80007, 130429, 131048, 131056, 133016) pauses only the
// throttled sender phone number / account (131056: only that business-customer pair):
// its rows wait until the pause ends (Retry-After when given), other numbers go on.

import type { OutboundEnvelope, Channel } from '../../adapters/types.js';
import { SendError } from '../../adapters/types.js';
import type { Clock } from '../clock.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ChannelRegistry } from '../channels.js';
import type { TicketEvent } from '../../tickets/events.js';
import { writtenOutbox, type OutboxPayload } from './outbox.js';
import { crashPoint } from '../crash-points.js';

const CLAIM_MS = 60_000;
const MAX_ATTEMPTS = 8;

/** Graph error codes that mean "slow down" rather than "this message is broken". */
export const THROTTLE_CODES: ReadonlySet<string> = new Set(['4', '80007', '130429', '131048', '131056', '133016']);
/** Pair rate limit: only this business number -> this customer is throttled. */
const PAIR_THROTTLE_CODES: ReadonlySet<string> = new Set(['131056']);

/** Rows of one conversation (channel, account, recipient) are sent one after another. */
const chainKey = (r: { channel: string; account: string; recipient: string }) => `${r.channel}|${r.account}|${r.recipient}`;

/** The pause keys a row is subject to: its sender account, and its (account, recipient) pair. */
function pauseKeys(row: { channel: string; account: string; recipient: string }): [string, string] {
  return [`${row.channel}|${row.account}`, `${row.channel}|${row.account}|${row.recipient}`];
}

interface OutboxRow {
  id: string;
  messageId: string;
  channel: Channel;
  account: string;
  recipient: string;
  payload: string;
  status: string;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  /** The message's ticket, when known (saves a lookup when the result is published). */
  ticketId?: string;
}

export function backoffMs(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs) return retryAfterMs;
  const base = Math.min(60_000, 500 * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

export class Dispatcher {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inflight = new Set<Promise<void>>();
  /** Resolves a stored attachment to its file, for media content queued by id (gateway/media). */
  mediaPath: ((attachmentId: string) => Promise<string | null>) | null = null;
  /** Dispatch calls hand their rows to the recipients' chains in call order. */
  private ordered: Promise<void> = Promise.resolve();
  /** Rows waiting for a retry, by conversation chain (later rows of that chain wait behind them). */
  private readonly retrying = new Map<string, Set<string>>();
  /** Throttled senders (or pairs) -> clock time their pause ends. */
  private readonly pauses = new Map<string, number>();

  constructor(
    private readonly sql: Sql,
    private readonly channels: ChannelRegistry,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly publish: (events: TicketEvent[]) => void,
    /** Called with (channel, externalId, messageId) after a successful send, e.g. to record email Message-IDs. */
    private readonly onSent?: (row: { channel: Channel; messageId: string; externalId?: string }) => void,
  ) {}

  /**
   * Queues rows for sending, in order per recipient. The rows' recipients are looked up
   * (concurrently), but rows are handed to their recipient's chain in the order dispatch()
   * was called, so a reply and the files after it, or two bot messages, never overtake.
   */
  dispatch(ids: string[], recipientOf?: (id: string) => string): void {
    if (!ids.length) return;
    if (recipientOf) {
      for (const id of ids) this.enqueue(recipientOf(id), id);
      return;
    }
    // Rows this process just wrote are known (outbox.ts); only the others are read, in one query.
    const known = new Map<string, OutboxRow>();
    for (const id of ids) {
      const w = writtenOutbox.get(id);
      if (!w) continue;
      writtenOutbox.delete(id);
      known.set(id, { ...w, status: 'pending', attempts: 0, nextAttemptAt: w.createdAt });
    }
    const missing = ids.filter((id) => !known.has(id));
    const rows = missing.length
      ? this.sql.query<OutboxRow>(
        `SELECT o.*, m.ticketId AS ticketId FROM outbox o LEFT JOIN messages m ON m.id = o.messageId WHERE o.id IN (${missing.map(() => '?').join(', ')})`,
        missing,
      )
      : Promise.resolve([] as OutboxRow[]);
    const done = this.ordered.then(() => rows).then((found) => {
      for (const r of found) known.set(r.id, r);
      for (const id of ids) {
        const r = known.get(id);
        this.enqueue(r ? chainKey(r) : id, id, r);
      }
    });
    this.ordered = done.catch((err) => this.log.error({ err, outbox: ids }, 'outbox dispatch lookup failed; the sweep will send these rows'));
  }

  private enqueue(chainKey: string, id: string, row?: OutboxRow): void {
    const prev = this.chains.get(chainKey) ?? Promise.resolve();
    const next: Promise<void> = prev.then(async () => void (await this.sendOne(id, row))).catch((err) => this.log.error({ err, outbox: id }, 'outbox send crashed'));
    this.chains.set(chainKey, next);
    this.inflight.add(next);
    void next.finally(() => {
      this.inflight.delete(next);
      if (this.chains.get(chainKey) === next) this.chains.delete(chainKey);
    });
  }

  /** Claims and sends one row; false when another process (or an earlier call) has it. */
  async sendOne(id: string, known?: OutboxRow): Promise<boolean> {
    const now = this.clock.now();
    // `known`: the row as dispatch() found it a moment ago. It may be stale by now; the
    // claim below (status and due time checked by the UPDATE) is what decides.
    const [found] = known ? [known] : await this.sql.query<OutboxRow>('SELECT * FROM outbox WHERE id = ?', [id]);
    if (!found || found.status !== 'pending' || Number(found.nextAttemptAt) > now) return false;
    // Throttled sender, or an older message of this conversation waiting for its retry: wait behind it.
    const until = Math.max(this.pausedUntil(found, now), await this.olderWaiting(found, now));
    if (until > now) {
      await this.defer(found, until, now);
      return false;
    }
    const claimed = await this.sql.execute(
      "UPDATE outbox SET status = 'sending', lockedUntil = ?, attempts = attempts + 1, updatedAt = ? WHERE id = ? AND status = 'pending' AND nextAttemptAt <= ?",
      [now + CLAIM_MS, now, id, now],
    );
    if (!claimed.affected) return false;
    const row: OutboxRow = { ...found, status: 'sending', attempts: Number(found.attempts) + 1 };
    const payload = JSON.parse(row.payload) as OutboxPayload;
    const adapter = this.channels.get(row.channel, row.account);
    if (!adapter) {
      await this.finish(row, 'failed', { error: `no ${row.channel} adapter for account ${row.account}` });
      return true;
    }
    let content = payload.content;
    if (content.kind === 'media' && content.media.attachmentId && !content.media.path && this.mediaPath) {
      const file = await this.mediaPath(content.media.attachmentId);
      if (file) content = { ...content, media: { ...content.media, path: file } };
    }
    const envelope: OutboundEnvelope = {
      messageId: row.messageId,
      channel: row.channel,
      account: row.account,
      to: row.recipient,
      content,
      author: payload.author,
      ...(payload.tag ? { tag: payload.tag } : {}),
      ...(payload.email ? { email: payload.email } : {}),
    };
    try {
      crashPoint('before-send');
      const result = await adapter.send(envelope);
      crashPoint('after-send');
      await this.finish(row, 'sent', { externalId: result.externalId ?? result.messageIdHeader });
      this.onSent?.({ channel: row.channel, messageId: row.messageId, externalId: result.messageIdHeader ?? result.externalId });
    } catch (err) {
      const e = err instanceof SendError ? err : new SendError((err as Error).message ?? String(err), 'network', true);
      const attempts = Number(row.attempts);
      if (e.retryable && attempts < MAX_ATTEMPTS) {
        const wait = backoffMs(attempts, e.retryAfterMs);
        if (THROTTLE_CODES.has(e.code)) {
          const [accountKey, pairKey] = pauseKeys(row);
          this.pauses.set(PAIR_THROTTLE_CODES.has(e.code) ? pairKey : accountKey, this.clock.now() + wait);
        }
        await this.sql.execute("UPDATE outbox SET status = 'pending', lockedUntil = NULL, nextAttemptAt = ?, error = ?, updatedAt = ? WHERE id = ?", [
          this.clock.now() + wait, `${e.code}: ${e.message}`, this.clock.now(), row.id,
        ]);
        this.metrics.outbound.inc({ channel: row.channel, result: 'retry' });
        this.log.warn({ outbox: row.id, code: e.code, attempt: attempts, waitMs: Math.round(wait) }, 'send failed, will retry');
        this.markRetrying(row, true);
        this.retryLater(chainKey(row), row.id, wait);
      } else {
        await this.finish(row, 'failed', { error: `${e.code}: ${e.message}` });
      }
    }
    return true;
  }

  /** The end of a throttling pause the row's sender (or pair) is under; 0 when none. */
  private pausedUntil(row: { channel: string; account: string; recipient: string }, now: number): number {
    let until = 0;
    for (const key of pauseKeys(row)) {
      const t = this.pauses.get(key);
      if (t === undefined) continue;
      if (t <= now) this.pauses.delete(key);
      else until = Math.max(until, t);
    }
    return until;
  }

  /**
   * When an older row of the same conversation is waiting for a retry (known to this
   * process), its next attempt time: a later message must not overtake it. 0 when none.
   */
  private async olderWaiting(row: OutboxRow, now: number): Promise<number> {
    const waiting = [...(this.retrying.get(chainKey(row)) ?? [])].filter((x) => x !== row.id);
    if (!waiting.length) return 0;
    const rows = await this.sql.query<{ nextAttemptAt: number }>(
      `SELECT nextAttemptAt FROM outbox WHERE id IN (${waiting.map(() => '?').join(', ')}) AND status IN ('pending', 'sending') AND (createdAt < ? OR (createdAt = ? AND id < ?))`,
      [...waiting, Number(row.createdAt), Number(row.createdAt), row.id],
    );
    const next = Math.max(0, ...rows.map((r) => Number(r.nextAttemptAt)));
    return next > now ? next : 0;
  }

  /** Moves a row's next attempt to `until` (no attempt counted) and schedules it then. */
  private async defer(row: OutboxRow, until: number, now: number): Promise<void> {
    const { affected } = await this.sql.execute(
      "UPDATE outbox SET nextAttemptAt = ?, updatedAt = ? WHERE id = ? AND status = 'pending' AND nextAttemptAt < ?",
      [until, now, row.id, until],
    );
    if (affected) this.retryLater(chainKey(row), row.id, until - now);
  }

  private markRetrying(row: OutboxRow, waiting: boolean): void {
    const key = chainKey(row);
    const set = this.retrying.get(key) ?? new Set<string>();
    if (waiting) set.add(row.id);
    else set.delete(row.id);
    if (set.size) this.retrying.set(key, set);
    else this.retrying.delete(key);
  }

  /** Whether sends from this account (or to this pair) are paused by throttling right now. */
  isPaused(row: { channel: string; account: string; recipient: string }): boolean {
    const now = this.clock.now();
    return pauseKeys(row).some((k) => (this.pauses.get(k) ?? 0) > now);
  }

  private retryLater(key: string, id: string, wait: number): void {
    const timer = setTimeout(() => this.enqueue(key, id), wait);
    timer.unref();
  }

  private async finish(row: OutboxRow, status: 'sent' | 'failed', r: { externalId?: string; error?: string }): Promise<void> {
    this.markRetrying(row, false);
    const now = this.clock.now();
    const ticketId = await this.sql.tx(async (tx) => {
      await tx.defer('UPDATE outbox SET status = ?, lockedUntil = NULL, error = ?, updatedAt = ? WHERE id = ?', [status, r.error ?? null, now, row.id]);
      // A status webhook may have arrived first (delivered/read): never move a message back,
      // but record its platform id all the same. One statement: `status` is assigned last
      // because MySQL evaluates SET left to right (the CASEs must see the old status).
      await tx.defer(
        `UPDATE messages SET error = CASE WHEN status = 'queued' THEN ? ELSE error END, updatedAt = CASE WHEN status = 'queued' THEN ? ELSE updatedAt END,
          externalId = CASE WHEN status = 'queued' THEN COALESCE(?, externalId) ELSE COALESCE(externalId, ?) END,
          status = CASE WHEN status = 'queued' THEN ? ELSE status END WHERE id = ?`,
        [r.error ?? null, now, r.externalId ?? null, r.externalId ?? null, status, row.messageId],
      );
      if (row.ticketId) return row.ticketId;
      const m = await tx.query<{ ticketId: string }>('SELECT ticketId FROM messages WHERE id = ?', [row.messageId]);
      return m[0]?.ticketId;
    });
    this.metrics.outbound.inc({ channel: row.channel, result: status });
    if (status === 'failed') this.log.warn({ outbox: row.id, error: r.error }, 'outbound message failed');
    if (ticketId) this.publish([{ type: 'message.updated', ticketId, at: now, data: { messageId: row.messageId, status, error: r.error ?? null } }]);
  }

  /**
   * Recovery sweep (run by the lease holder): rows due for a retry, rows left pending by
   * a process that died before dispatching, and rows stuck in `sending` past their claim.
   */
  async sweep(): Promise<number> {
    const now = this.clock.now();
    const stuck = await this.sql.query<OutboxRow>("SELECT * FROM outbox WHERE status = 'sending' AND lockedUntil < ? LIMIT 100", [now]);
    for (const row of stuck) {
      const { affected } = await this.sql.execute("UPDATE outbox SET status = 'failed', error = ?, updatedAt = ? WHERE id = ? AND status = 'sending' AND lockedUntil < ?", [
        'interrupted while sending: delivery unknown, not retried to avoid a duplicate', now, row.id, now,
      ]);
      if (affected) await this.finish(row, 'failed', { error: 'interrupted while sending: delivery unknown, not retried to avoid a duplicate' });
    }
    const due = await this.sql.query<{ id: string; channel: string; account: string; recipient: string }>(
      "SELECT id, channel, account, recipient FROM outbox WHERE status = 'pending' AND nextAttemptAt <= ? ORDER BY createdAt, id LIMIT 500",
      [now - 2000],
    );
    for (const r of due) this.enqueue(chainKey(r), r.id);
    return due.length + stuck.length;
  }

  async drain(): Promise<void> {
    await this.ordered;
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }
}
