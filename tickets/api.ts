// The agent REST API (SPEC §4): tickets, settings, agents, presence.

import express, { type Request, type Router } from 'express';
import type { Sql } from '../gateway/db/sql.js';
import { newId, newTicketId, newToken } from '../gateway/ids.js';
import type { OutboundContent } from '../adapters/types.js';
import { actorOf, canReadNotes, hashToken, requireAdmin, userOf, type Authenticator } from './auth.js';
import type { TicketContext } from './context.js';
import { badRequest, conflict, notFound } from './errors.js';
import { Effects } from './events.js';
import { assign, handback, handoff, loadTicket, moveStatus } from './lifecycle.js';
import { listTickets } from './list.js';
import { PRIORITIES, STATUSES, type Priority, type TicketRow, type TicketStatus } from './model.js';
import { insertTicket, insertTimeline, listMessages, listTimeline, updateTicket, userFromRow } from './store.js';
import { messageView, parseJson, ticketViews, timelineView } from './views.js';
import { slaColumns } from './sla.js';
import { commentRoutes, isPrivateEntry } from './comments.js';
import { exportRoutes } from './export.js';
import { createTicketRoutes, linkedTicketIds } from './create.js';
import { createAdminApi } from './api-admin.js';
import { requireCategory } from './categories.js';
import { getConversation } from './store.js';
import { windowInfo, type WindowInfo } from '../gateway/outbound/window-policy.js';

export interface ApiDeps {
  ctx: TicketContext;
  auth: Authenticator;
  /** Publishes events, dispatches outbox rows, starts flows: after each commit (resolves when its triggers ran). */
  afterCommit: (fx: Effects) => void | Promise<void>;
}

function str(v: unknown, name: string, max = 255): string {
  if (typeof v !== 'string' || !v.trim()) throw badRequest(`${name} must be a non-empty string`);
  if (v.length > max) throw badRequest(`${name} must be at most ${max} characters`);
  return v;
}

function body(req: Request): Record<string, any> {
  if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) throw badRequest('the request body must be a JSON object');
  return req.body;
}

export function outboundContent(b: Record<string, any>): OutboundContent {
  if (b.template !== undefined) {
    const t = b.template;
    if (!t || typeof t !== 'object') throw badRequest('template must be an object {name, language, params}');
    const params = t.params ?? [];
    if (!Array.isArray(params) || params.some((p: unknown) => typeof p !== 'string')) throw badRequest('template.params must be a list of strings');
    return { kind: 'template', name: str(t.name, 'template.name', 512), language: typeof t.language === 'string' ? t.language : 'en', params };
  }
  return { kind: 'text', text: str(b.text, 'text', 4096) };
}

