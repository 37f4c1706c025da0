// Outgoing webhooks for integrations: ticket events POSTed to configured URLs, signed
// with HMAC-SHA256 and retried with backoff.
//
// Configuration: `GET`/`PUT /api/webhooks` (admins), a JSON array of
// `{url, secret, events}` stored as the `collection:webhooks` settings row (hidden from
// GET /api/settings, and secrets are masked when read back).
//
// Delivery: every process receives every event from the shared event log; only the one
// holding the `webhooks` lease delivers, so each event is sent once per target. Failed
// deliveries wait in a bounded in-memory queue and are retried by a scheduled job (the
// gateway's clock, so tests drive retries with gw.tick()). Best effort across restarts:
// a delivery waiting for its retry when the holder dies is not resent by the next one.
// Note events are never sent (they are private to users with the notes permission).

import { createHmac } from 'node:crypto';
import express, { type Router } from 'express';
import { requireAdmin } from '../../tickets/auth.js';
import { CachedCollection, getCollection, putCollection } from '../../tickets/collections.js';
import { badRequest } from '../../tickets/errors.js';
import type { TicketEvent, TicketEventType } from '../../tickets/events.js';
import type { Clock } from '../clock.js';
import type { LogEntry } from '../coordination/event-log.js';
import type { Coordinator, Lease } from '../coordination/types.js';
import type { Sql } from '../db/sql.js';

export interface WebhookTarget {
  url: string;
  secret: string;
  /** Event types to send, or ["*"] for all (note events never). */
  events: string[];
}

/** The event types an integration may receive. */
export const WEBHOOK_EVENTS: TicketEventType[] = [
  'ticket.created', 'ticket.updated', 'ticket.handoff', 'ticket.assigned', 'message.created', 'message.updated',
  'comment.created', 'comment.updated', 'comment.deleted', 'sla.breached',
];
const COLLECTION = 'webhooks';
const MAX_TARGETS = 20;
/** Attempts per delivery: the first, then retries after 5 s, 30 s, 2 min, 10 min, 30 min. */
const BACKOFF_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000];
const MAX_QUEUED = 10_000;
const TIMEOUT_MS = 10_000;

