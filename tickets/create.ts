// POST /api/tickets (SPEC §4, §3.2 "(new)" rows, §3.7, §3.9). Three shapes:
// - an internal task: {subject, description?, priority?, category?, assigneeId?, teamId?, tags?};
// - an agent-initiated outbound ticket: add {channel, contactId | to, message: {text} |
//   {template: {name, language, params}}, account?, name?}: `proactive`, the caller
//   first assignee, the message written through the outbox in the same transaction
//   (so a refused message leaves nothing behind);
// - a follow-up from a conversation: {linkedTicketId, force?, ...}: an internal ticket
//   linked to that ticket's conversation, its description pre-filled with the
//   customer, the channel and the recent messages.

import express, { type Request, type Router } from 'express';
import { CHANNELS, type Channel, type OutboundContent } from '../adapters/types.js';
import type { Sql } from '../gateway/db/sql.js';
import { newTicketId } from '../gateway/ids.js';
import { SIMULATOR_ACCOUNT } from '../gateway/channels.js';
import { actorOf, userOf, type AuthedUser } from './auth.js';
import { requireCategory } from './categories.js';
import type { TicketContext } from './context.js';
import { ApiError, badRequest, conflict, notFound, unprocessable } from './errors.js';
import type { Effects } from './events.js';
import { openKeyFor, PRIORITIES, type Priority, type TicketRow } from './model.js';
import { routeTeam } from './routing.js';
import { ensureConversation, findOpenTicket, getTicket, insertTicket, insertTimeline, loadContacts, resolveContact } from './store.js';
import { withNewTicketSla } from './sla.js';

export interface CreateDeps {
  ctx: TicketContext;
  /** One transaction, then its effects (api.ts). */
  work: <T>(fn: (tx: Sql, fx: Effects) => Promise<T>) => Promise<T>;
  /** The ticket detail as GET /api/tickets/:id returns it. */
  detail: (id: string, req: Request) => Promise<unknown>;
}

const COMMON = ['subject', 'description', 'priority', 'category', 'assigneeId', 'teamId', 'tags'];
const OUTBOUND = ['channel', 'contactId', 'to', 'account', 'name', 'message'];
const LINKED = ['linkedTicketId', 'force'];
/** How many of the conversation's last messages a follow-up's description quotes. */
const RECENT_MESSAGES = 10;

function text(v: unknown, name: string, max = 255): string {
  if (typeof v !== 'string' || !v.trim()) throw badRequest(`${name} must be a non-empty string`);
  if (v.length > max) throw badRequest(`${name} must be at most ${max} characters`);
  return v.trim();
}

const oneLine = (s: string, max: number) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

interface Common {
  subject?: string;
  description: string | null;
  priority: Priority;
  category: string | null;
  assigneeId: string | null;
  teamId: string | null;
  tags: string[];
}

async function parseCommon(sql: Sql, b: Record<string, any>): Promise<Common> {
  const priority = (b.priority ?? 'medium') as Priority;
  if (!PRIORITIES.includes(priority)) throw badRequest(`priority must be one of ${PRIORITIES.join(', ')}`);
  const tags = b.tags ?? [];
  if (!Array.isArray(tags) || tags.some((x: unknown) => typeof x !== 'string')) throw badRequest('tags must be a list of strings');
  if (b.description !== undefined && b.description !== null && (typeof b.description !== 'string' || b.description.length > 20_000)) {
    throw badRequest('description must be a string (≤ 20000 characters)');
  }
  if (b.assigneeId !== undefined && b.assigneeId !== null && typeof b.assigneeId !== 'string') throw badRequest('assigneeId must be an agent id or null');
  if (b.teamId !== undefined && b.teamId !== null && typeof b.teamId !== 'string') throw badRequest('teamId must be a team id or null');
  if (b.teamId) {
    const team = await sql.query('SELECT id FROM teams WHERE id = ?', [b.teamId]);
    if (!team.length) throw badRequest(`unknown team ${b.teamId}`, 'unknown_team');
  }
  return {
    ...(b.subject !== undefined ? { subject: text(b.subject, 'subject') } : {}),
    description: typeof b.description === 'string' ? b.description : null,
    priority,
    category: await requireCategory(sql, b.category),
    assigneeId: b.assigneeId ?? null,
    teamId: b.teamId ?? null,
    tags: [...new Set(tags as string[])],
  };
}

