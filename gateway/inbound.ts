// The inbound pipeline. accept(): store every platform message durably (the webhook
// is acknowledged only after this), dropping duplicates by platform id. process():
// one turn at a time per conversation (a lock per conversation key, any process),
// threading into the open ticket, then the bot's turn for bot tickets.
//
// An inbound row moves received -> stored (threaded; bot turn pending) -> done.
// A crash anywhere leaves a row that recover() picks up: threading is idempotent by
// the message's unique platform id, and the bot's turn is idempotent by turnId.

import type { InboundMessage, InboundSink, StatusUpdate, WebhookBatch, PlatformEvent } from '../adapters/types.js';
import type { BotPort, BotSignal } from '../bot/port.js';
import type { Coordinator } from './coordination/types.js';
import type { Sql } from './db/sql.js';
import { newId } from './ids.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { TicketContext } from '../tickets/context.js';
import { Effects } from '../tickets/events.js';
import { handoff, loadTicket, moveStatus } from '../tickets/lifecycle.js';
import { BOT, type ConversationRow, type TicketRow } from '../tickets/model.js';
import { getConversation, getMessageByExternalId, insertTimeline, updateTicket } from '../tickets/store.js';
import { threadInbound } from '../tickets/threading.js';
import { ApiError } from '../tickets/errors.js';
import { csatAwaitingAnswer, csatTurnReopens, recordCsatPosition, CUSTOMER } from '../tickets/csat.js';
import { recordAppEcho } from './app-echoes.js';
import { crashPoint } from './crash-points.js';
import { KEY_CHARS } from './db/tables.js';

interface InboundRow {
  id: string;
  channel: string;
  account: string;
  externalId: string;
  convKey: string;
  payload: string;
  status: 'received' | 'stored' | 'done' | 'failed' | 'ignored';
  attempts: number;
  ticketId: string | null;
  receivedAt: number;
}

const MAX_ATTEMPTS = 5;

export interface PipelineDeps {
  sql: Sql;
  coord: Coordinator;
  ctx: TicketContext;
  bot: BotPort | null;
  log: Logger;
  metrics: Metrics;
  /** Publishes events, dispatches outbox rows, starts flows: everything after a commit. */
  afterCommit: (fx: Effects) => void;
}

/** Bytes never go into the JSON payload (a transport stores them as files first; this is the safety net). */
const withoutBuffers = (_key: string, v: unknown) => (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data) ? undefined : v);

/**
 * The largest payload stored per message. The columns hold 16 MB on MySQL since
 * migration 0006 (MEDIUMTEXT), but a row must also fit MySQL's max_allowed_packet, and
 * a megabyte of visible text is already far beyond any real message (an email's full
 * source is kept as a file).
 */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * The row payload of a message: its JSON, with the text cut (and `truncated` set) when
 * the whole would not fit the column (a very long email). Null when even that is too big.
 */
function storablePayload(msg: InboundMessage): string | null {
  let payload = JSON.stringify(msg, withoutBuffers);
  let text = msg.text ?? '';
  while (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
    if (!text) return null;
    text = text.slice(0, Math.floor(text.length / 2));
    payload = JSON.stringify({ ...msg, text, truncated: true }, withoutBuffers);
  }
  return payload;
}

export const convKeyOf = (m: { channel: string; account: string; from: string }) => `${m.channel}:${m.account}:${m.from}`;

/** Delivery receipts only move forward (a late `delivered` never undoes `read`). */
const STATUS_RANK: Record<string, number> = { queued: 0, sent: 1, delivered: 2, read: 3 };