/** The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

function validate(v: unknown): WebhookTarget[] {
  if (!Array.isArray(v)) throw badRequest('webhooks must be a JSON array of {url, secret, events}', 'invalid_setting');
  if (v.length > MAX_TARGETS) throw badRequest(`at most ${MAX_TARGETS} webhooks`, 'invalid_setting');
  return v.map((w, i) => {
    if (!w || typeof w !== 'object') throw badRequest(`webhooks[${i}] must be an object`, 'invalid_setting');
    const unknown = Object.keys(w).filter((k) => !['url', 'secret', 'events'].includes(k));
    if (unknown.length) throw badRequest(`webhooks[${i}]: unknown field(s) ${unknown.join(', ')}`, 'invalid_setting');
    let url: URL;
    try {
      url = new URL(String(w.url));
    } catch {
      throw badRequest(`webhooks[${i}].url must be an http(s) URL`, 'invalid_setting');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badRequest(`webhooks[${i}].url must be an http(s) URL`, 'invalid_setting');
    if (typeof w.secret !== 'string' || w.secret.length < 16 || w.secret.length > 256) throw badRequest(`webhooks[${i}].secret must be a string of 16 to 256 characters`, 'invalid_setting');
    const events = w.events ?? ['*'];
    if (!Array.isArray(events) || !events.length || events.some((e: unknown) => e !== '*' && !WEBHOOK_EVENTS.includes(e as TicketEventType))) {
      throw badRequest(`webhooks[${i}].events must be a non-empty list of ${WEBHOOK_EVENTS.join(', ')} or "*"`, 'invalid_setting');
    }
    return { url: url.toString(), secret: w.secret, events: [...new Set(events as string[])] };
  });
}

const masked = (ts: WebhookTarget[]) => ts.map((t) => ({ url: t.url, secret: `••••${t.secret.slice(-4)}`, events: t.events }));

interface Delivery {
  target: WebhookTarget;
  eventId: string;
  type: string;
  body: string;
  attempt: number;
  dueAt: number;
}

export interface WebhookDeps {
  sql: Sql;
  clock: Clock;
  coord: Coordinator;
  warn: (obj: Record<string, unknown>, msg: string) => void;
}

export class WebhookDeliverer {
  private lease: Lease | null = null;
  private queue: Delivery[] = [];
  private readonly cache: CachedCollection<WebhookTarget[]>;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly d: WebhookDeps) {
    this.cache = new CachedCollection<WebhookTarget[]>(d.sql, COLLECTION, [], 2000);
  }

  private timer: NodeJS.Timeout | null = null;

  start(): void {
    this.lease ??= this.d.coord.lease('webhooks', { ttlMs: 10_000, onAcquired: () => {}, onLost: () => {} });
    // The scheduler's tick runs `job` only on the process holding the scheduler lease,
    // which may not be this one: the queue is also checked here every few seconds.
    this.timer ??= setInterval(() => void this.job.run(this.d.clock.now()).catch(() => undefined), 5_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight]);
    await this.lease?.release().catch(() => undefined);
    this.lease = null;
  }

  /** Whether this process is the one delivering (holds the `webhooks` lease). */
  get active(): boolean {
    return !!this.lease?.held();
  }

  /** Deliveries waiting for a retry (for tests and metrics). */
  get pending(): number {
    return this.queue.length;
  }

  private targets(): Promise<WebhookTarget[]> {
    return this.cache.get();
  }

  invalidate(): void {
    this.cache.invalidate();
  }

  /** Live entries from the event log: sent at once when this process holds the lease. */
  onEntries(entries: LogEntry[]): void {
    if (!this.lease?.held()) return;
    const p = this.fanOut(entries).catch((err) => this.d.warn({ err }, 'webhook fan-out failed'));
    this.track(p);
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async fanOut(entries: LogEntry[]): Promise<void> {
    const targets = await this.targets();
    if (!targets.length) return;
    const sends: Promise<void>[] = [];
    for (const entry of entries) {
      let e: TicketEvent;
      try {
        e = JSON.parse(entry.payload);
      } catch {
        continue;
      }
      if (e.private || !WEBHOOK_EVENTS.includes(e.type)) continue;
      const body = JSON.stringify({ id: entry.id, type: e.type, ticketId: e.ticketId, at: new Date(e.at).toISOString(), data: e.data ?? {} });
      for (const target of targets) {
        if (!target.events.includes('*') && !target.events.includes(e.type)) continue;
        sends.push(this.attempt({ target, eventId: entry.id, type: e.type, body, attempt: 0, dueAt: 0 }));
      }
    }
    await Promise.all(sends);
  }

  private async attempt(d: Delivery): Promise<void> {
    const now = this.d.clock.now();
    try {
      const res = await fetch(d.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'chatgate-webhooks',
          'x-chatgate-event': d.type,
          'x-chatgate-delivery': d.eventId,
          'x-chatgate-signature': signWebhook(d.target.secret, d.body, Math.floor(now / 1000)),
        },
        body: d.body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      throw new Error(`answered ${res.status}`);
    } catch (err) {
      const wait = BACKOFF_MS[d.attempt];
      if (wait === undefined) {
        this.d.warn({ url: d.target.url, event: d.eventId, err: (err as Error).message }, 'webhook delivery given up');
        return;
      }
      if (this.queue.length >= MAX_QUEUED) {
        const dropped = this.queue.shift()!;
        this.d.warn({ url: dropped.target.url, event: dropped.eventId }, 'webhook retry queue full: oldest delivery dropped');
      }
      this.queue.push({ ...d, attempt: d.attempt + 1, dueAt: now + wait });
    }
  }

  /** The scheduled job: retries whose time has come. */
  readonly job = {
    name: 'webhook-retries',
    run: async (now: number): Promise<void> => {
      if (!this.queue.length) return;
      const due = this.queue.filter((d) => d.dueAt <= now);
      if (!due.length) return;
      this.queue = this.queue.filter((d) => d.dueAt > now);
      const p = Promise.all(due.map((d) => this.attempt(d))).then(() => undefined);
      this.track(p);
      await p;
    },
  };

  /** GET / PUT /webhooks (admins only), behind `authenticate`. */
  routes(authenticate: express.RequestHandler): Router {
    const r = express.Router();
    r.get('/webhooks', authenticate, async (req, res) => {
      requireAdmin(req);
      res.json(masked(await getCollection<WebhookTarget[]>(this.d.sql, COLLECTION, [])));
    });
    r.put('/webhooks', authenticate, async (req, res) => {
      requireAdmin(req);
      const targets = validate(req.body);
      await putCollection(this.d.sql, COLLECTION, targets, this.d.clock.now());
      this.invalidate();
      res.json(masked(targets));
    });
    return r;
  }
}