/** message: {text} or {template: {name, language, params}}. */
function messageContent(m: unknown): Extract<OutboundContent, { kind: 'text' | 'template' }> {
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw badRequest('message must be {text} or {template: {name, language, params}}');
  const msg = m as Record<string, any>;
  if (msg.template !== undefined && msg.text !== undefined) throw badRequest('message has either text or template, not both');
  if (msg.template !== undefined) {
    const t = msg.template;
    if (!t || typeof t !== 'object' || Array.isArray(t)) throw badRequest('message.template must be {name, language, params}');
    const params = t.params ?? [];
    if (!Array.isArray(params) || params.some((p: unknown) => typeof p !== 'string')) throw badRequest('message.template.params must be a list of strings');
    return { kind: 'template', name: text(t.name, 'message.template.name', 512), language: typeof t.language === 'string' ? t.language : 'en', params };
  }
  return { kind: 'text', text: text(msg.text, 'message.text', 4096) };
}

/** The platform id to write to, normalised the way inbound messages carry it (so the reply finds the same contact). */
function recipient(channel: Channel, account: string, to: unknown): string {
  if (typeof to !== 'string' || !to.trim()) throw badRequest('to must be a phone number, an Instagram user id (IGSID) or an email address');
  const v = to.trim();
  if (account === SIMULATOR_ACCOUNT) {
    // Simulator personas are free-form names.
    if (!/^[\w.@+-]{1,64}$/.test(v)) throw badRequest('to must be a simulator persona (1-64 letters, digits or . @ + - _)');
    return channel === 'email' ? v.toLowerCase() : v;
  }
  if (channel === 'whatsapp') {
    // WhatsApp ids are the number in international form without "+" (wa_id).
    if (!/^\+?[\d\s().-]+$/.test(v)) throw badRequest('to must be a phone number in international form, e.g. +447700900123');
    const digits = v.replace(/\D/g, '');
    if (digits.length < 7 || digits.length > 15) throw badRequest('to must be a phone number in international form (7 to 15 digits)');
    return digits;
  }
  if (channel === 'instagram') {
    if (!/^\d{5,32}$/.test(v)) throw badRequest('to must be an Instagram-scoped user id (IGSID, digits)');
    return v;
  }
  if (!/^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/.test(v) || v.length > 254) throw badRequest('to must be an email address');
  return v.toLowerCase();
}

function baseRow(now: number, me: AuthedUser, c: Common): TicketRow {
  return {
    id: newTicketId(), conversationId: null, contactId: null, channel: 'internal', account: null,
    subject: c.subject ?? '', description: c.description, type: 'agent', status: 'pending', priority: c.priority, category: c.category,
    tags: JSON.stringify(c.tags), assigneeId: null, lastAssigneeId: null, teamId: c.teamId,
    createdBy: 'agent', createdById: me.id, linkedTicketId: null, openKey: null, handoffAt: null, handoffCause: null, botFlow: null,
    createdAt: now, updatedAt: now, firstResponseAt: null, resolvedAt: null, closedAt: null, lastCustomerMessageAt: null,
    lastAgentMessageAt: null, statusChangedAt: now, slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null,
    csatScore: null, csatComment: null, version: 0,
  };
}

async function requireUser(tx: Sql, id: string): Promise<void> {
  const u = await tx.query('SELECT id FROM users WHERE id = ?', [id]);
  if (!u.length) throw notFound(`agent ${id}`);
}

/** Team from the routing rules when none was given (SPEC §3.3: routed on creation too). */
async function teamFor(tx: Sql, row: TicketRow): Promise<string | null> {
  return row.teamId ?? (await routeTeam(tx, { category: row.category, channel: row.channel, priority: row.priority }));
}