export class InboundPipeline implements InboundSink {
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly d: PipelineDeps) {}

  /** Stores a webhook's content durably. Resolves when it is safe to acknowledge. */
  async accept(batch: Partial<WebhookBatch>): Promise<{ accepted: number; duplicates: number }> {
    const { sql, metrics } = this.d;
    const now = this.d.ctx.clock.now();
    const fresh: { row: InboundRow; msg: InboundMessage }[] = [];
    let duplicates = 0;
    const messages = batch.messages ?? [];
    if (messages.length) {
      // The database's unique (channel, account, platform id) is the dedupe: it holds
      // across processes and restarts, and a crash can never mark a message seen
      // without storing it (a cache in front of it could).
      // One message (nearly every WhatsApp webhook): its single INSERT is atomic by itself;
      // a transaction would only add two round trips on MySQL.
      const store = messages.length === 1 ? (fn: (tx: Sql) => Promise<void>) => fn(sql) : (fn: (tx: Sql) => Promise<void>) => sql.tx(fn);
      await store(async (tx) => {
        for (const msg of messages) {
          const convKey = convKeyOf(msg);
          if (msg.externalId.length > KEY_CHARS || convKey.length > KEY_CHARS) {
            // MySQL would cut the id to fit its column (INSERT IGNORE turns the error into a
            // warning): two different ids could then collide, and the message's own INSERT
            // would fail later. No platform sends ids this long; such a message is refused.
            this.d.log.warn({ channel: msg.channel, externalId: msg.externalId.slice(0, 64) }, 'inbound message id or address too long to store; dropped');
            continue;
          }
          const payload = storablePayload(msg);
          if (!payload) {
            this.d.log.warn({ channel: msg.channel, externalId: msg.externalId }, 'inbound message too large to store even with its text cut; dropped');
            continue;
          }
          const row: InboundRow = {
            id: newId(now), channel: msg.channel, account: msg.account, externalId: msg.externalId, convKey,
            payload, status: 'received', attempts: 0, ticketId: null, receivedAt: now,
          };
          const { affected } = await tx.execute(
            `${tx.insertIgnore()} INTO inbound (id, channel, account, externalId, convKey, payload, status, attempts, receivedAt) VALUES (?, ?, ?, ?, ?, ?, 'received', 0, ?)`,
            [row.id, row.channel, row.account, row.externalId, row.convKey, row.payload, now],
          );
          if (affected) fresh.push({ row, msg });
          else duplicates++;
        }
      });
    }
    for (const s of batch.statuses ?? []) await this.applyStatus(s);
    for (const e of batch.events ?? []) await this.applyEvent(e);
    for (const { msg } of fresh) metrics.inbound.inc({ channel: msg.channel });
    if (duplicates) metrics.duplicates.inc({ channel: messages[0]?.channel ?? 'unknown' }, duplicates);
    for (const key of new Set(fresh.map((f) => f.row.convKey))) this.schedule(key);
    return { accepted: fresh.length, duplicates };
  }

  /** Runs processing of one conversation in the background (tracked for graceful shutdown). */
  schedule(convKey: string): void {
    if (this.closed) return;
    const p = this.process(convKey).catch((err) => this.d.log.error({ err, convKey }, 'inbound processing failed; will be recovered'));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Processes every waiting message of a conversation, in order, holding its lock. */
  async process(convKey: string): Promise<void> {
    await this.d.coord.withLock(`conv:${convKey}`, async () => {
      const rows = await this.d.sql.query<InboundRow>("SELECT * FROM inbound WHERE convKey = ? AND status IN ('received', 'stored') ORDER BY receivedAt, id", [convKey]);
      const parsed: { r: InboundRow; msg: InboundMessage }[] = [];
      for (const r of rows) {
        try {
          parsed.push({ r, msg: JSON.parse(r.payload) as InboundMessage });
        } catch (err) {
          // One unreadable row must not hold the rest of the conversation back forever.
          this.d.log.error({ err, inbound: r.id }, 'stored inbound payload is unreadable; marked failed');
          await this.d.sql.execute("UPDATE inbound SET status = 'failed', error = ? WHERE id = ?", ['stored payload is not valid JSON', r.id]);
        }
      }
      // Platform order first: Meta may deliver a conversation's messages out of order.
      parsed.sort((a, b) => a.msg.timestamp - b.msg.timestamp || (a.r.id < b.r.id ? -1 : 1));
      for (const { r, msg } of parsed) await this.handle(r, msg);
    });
  }

  private async handle(row: InboundRow, msg: InboundMessage): Promise<void> {
    const started = Date.now();
    try {
      let ticket: TicketRow | null = null;
      let conversation: ConversationRow | undefined;
      let runBot = row.status === 'stored';
      if (row.status === 'received') {
        const r = await this.thread(row, msg);
        crashPoint('after-thread');
        ticket = r.ticket;
        conversation = r.conversation;
        runBot = r.runBot;
      } else if (row.ticketId) {
        ticket = await loadTicket(this.d.sql, row.ticketId);
      }
      if (runBot && ticket) await this.botTurn(row, msg, ticket, conversation);
      this.d.metrics.pipeline.observe({ channel: msg.channel }, (Date.now() - started) / 1000);
    } catch (err) {
      const attempts = Number(row.attempts) + 1;
      const failed = attempts >= MAX_ATTEMPTS;
      this.d.log.error({ err, inbound: row.id, attempts }, failed ? 'inbound message failed for good' : 'inbound message failed; will retry');
      await this.d.sql
        .execute('UPDATE inbound SET attempts = ?, error = ?, status = ? WHERE id = ?', [attempts, String((err as Error).message ?? err), failed ? 'failed' : row.status, row.id])
        .catch(() => undefined);
    }
  }

  /** Threads the message into its ticket (retried when a concurrent writer won a unique key). */
  private async thread(row: InboundRow, msg: InboundMessage): Promise<{ ticket: TicketRow | null; conversation?: ConversationRow; runBot: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const fx = new Effects();
      try {
        const result = await this.d.sql.tx(async (tx) => {
          const th = await threadInbound(this.d.ctx, tx, fx, msg, { payload: row.payload });
          if (!th) {
            // Deliberately no ticket (email: automatic mail with nothing to attach to).
            await tx.defer("UPDATE inbound SET status = 'ignored', processedAt = ? WHERE id = ?", [this.d.ctx.clock.now(), row.id]);
            return { ticket: null, runBot: false };
          }
          const runBot = !!this.d.bot && th.stored && ((th.ticket.type === 'bot' && th.ticket.status === 'active') || csatAwaitingAnswer(th.ticket)) && !msg.email?.automatic;
          await tx.defer('UPDATE inbound SET status = ?, ticketId = ?, messageId = ?, processedAt = ? WHERE id = ?', [
            runBot ? 'stored' : 'done', th.ticket.id, th.message.id, this.d.ctx.clock.now(), row.id,
          ]);
          return { ticket: th.ticket, conversation: th.conversation, runBot };
        });
        this.d.afterCommit(fx);
        return result;
      } catch (err) {
        if (attempt < 4 && this.d.sql.isUniqueViolation(err)) continue;
        throw err;
      }
    }
  }

  private async botTurn(row: InboundRow, msg: InboundMessage, ticket: TicketRow, conversation?: ConversationRow): Promise<void> {
    if ((ticket.type !== 'bot' || ticket.status !== 'active') && !csatAwaitingAnswer(ticket)) {
      await this.d.sql.execute("UPDATE inbound SET status = 'done' WHERE id = ?", [row.id]);
      return;
    }
    await this.runTurn(ticket, row.id, { message: { text: msg.text, choiceId: msg.choice?.id }, contactName: msg.contactName, conversation }, async (tx) => {
      await tx.defer("UPDATE inbound SET status = 'done', processedAt = ? WHERE id = ?", [this.d.ctx.clock.now(), row.id]);
    });
  }

  /**
   * One bot turn for a ticket: the bot computes replies and signals; replies go to the
   * outbox and signals are applied in one transaction, unless an agent took the
   * ticket meanwhile (then the bot stays silent).
   */
  async runTurn(
    ticket: TicketRow,
    turnId: string,
    input: { message?: { text: string; choiceId?: string }; startFlow?: string; contactName?: string; conversation?: ConversationRow },
    finish?: (tx: Sql) => Promise<void>,
  ): Promise<void> {
    const { bot, ctx } = this.d;
    if (!bot) return;
    const settings = await ctx.settings.get();
    const caps = ctx.outbound.capabilities(ticket.channel, ticket.account);
    if (!caps || ticket.channel === 'internal') return;
    let result;
    try {
      result = await bot.turn({
        turnId,
        conversationKey: ticket.id,
        ticketId: ticket.id,
        channel: ticket.channel,
        capabilities: caps,
        message: input.message,
        startFlow: input.startFlow,
        contact: { name: input.contactName ?? null },
        settings: { fallbackLimit: settings.fallbackLimit },
        now: ctx.clock.now(),
      });
    } catch (err) {
      // A failing bot never leaves the customer unanswered: agents take over.
      this.d.log.error({ err, ticket: ticket.id }, 'bot turn failed; handing off');
      result = { replies: [], signals: [{ kind: 'escalate', cause: 'bot_error', reason: (err as Error).message }] as BotSignal[] };
    }
    const fx = new Effects();
    await this.d.sql.tx(async (tx) => {
      let t = await loadTicket(tx, ticket.id);
      const botOwns = t.type === 'bot' && t.status === 'active';
      // A customer message while the rating is awaited (tickets/csat.ts): the feedback flow answers it.
      const csatTurn = !!input.message && csatAwaitingAnswer(t);
      const csat = csatTurn ? csatTurnReopens(t, result) : null;
      if (botOwns || input.startFlow === 'feedback' || csatTurn) {
        // Not an answer to the rating question: the bot's re-ask is dropped and the ticket reopens below.
        for (const content of csat === 'not_an_answer' ? [] : result.replies) {
          await ctx.outbound.enqueue(tx, fx, { ticket: t, content, author: 'bot', automatic: true, conversation: input.conversation }).catch((err) => {
            if (!(err instanceof ApiError)) throw err;
            this.d.log.info({ ticket: t.id, code: err.code }, 'bot reply not sent: channel rules');
          });
        }
        for (const s of result.signals) t = await this.applySignal(tx, fx, t, s);
        if (csat === 'escalate' || csat === 'not_an_answer') t = await moveStatus(ctx, tx, fx, t, 'active', CUSTOMER, { cause: 'reopened_by_customer', as: 'customer' });
        else if (csat === 'answer' || input.startFlow === 'feedback') await recordCsatPosition(tx, t, result);
      }
      await finish?.(tx);
    });
    this.d.afterCommit(fx);
  }

  private async applySignal(tx: Sql, fx: Effects, t: TicketRow, s: BotSignal): Promise<TicketRow> {
    const now = this.d.ctx.clock.now();
    if (s.kind === 'escalate') {
      if (t.type !== 'bot' || t.status !== 'active') return t;
      return handoff(this.d.ctx, tx, fx, t, BOT, { cause: s.cause, reason: s.reason, priority: s.priority });
    }
    if (s.kind === 'rating') {
      await updateTicket(tx, t.id, { csatScore: s.score, csatComment: s.comment ?? null, updatedAt: now });
      await insertTimeline(tx, t.id, now, 'csat', BOT, { score: s.score, ...(s.comment ? { comment: s.comment } : {}) });
      fx.event('ticket.updated', t.id, now, { csatScore: s.score });
      return { ...t, csatScore: s.score, version: t.version + 1 };
    }
    await insertTimeline(tx, t.id, now, 'bot', BOT, { event: 'resolved' });
    return t;
  }

  /** Starts a flow on a ticket (handback with a flow, CSAT on resolve), in the conversation's turn order. */
  async startFlow(ticketId: string, flow: string): Promise<void> {
    const ticket = await loadTicket(this.d.sql, ticketId);
    if (!ticket.conversationId) return;
    const conv = await getConversation(this.d.sql, ticket.conversationId);
    if (!conv) return;
    const convKey = convKeyOf({ channel: conv.channel, account: conv.account, from: conv.address });
    await this.d.coord.withLock(`conv:${convKey}`, async () => {
      const fresh = await loadTicket(this.d.sql, ticketId);
      await this.runTurn(fresh, `start:${ticketId}:${flow}:${fresh.version}`, { startFlow: flow });
    });
  }

  /** Delivery receipts for our outbound messages. */
  async applyStatus(s: StatusUpdate): Promise<void> {
    const allowedFrom = s.status === 'failed'
      ? ['queued', 'sent']
      : Object.keys(STATUS_RANK).filter((k) => STATUS_RANK[k] < STATUS_RANK[s.status]);
    const now = this.d.ctx.clock.now();
    const error = s.error ? `${s.error.code}: ${s.error.message}` : null;
    const { affected } = await this.d.sql.execute(
      `UPDATE messages SET status = ?, error = COALESCE(?, error), updatedAt = ? WHERE channel = ? AND externalId = ? AND status IN (${allowedFrom.map(() => '?').join(', ')})`,
      [s.status, error, now, s.channel, s.externalId, ...allowedFrom],
    );
    if (!affected) return;
    const m = await getMessageByExternalId(this.d.sql, s.channel, s.externalId);
    if (m) this.d.ctx.events.publish([{ type: 'message.updated', ticketId: m.ticketId, at: now, data: { messageId: m.id, status: s.status, error } }]);
  }

  private async applyEvent(e: PlatformEvent): Promise<void> {
    const now = this.d.ctx.clock.now();
    if (e.type === 'unsent') {
      const m = await getMessageByExternalId(this.d.sql, e.channel, e.externalId);
      if (!m) return;
      await this.d.sql.execute("UPDATE messages SET kind = 'other', text = '', payload = ?, updatedAt = ? WHERE id = ?", [JSON.stringify({ unsent: true, text: m.text }), now, m.id]);
      this.d.ctx.events.publish([{ type: 'message.updated', ticketId: m.ticketId, at: now, data: { messageId: m.id, unsent: true } }]);
    }
    // Messages typed in the platform's own app are recorded as agent messages; echoes of ours are dropped.
    if (e.type === 'echo') await recordAppEcho(this.d.ctx, e, this.d.afterCommit);
  }

  /** Picks up rows a crashed or failed run left behind. */
  async recover(olderThanMs = 5000): Promise<number> {
    const cutoff = this.d.ctx.clock.now() - olderThanMs;
    const rows = await this.d.sql.query<{ convKey: string }>(
      "SELECT DISTINCT convKey FROM inbound WHERE status IN ('received', 'stored') AND receivedAt <= ? LIMIT 500",
      [cutoff],
    );
    for (const r of rows) this.schedule(r.convKey);
    return rows.length;
  }

  async drain(): Promise<void> {
    this.closed = true;
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }
}