export function createApi(d: ApiDeps): Router {
  const { ctx, auth } = d;
  const { sql, clock } = ctx;
  const r = express.Router();
  r.use(auth.middleware());

  /** A unit of work: one transaction, then its effects. */
  const work = async <T>(fn: (tx: Sql, fx: Effects) => Promise<T>): Promise<T> => {
    const fx = new Effects();
    const result = await sql.tx((tx) => fn(tx, fx));
    // Triggers run right after the commit; the response shows their outcome.
    await d.afterCommit(fx);
    return result;
  };

  const view = async (t: TicketRow) => (await ticketViews(sql, [t], await ctx.settings.get(), clock.now()))[0];

  /** The composer's messaging window (SPEC §3.7), from the conversation and the channel's capabilities. */
  async function ticketWindow(t: TicketRow): Promise<WindowInfo | null> {
    const caps = ctx.outbound.capabilities(t.channel, t.account);
    const conv = t.conversationId ? await getConversation(sql, t.conversationId) : null;
    return caps && conv ? windowInfo(caps, conv.lastInboundAt, clock.now()) : null;
  }

  async function detail(id: string, req: Request) {
    const t = await loadTicket(sql, id);
    const [v, messages, timeline] = await Promise.all([view(t), listMessages(sql, id), listTimeline(sql, id)]);
    const byId = new Map(messages.map((m) => [m.id, messageView(m)]));
    const notes = canReadNotes(userOf(req));
    return {
      ...v,
      window: await ticketWindow(t),
      linkedTickets: await linkedTicketIds(sql, id),
      timeline: timeline.filter((e) => notes || !isPrivateEntry(e.type)).map((e) => timelineView(e, byId)),
    };
  }

  r.get('/tickets', async (req, res) => {
    const settings = await ctx.settings.get();
    const { rows, nextCursor } = await listTickets(sql, req.query as any, userOf(req).id, settings, clock.now());
    res.json({ items: await ticketViews(sql, rows, settings, clock.now()), nextCursor });
  });

  // Tasks, outbound tickets and follow-ups from conversations (tickets/create.ts).
  r.use(createTicketRoutes({ ctx, work, detail }));

  // Export (before /tickets/:id), comments and notes (tickets/export.ts, tickets/comments.ts).
  r.use(exportRoutes({ ctx }), commentRoutes({ ctx, afterCommit: d.afterCommit }));

  r.get('/tickets/:id', async (req, res) => {
    res.json(await detail(req.params.id, req));
  });

  r.patch('/tickets/:id', async (req, res) => {
    const b = body(req);
    const me = userOf(req);
    const known = ['status', 'priority', 'category', 'assigneeId', 'teamId', 'tags', 'subject', 'description'];
    const unknown = Object.keys(b).filter((k) => !known.includes(k));
    if (unknown.length) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
    if (b.status !== undefined && !STATUSES.includes(b.status)) throw badRequest(`status must be one of ${STATUSES.join(', ')}`);
    if (b.priority !== undefined && !PRIORITIES.includes(b.priority)) throw badRequest(`priority must be one of ${PRIORITIES.join(', ')}`);
    if (b.tags !== undefined && (!Array.isArray(b.tags) || b.tags.some((x: unknown) => typeof x !== 'string'))) throw badRequest('tags must be a list of strings');
    if (b.assigneeId !== undefined && b.assigneeId !== null && typeof b.assigneeId !== 'string') throw badRequest('assigneeId must be a string or null');
    // Typed and within the column sizes, as on creation (an object here used to reach the SQL driver: 500).
    if (b.subject !== undefined && (typeof b.subject !== 'string' || !b.subject.trim() || b.subject.length > 255)) throw badRequest('subject must be a non-empty string of at most 255 characters');
    if (b.description !== undefined && b.description !== null && (typeof b.description !== 'string' || Buffer.byteLength(b.description) > 65_535)) throw badRequest('description must be a string (at most 64 KB) or null');
    if (b.teamId !== undefined && b.teamId !== null && typeof b.teamId !== 'string') throw badRequest('teamId must be a string or null');
    if (b.category !== undefined) await requireCategory(sql, b.category);
    await work(async (tx, fx) => {
      let t = await loadTicket(tx, req.params.id);
      const actor = actorOf(me);
      const now = clock.now();
      if (b.assigneeId !== undefined && b.assigneeId !== t.assigneeId) {
        t = await assign(ctx, tx, fx, t, b.assigneeId, actor);
      }
      if (b.status !== undefined && b.status !== t.status) {
        t = await moveStatus(ctx, tx, fx, t, b.status as TicketStatus, actor, { assigneeId: b.assigneeId });
      }
      const patch: Partial<TicketRow> = {};
      const changes: Record<string, unknown> = {};
      for (const k of ['priority', 'category', 'teamId', 'subject', 'description'] as const) {
        if (b[k] !== undefined && b[k] !== t[k]) {
          (patch as any)[k] = b[k];
          changes[k] = { from: t[k], to: b[k] };
        }
      }
      if (b.tags !== undefined) {
        const tags = JSON.stringify([...new Set(b.tags as string[])]);
        if (tags !== t.tags) {
          patch.tags = tags;
          changes.tags = { from: parseJson(t.tags, []), to: JSON.parse(tags) };
        }
      }
      if (Object.keys(patch).length) {
        // A new priority means new SLA targets: the stored due moments follow at once.
        if (patch.priority) Object.assign(patch, slaColumns({ ...t, ...patch }, await ctx.settings.get(), now));
        const ok = await updateTicket(tx, t.id, { ...patch, updatedAt: now }, t.version);
        if (!ok) throw conflict(`ticket ${t.id} changed at the same time; try again`, 'concurrent_update');
        await insertTimeline(tx, t.id, now, 'fields', actor, { changes });
        fx.event('ticket.updated', t.id, now, { changes });
      }
    });
    res.json(await detail(req.params.id, req));
  });

  r.post('/tickets/:id/messages', async (req, res) => {
    const b = body(req);
    const me = userOf(req);
    const content = outboundContent(b);
    const message = await work(async (tx, fx) => {
      const t = await loadTicket(tx, req.params.id);
      if (t.type === 'bot' && t.status === 'active') throw conflict('the bot is handling this ticket: take it over before replying', 'bot_ticket');
      return ctx.outbound.enqueue(tx, fx, { ticket: t, content, author: 'agent', authorId: me.id });
    });
    res.status(201).json(messageView(message));
  });

  r.post('/tickets/:id/takeover', async (req, res) => {
    const me = userOf(req);
    await work(async (tx, fx) => {
      const t = await loadTicket(tx, req.params.id);
      await handoff(ctx, tx, fx, t, actorOf(me), { cause: 'takeover', assigneeId: me.id });
    });
    res.json(await detail(req.params.id, req));
  });

  r.post('/tickets/:id/handback', async (req, res) => {
    const b = req.body && typeof req.body === 'object' ? req.body : {};
    if (b.flow !== undefined && (typeof b.flow !== 'string' || !/^[a-z0-9][a-z0-9_-]*$/i.test(b.flow))) throw badRequest('flow must be a flow name');
    await work(async (tx, fx) => {
      const t = await loadTicket(tx, req.params.id);
      await handback(ctx, tx, fx, t, actorOf(userOf(req)), b.flow);
    });
    res.json(await detail(req.params.id, req));
  });

  r.post('/tickets/:id/reopen', async (req, res) => {
    const me = requireAdmin(req);
    await work(async (tx, fx) => {
      const t = await loadTicket(tx, req.params.id);
      if (t.status !== 'closed') throw conflict(`only a closed ticket can be reopened (this one is ${t.status})`, 'forbidden_transition');
      const last = t.lastAssigneeId ? userFromRow((await tx.query('SELECT * FROM users WHERE id = ?', [t.lastAssigneeId]))[0] ?? null) : null;
      const online = last && last.presence === 'online';
      await moveStatus(ctx, tx, fx, t, online ? 'active' : 'pending', actorOf(me), { assigneeId: online ? last!.id : null, cause: 'reopened' });
    });
    res.json(await detail(req.params.id, req));
  });

  // ---- settings ------------------------------------------------------------------
  r.get('/settings', async (_req, res) => {
    res.json(await ctx.settings.get());
  });
  r.put('/settings', async (req, res) => {
    requireAdmin(req);
    res.json(await ctx.settings.put(req.body));
  });

  // ---- agents and presence -------------------------------------------------------
  const agentView = (u: any) => ({
    id: u.id, name: u.name, email: u.email, role: u.role, permissions: parseJson<string[]>(u.permissions, []),
    presence: u.presence, capacity: Number(u.capacity),
  });

  r.get('/agents', async (_req, res) => {
    const rows = await sql.query('SELECT * FROM users ORDER BY createdAt');
    const members = await sql.query<{ teamId: string; userId: string }>('SELECT teamId, userId FROM team_members');
    res.json(rows.map((u) => ({ ...agentView(u), teamIds: members.filter((m) => m.userId === u.id).map((m) => m.teamId) })));
  });

  r.post('/agents', async (req, res) => {
    requireAdmin(req);
    const b = body(req);
    const role = b.role ?? 'agent';
    if (!['admin', 'agent'].includes(role)) throw badRequest('role must be admin or agent');
    const permissions = b.permissions ?? [];
    if (!Array.isArray(permissions) || permissions.some((p: unknown) => p !== 'notes')) throw badRequest('permissions may only contain "notes"');
    const capacity = b.capacity ?? 5;
    if (!Number.isInteger(capacity) || capacity < 0 || capacity > 1000) throw badRequest('capacity must be an integer from 0 to 1000');
    const token = newToken();
    const now = clock.now();
    const id = newId(now);
    try {
      await sql.tx(async (tx) => {
        await tx.execute(
          "INSERT INTO users (id, name, email, role, permissions, tokenHash, presence, capacity, lastSeenAt, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, 'offline', ?, NULL, ?, ?)",
          [id, str(b.name, 'name'), typeof b.email === 'string' ? b.email.toLowerCase() : null, role, JSON.stringify(permissions), hashToken(token), capacity, now, now],
        );
        for (const teamId of b.teamIds ?? []) await tx.execute('INSERT INTO team_members (teamId, userId) VALUES (?, ?)', [teamId, id]);
      });
    } catch (err) {
      if (sql.isUniqueViolation(err)) throw conflict('an agent with this email already exists', 'duplicate_agent');
      throw err;
    }
    const [u] = await sql.query('SELECT * FROM users WHERE id = ?', [id]);
    res.status(201).json({ ...agentView(u), teamIds: b.teamIds ?? [], token });
  });

  // The signed-in user (the inbox reads its role and permissions from here).
  r.get('/agents/me', async (req, res) => {
    const me = userOf(req);
    const [u] = await sql.query('SELECT * FROM users WHERE id = ?', [me.id]);
    const members = await sql.query<{ teamId: string }>('SELECT teamId FROM team_members WHERE userId = ?', [me.id]);
    res.json({ ...agentView(u), teamIds: members.map((m) => m.teamId) });
  });

  r.put('/agents/me/presence', async (req, res) => {
    const b = body(req);
    if (!['online', 'away', 'offline'].includes(b.presence)) throw badRequest('presence must be online, away or offline');
    const me = userOf(req);
    const now = clock.now();
    await work(async (tx, fx) => {
      await tx.execute('UPDATE users SET presence = ?, lastSeenAt = ?, updatedAt = ? WHERE id = ?', [b.presence, now, now, me.id]);
      if (b.presence !== 'online') {
        // Going away or offline requeues the agent's active tickets.
        const rows = await tx.query("SELECT * FROM tickets WHERE assigneeId = ? AND status = 'active' AND type = 'agent'", [me.id]);
        for (const row of rows) {
          await moveStatus(ctx, tx, fx, (await loadTicket(tx, row.id)), 'pending', { kind: 'system' }, { cause: 'requeued', as: 'system' });
        }
      } else {
        const pending = await tx.query<{ id: string }>("SELECT id FROM tickets WHERE status = 'pending' ORDER BY createdAt LIMIT 100");
        fx.routing.push(...pending.map((p) => p.id));
      }
    });
    auth.invalidate();
    res.json({ presence: b.presence });
  });

  // Templates, teams, routing rules, categories, PATCH /agents/:id (tickets/api-admin.ts).
  r.use(createAdminApi({ ctx, auth, afterCommit: d.afterCommit }));

  return r;
}
