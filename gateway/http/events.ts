// GET /api/events: server-sent events of ticket changes.
//
// Every published event is appended to a bounded shared log (coordination eventLog: a
// Redis stream when Redis is configured, a ring buffer otherwise) which also fans it out
// live to every process. The log's ids are the SSE ids, so a client that reconnects with
// `Last-Event-ID` (any process) gets what it missed replayed before going live again. If
// it was away longer than the log reaches back, it gets an `event: resync` first and
// should reload its lists.
//
// Events about internal notes are flagged private and only go to users holding the
// `notes` permission (admins always), live and on replay.

import express, { type Request, type Response, type Router } from 'express';
import { canReadNotes, userOf, type AuthedUser, type Authenticator } from '../../tickets/auth.js';
import type { TicketEvent } from '../../tickets/events.js';
import type { Coordinator } from '../coordination/types.js';
import { compareLogIds, isLogId, type EventLog, type LogEntry } from '../coordination/event-log.js';
import type { Sql } from '../db/sql.js';
import type { Clock } from '../clock.js';
import { WebhookDeliverer } from './event-webhooks.js';

export const EVENTS_LOG = 'ticket-events';
/** Plain batches of TicketEvent (no ids) for server-side listeners, e.g. tests and integrations. */
export const EVENTS_TOPIC = 'ticket-events';
const REPLAY_BATCH = 500;
/** A client whose socket buffer grows past this is dropped; it reconnects and replays. */
const MAX_BUFFERED_BYTES = 1 << 20;

interface StreamClient {
  /** Live entries held back while the replay runs (null once live). */
  held: LogEntry[] | null;
  deliver(entries: LogEntry[]): void;
  /** Re-reads the caller's user (permissions may have changed, the user may be gone). */
  recheck(): Promise<void>;
}

type Warn = (obj: Record<string, unknown>, msg: string) => void;

export interface EventHubOptions {
  /** How many events the shared log keeps for resume (default 10 000). */
  maxLen?: number;
  /** Keep-alive comment interval (default 25 s, under common proxy idle timeouts). */
  pingMs?: number;
  warn?: Warn;
  /** With both: outgoing webhooks for integrations (event-webhooks.ts). */
  sql?: Sql;
  clock?: Clock;
}

/** The SSE frame of one event as clients receive it (see docs/export-and-events.md). */
export function eventFrame(id: string, e: TicketEvent): string {
  const { private: _private, ...rest } = e;
  return `id: ${id}\nevent: ${e.type}\ndata: ${JSON.stringify({ id, ...rest })}\n\n`;
}

export class EventHub {
  private readonly clients = new Set<StreamClient>();
  private readonly responses = new Set<Response>();
  readonly log: EventLog;
  private readonly pingMs: number;
  private readonly warn: Warn;
  readonly webhooks: WebhookDeliverer | null;

  constructor(private readonly coord: Coordinator, opts: EventHubOptions = {}) {
    this.log = coord.eventLog(EVENTS_LOG, { maxLen: opts.maxLen });
    this.pingMs = opts.pingMs ?? 25_000;
    this.warn = opts.warn ?? (() => {});
    this.webhooks = opts.sql && opts.clock ? new WebhookDeliverer({ sql: opts.sql, clock: opts.clock, coord, warn: this.warn }) : null;
  }

  /** Scheduled jobs of the event side (webhook retries). */
  get jobs(): { name: string; run(now: number): Promise<void> }[] {
    return this.webhooks ? [this.webhooks.job] : [];
  }

  /** Starts receiving the live feed (all processes); returns the function that stops it. */
  async start(): Promise<() => Promise<void>> {
    this.webhooks?.start();
    const unsubscribe = await this.log.subscribe((entries) => {
      for (const c of this.clients) c.deliver(entries);
      this.webhooks?.onEntries(entries);
    });
    return async () => {
      await unsubscribe();
      await this.webhooks?.stop();
    };
  }

  /** Events published during this turn of the event loop, appended together (see publish). */
  private pending: TicketEvent[] = [];

  /**
   * Appends the events to the shared log (after their transaction committed). Events
   * published in the same turn of the event loop go out together, in publish order: one
   * log append and one topic message for all of them (on Redis one script call and one
   * PUBLISH instead of two per call: under load a message publishes three times).
   */
  publish(events: TicketEvent[]): void {
    if (!events.length) return;
    if (!this.pending.length) setImmediate(() => this.flush());
    for (const e of events) this.pending.push(e);
  }