/** Ids of the follow-up tickets created from this ticket (shown on its detail as `linkedTickets`). */
export async function linkedTicketIds(sql: Sql, id: string): Promise<string[]> {
  const rows = await sql.query<{ id: string }>('SELECT id FROM tickets WHERE linkedTicketId = ? ORDER BY createdAt, id', [id]);
  return rows.map((r) => r.id);
}

export function createTicketRoutes(d: CreateDeps): Router {
  const { ctx, work, detail } = d;
  const { sql, clock } = ctx;
  const r = express.Router();

  r.post('/tickets', async (req, res) => {
    const b = req.body;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw badRequest('the request body must be a JSON object');
    const unknown = Object.keys(b).filter((k) => ![...COMMON, ...OUTBOUND, ...LINKED].includes(k));
    if (unknown.length) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
    const me = userOf(req);
    const common = await parseCommon(sql, b);
    let id: string;
    if (b.linkedTicketId !== undefined) {
      const mixed = OUTBOUND.filter((k) => b[k] !== undefined && !(k === 'channel' && b[k] === 'internal'));
      if (mixed.length) throw badRequest(`a follow-up ticket is internal: ${mixed.join(', ')} cannot be combined with linkedTicketId`);
      id = await createLinked(b, me, common);
    } else if (b.channel !== undefined && b.channel !== 'internal') {
      if (b.force !== undefined) throw badRequest('force only applies with linkedTicketId');
      id = await createOutbound(b, me, common);
    } else {
      const stray = [...OUTBOUND.filter((k) => k !== 'channel'), ...LINKED].filter((k) => b[k] !== undefined);
      if (stray.length) throw badRequest(`${stray.join(', ')} need a customer channel (whatsapp, instagram or email)`);
      id = await createTask(me, common);
    }
    res.status(201).json(await detail(id, req));
  });

  /** An internal task: `active` with an assignee, else `pending`. */
  async function createTask(me: AuthedUser, c: Common): Promise<string> {
    if (!c.subject) throw badRequest('subject must be a non-empty string');
    return work(async (tx, fx) => {
      const now = clock.now();
      const row = baseRow(now, me, c);
      if (c.assigneeId) {
        await requireUser(tx, c.assigneeId);
        Object.assign(row, { status: 'active', assigneeId: c.assigneeId, lastAssigneeId: c.assigneeId });
      }
      row.teamId = await teamFor(tx, row);
      await insertTicket(tx, withNewTicketSla(row, await ctx.settings.get(), now));
      await insertTimeline(tx, row.id, now, 'status', actorOf(me), { from: null, to: row.status, cause: 'manual' });
      if (row.assigneeId) await insertTimeline(tx, row.id, now, 'assignment', actorOf(me), { from: null, to: row.assigneeId, cause: 'manual' });
      fx.event('ticket.created', row.id, now, { channel: 'internal', status: row.status });
      return row.id;
    });
  }

  /** Agent-initiated outbound ticket (SPEC §3.7): `proactive`, the caller first assignee. */
  async function createOutbound(b: Record<string, any>, me: AuthedUser, c: Common): Promise<string> {
    const channel = b.channel as Channel;
    if (!CHANNELS.includes(channel)) throw badRequest(`channel must be one of ${CHANNELS.join(', ')} (or internal for a task)`, 'unknown_channel');
    const accounts = ctx.outbound.accounts(channel);
    if (!accounts.length) throw unprocessable('channel_not_configured', `the ${channel} channel is not configured on this gateway`);
    if (b.account !== undefined && !accounts.includes(b.account)) {
      throw unprocessable('channel_not_configured', `${channel} account ${b.account} is not configured here (configured: ${accounts.join(', ')})`);
    }
    const account: string = b.account ?? accounts[0]!;
    if ((b.contactId === undefined) === (b.to === undefined)) throw badRequest('give the customer as contactId or as to (one of them)');
    if (b.contactId !== undefined && typeof b.contactId !== 'string') throw badRequest('contactId must be a contact id');
    const to = b.to !== undefined ? recipient(channel, account, b.to) : null;
    if (b.name !== undefined && (typeof b.name !== 'string' || b.name.length > 255)) throw badRequest('name must be a string');
    if (c.assigneeId && c.assigneeId !== me.id) throw badRequest('an outbound ticket is assigned to the agent who starts it; leave assigneeId out');
    const content = messageContent(b.message);
    if (channel === 'email' && !c.subject) throw badRequest('an email needs a subject', 'subject_required');
    const subject = c.subject ?? oneLine(content.kind === 'template' ? `Template ${content.name}` : content.text, 120);

    // A concurrent creator for the same contact loses on the open-ticket key: the retry then answers 409 with the winner's id.
    for (let attempt = 1; ; attempt++) {
      try {
        return await work(async (tx, fx) => {
          const now = clock.now();
          let contactId: string;
          let address: string;
          if (to) {
            contactId = await resolveContact(tx, channel, [to], b.name, now);
            address = to;
          } else {
            const contact = await tx.query('SELECT id FROM contacts WHERE id = ?', [b.contactId]);
            if (!contact.length) throw notFound(`contact ${b.contactId}`);
            contactId = b.contactId;
            const conv = await tx.query<{ address: string }>('SELECT address FROM conversations WHERE channel = ? AND account = ? AND contactId = ?', [channel, account, contactId]);
            const ident = await tx.query<{ value: string }>('SELECT value FROM contact_identities WHERE contactId = ? AND channel = ? ORDER BY createdAt LIMIT 1', [contactId, channel]);
            const found = conv[0]?.address ?? ident[0]?.value;
            if (!found) throw unprocessable('no_identity', `contact ${contactId} has no ${channel} identity: give the address as to`);
            address = found;
          }
          const conv = await ensureConversation(tx, channel, account, contactId, address, now);
          const openKey = openKeyFor(channel, account, contactId)!;
          const open = await findOpenTicket(tx, openKey);
          if (open) {
            throw conflict(`the contact already has an open ${channel} ticket (${open.id}, ${open.status}): write there`, 'open_ticket_exists', { ticketId: open.id });
          }
          const row: TicketRow = {
            ...baseRow(now, me, c),
            subject,
            conversationId: conv.id, contactId, channel, account, openKey,
            status: 'proactive', assigneeId: me.id, lastAssigneeId: me.id,
          };
          row.teamId = await teamFor(tx, row);
          await insertTicket(tx, withNewTicketSla(row, await ctx.settings.get(), now));
          await insertTimeline(tx, row.id, now, 'status', actorOf(me), { from: null, to: 'proactive', cause: 'agent_outbound' });
          await insertTimeline(tx, row.id, now, 'assignment', actorOf(me), { from: null, to: me.id, cause: 'agent_outbound' });
          fx.event('ticket.created', row.id, now, { channel, status: 'proactive' });
          // Window and template rules (422 template_required / window_closed / template_not_approved) roll all of it back.
          await ctx.outbound.enqueue(tx, fx, { ticket: row, content, author: 'agent', authorId: me.id });
          return row.id;
        });
      } catch (err) {
        if (attempt < 3 && !(err instanceof ApiError) && sql.isUniqueViolation(err)) continue;
        throw err;
      }
    }
  }

  /** A follow-up ticket from a conversation (SPEC §3.9): one per conversation unless `force`. */
  async function createLinked(b: Record<string, any>, me: AuthedUser, c: Common): Promise<string> {
    if (typeof b.linkedTicketId !== 'string' || !b.linkedTicketId) throw badRequest('linkedTicketId must be a ticket id');
    if (b.force !== undefined && typeof b.force !== 'boolean') throw badRequest('force must be true or false');
    // Read outside the transaction: on MySQL the transaction's first statement must be the lock below.
    const src0 = await getTicket(sql, b.linkedTicketId);
    if (!src0) throw notFound(`ticket ${b.linkedTicketId}`);
    return work(async (tx, fx) => {
      // Serialises creators for one conversation (a row lock on MySQL; SQLite runs one writer at a time),
      // so two agents clicking at once cannot both pass the duplicate check.
      if (src0.conversationId) await tx.execute('UPDATE conversations SET updatedAt = updatedAt WHERE id = ?', [src0.conversationId]);
      else await tx.execute('UPDATE tickets SET version = version WHERE id = ?', [src0.id]);
      const src = (await getTicket(tx, src0.id))!;
      if (!b.force) {
        const dup = await tx.query<{ id: string }>(
          `SELECT id FROM tickets WHERE createdBy = 'agent' AND linkedTicketId IS NOT NULL AND status <> 'closed' AND ${src.conversationId ? 'conversationId = ?' : 'linkedTicketId = ?'} ORDER BY createdAt LIMIT 1`,
          [src.conversationId ?? src.id],
        );
        if (dup[0]) {
          throw conflict(`a follow-up ticket (${dup[0].id}) already exists for this conversation; send force: true to create another`, 'duplicate_ticket', { ticketId: dup[0].id });
        }
      }
      const now = clock.now();
      const row: TicketRow = {
        ...baseRow(now, me, c),
        subject: c.subject ?? oneLine(`Follow-up: ${src.subject}`, 255),
        description: await prefill(tx, src, c.description),
        conversationId: src.conversationId,
        contactId: src.contactId,
        linkedTicketId: src.id,
      };
      if (c.assigneeId) {
        await requireUser(tx, c.assigneeId);
        Object.assign(row, { status: 'active', assigneeId: c.assigneeId, lastAssigneeId: c.assigneeId });
      }
      row.teamId = await teamFor(tx, row);
      await insertTicket(tx, withNewTicketSla(row, await ctx.settings.get(), now));
      const actor = actorOf(me);
      await insertTimeline(tx, row.id, now, 'status', actor, { from: null, to: row.status, cause: 'from_conversation' });
      if (row.assigneeId) await insertTimeline(tx, row.id, now, 'assignment', actor, { from: null, to: row.assigneeId, cause: 'manual' });
      await insertTimeline(tx, row.id, now, 'linked', actor, { ticketId: src.id, relation: 'source' });
      await insertTimeline(tx, src.id, now, 'linked', actor, { ticketId: row.id, relation: 'follow_up' });
      fx.event('ticket.created', row.id, now, { channel: 'internal', status: row.status, linkedTicketId: src.id });
      fx.event('ticket.updated', src.id, now, { linkedTicketId: row.id, relation: 'follow_up' });
      return row.id;
    });
  }

  /** The customer, the channel and the last messages of the conversation, for the follow-up's description. */
  async function prefill(tx: Sql, src: TicketRow, given: string | null): Promise<string> {
    const contact = src.contactId ? (await loadContacts(tx, [src.contactId])).get(src.contactId) : undefined;
    const identity = contact?.identities[src.channel as Channel];
    const rows = src.conversationId
      ? await tx.query<{ author: string; text: string; createdAt: number }>(
          `SELECT author, text, createdAt FROM messages WHERE conversationId = ? ORDER BY createdAt DESC, id DESC LIMIT ${RECENT_MESSAGES}`, [src.conversationId])
      : [];
    const who: Record<string, string> = { customer: contact?.name ?? 'Customer', bot: 'Bot', agent: 'Agent', system: 'System' };
    const lines = [
      `Follow-up of ticket ${src.id}: ${src.subject}`,
      `Customer: ${contact?.name ?? '(no name)'}${identity ? ` (${identity})` : ''}`,
      `Channel: ${src.channel}`,
    ];
    if (rows.length) {
      lines.push('', 'Recent messages:');
      for (const m of rows.reverse()) {
        const at = new Date(Number(m.createdAt)).toISOString().slice(0, 16).replace('T', ' ');
        lines.push(`[${at} UTC] ${who[m.author] ?? m.author}: ${oneLine(m.text || '(no text)', 500)}`);
      }
    }
    return (given ? `${given}\n\n---\n` : '') + lines.join('\n');
  }

  return r;
}