  private flush(): void {
    const events = this.pending;
    this.pending = [];
    if (!events.length) return;
    void this.log.append(events.map((e) => JSON.stringify(e))).catch((err) => this.warn({ err }, 'publishing events failed'));
    void this.coord.publish(EVENTS_TOPIC, JSON.stringify(events)).catch(() => undefined);
  }

  router(auth: Authenticator): Router {
    const r = express.Router();
    if (this.webhooks) r.use(this.webhooks.routes(auth.middleware()));
    r.get('/events', auth.middleware(), (req, res) => {
      void this.serve(req, res, auth).catch((err) => {
        this.warn({ err }, 'event stream failed');
        // Before the stream started (e.g. Redis unreachable): a clear error, the client retries.
        if (!res.headersSent) res.status(503).json({ error: { code: 'unavailable', message: 'the event log is not reachable; retry shortly' } });
        else res.destroy();
      });
    });
    return r;
  }

  private async serve(req: Request, res: Response, auth: Authenticator): Promise<void> {
    let user = userOf(req);
    let notes = canReadNotes(user);
    const header = req.headers['last-event-id'];
    const asked = (typeof header === 'string' && header.trim()) || (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : '');
    // A fresh client resumes from the log's head read now, before it starts listening:
    // whatever is appended from here on reaches it by replay or live, never neither.
    const fresh = !isLogId(asked);
    const resumeFrom = fresh ? await this.log.head() : asked;

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // An `id:` line with no data sets EventSource's lastEventId without dispatching
    // anything: a fresh client can resume even if it drops before its first event.
    res.write(`retry: 3000\n: connected\n${fresh ? `id: ${resumeFrom}\n` : ''}\n`);
    let closed = false;
    let lastSent: string | null = resumeFrom;

    const write = (chunk: string) => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        // Too slow to keep up: drop it rather than buffer without bound; it resumes by id.
        closed = true;
        res.destroy();
      }
    };
    const send = (entries: LogEntry[]) => {
      for (const entry of entries) {
        if (lastSent && compareLogIds(entry.id, lastSent) <= 0) continue; // already sent (replay/live overlap)
        lastSent = entry.id;
        const e = parse(entry);
        if (!e || !visible(e, user, notes)) continue;
        write(eventFrame(entry.id, e));
      }
    };
    const client: StreamClient = {
      held: [],
      deliver: (entries) => {
        if (client.held) client.held.push(...entries);
        else send(entries);
      },
      recheck: async () => {},
    };
    // Listen before reading the log, so nothing falls between the replay and live delivery.
    this.clients.add(client);
    this.responses.add(res);
    // Each keep-alive also re-checks the token: a removed user's stream ends, and a
    // revoked notes permission stops note events without waiting for a reconnect.
    const token = tokenOf(req);
    client.recheck = async () => {
      const u = token ? await auth.byToken(token).catch(() => user) : null;
      if (!u) {
        closed = true;
        res.end();
        return;
      }
      user = u;
      notes = canReadNotes(u);
    };
    const ping = setInterval(() => void client.recheck().then(() => write(': ping\n\n')), this.pingMs);
    ping.unref();
    res.on('close', () => {
      closed = true;
      clearInterval(ping);
      this.clients.delete(client);
      this.responses.delete(res);
    });

    let cursor = resumeFrom;
    for (let first = true; !closed; first = false) {
      const { entries, gap } = await this.log.readAfter(cursor, REPLAY_BATCH);
      if (first && gap && !fresh) write(`event: resync\ndata: ${JSON.stringify({ reason: 'missed events are older than the log keeps; reload' })}\n\n`);
      send(entries);
      if (entries.length < REPLAY_BATCH) break;
      cursor = entries[entries.length - 1].id;
    }
    const held = client.held ?? [];
    client.held = null;
    send(held);
  }

  /** Re-checks every open stream's user now (what each keep-alive does; for tests and admin changes). */
  async recheckAll(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.recheck()));
  }

  /** Ends every open stream (shutdown). */
  closeAll(): void {
    for (const res of this.responses) res.end();
    this.responses.clear();
    this.clients.clear();
  }
}

/** The token the request was authenticated with (header, or ?access_token= / ?token=). */
function tokenOf(req: Request): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const q = req.query.access_token ?? req.query.token;
  return m?.[1] ?? (typeof q === 'string' ? q : null);
}

function parse(entry: LogEntry): TicketEvent | null {
  try {
    return JSON.parse(entry.payload) as TicketEvent;
  } catch {
    return null;
  }
}

/** Whether `user` may see `e`: events revealing internal notes need the notes permission. */
export function visible(e: TicketEvent, _user: AuthedUser, notes: boolean): boolean {
  return !e.private || notes;
}
