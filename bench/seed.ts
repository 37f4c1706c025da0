// Seeds a database with realistic tickets for benchmarks (list, export): agents, teams,
// contacts with identities, tickets over the past year in every status/channel/priority,
// with SLA columns computed as the gateway would store them, and timeline rows (status
// history, comments, notes). Deterministic for a given seed. Batched multi-row INSERTs
// inside transactions: on SQLite a million tickets take about a minute.
//
//   import { seedTickets } from './seed.js';
//   const db = await openDatabase('sqlite:/tmp/bench.db');
//   await seedTickets(db.sql, 1_000_000);

import type { Param, Sql } from '../gateway/db/sql.js';
import { indexNewRows } from '../gateway/db/search-index.js';
import { prng } from './prng.js';
import { DEFAULT_SETTINGS, type Settings } from '../tickets/settings.js';
import { slaColumns, slaPlan } from '../tickets/sla.js';
import { parseDuration } from '../tickets/durations.js';
import type { Priority, TicketRow, TicketStatus } from '../tickets/model.js';
import { HANDOFF_CAUSES } from '../tickets/handoff-causes.js';

export interface SeedOptions {
  /** "Now" of the data set: tickets are created over the year before it (default: Date.now()). */
  now?: number;
  /** Timeline rows: a status entry per change, a comment on every 10th ticket, a note on every 25th (default true). */
  timeline?: boolean;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Settings whose SLA targets the stored columns follow (default DEFAULT_SETTINGS). */
  settings?: Settings;
  /** Called after each transaction with the number of tickets written so far. */
  progress?: (done: number) => void;
}

export interface SeedResult {
  tickets: number;
  contacts: number;
  timeline: number;
  agents: string[];
  teams: string[];
  categories: string[];
  ms: number;
}

const DAY = 86_400_000;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const SEED_CATEGORIES = ['billing', 'shipping', 'returns', 'account', 'technical', 'orders', 'feedback', 'other'];
const TOPICS = [
  'Order {n} not delivered', 'Refund for order {n}', 'Cannot log in', 'Invoice {n} is wrong', 'Change delivery address',
  'Damaged item in order {n}', 'Cancel my subscription', 'Question about pricing', 'App crashes on start', 'Where is my parcel {n}',
  'Password reset not working', 'Wrong size received', 'Discount code {n} invalid', 'Update payment method', 'Thank you!',
];
const FIRST = ['Ana', 'Ben', 'Carla', 'David', 'Elif', 'Farah', 'Gustavo', 'Hana', 'Ivan', 'Julia', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya'];
const LAST = ['Silva', 'Müller', 'Rossi', 'Nguyen', 'Kowalski', 'Haddad', 'Okafor', 'Tanaka', 'García', 'Jensen', 'Novak', 'Costa'];

/** Seven-character ticket ids like the gateway's, unique: an odd multiplier permutes 0..32^7-1. */
function ticketId(i: number): string {
  let v = Number((BigInt(i + 1) * 2654435761n) % 34359738368n);
  let s = '';
  for (let k = 0; k < 7; k++) {
    s = ALPHABET[v % 32] + s;
    v = Math.floor(v / 32);
  }
  return s;
}

/** Inserts rows with multi-row INSERT statements (same statement text per chunk: prepared once). */
async function insertRows(sql: Sql, table: string, cols: string[], rows: Param[][], ignore = false): Promise<void> {
  const per = Math.max(1, Math.min(500, Math.floor(30_000 / cols.length)));
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const ph = `(${cols.map(() => '?').join(', ')})`;
    await sql.execute(`${ignore ? sql.insertIgnore() : 'INSERT'} INTO ${table} (${cols.join(', ')}) VALUES ${chunk.map(() => ph).join(', ')}`, chunk.flat());
  }
}

const TICKET_COLS: (keyof TicketRow)[] = [
  'id', 'conversationId', 'contactId', 'channel', 'account', 'subject', 'description', 'type', 'status', 'priority', 'category', 'tags',
  'assigneeId', 'lastAssigneeId', 'teamId', 'createdBy', 'createdById', 'linkedTicketId', 'openKey', 'handoffAt', 'handoffCause', 'botFlow',
  'createdAt', 'updatedAt', 'firstResponseAt', 'resolvedAt', 'closedAt', 'lastCustomerMessageAt', 'lastAgentMessageAt', 'statusChangedAt',
  'slaFirstResponseDueAt', 'slaResolutionDueAt', 'slaBreachedAt', 'csatScore', 'csatComment', 'version', 'slaPausedMs', 'slaPausedAt',
  'slaNextCheckAt', 'slaFirstResponseBreachedAt', 'slaResolutionBreachedAt', 'slaDueAt', 'slaWarnAt',
];
const TIMELINE_COLS = ['id', 'ticketId', 'at', 'type', 'actorKind', 'actorId', 'actorName', 'data'];

export async function seedTickets(sql: Sql, n: number, opts: SeedOptions = {}): Promise<SeedResult> {
  const started = Date.now();
  const now = opts.now ?? Date.now();
  const settings = opts.settings ?? DEFAULT_SETTINGS;
  const withTimeline = opts.timeline ?? true;
  const rnd = prng(opts.seed ?? 1);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const span = 365 * DAY;

  const teams = Array.from({ length: 5 }, (_, i) => `seedteam${i}`);
  const agents = Array.from({ length: 40 }, (_, i) => `seedagent${String(i).padStart(2, '0')}`);
  await sql.tx(async (tx) => {
    await insertRows(tx, 'teams', ['id', 'name', 'createdAt'], teams.map((id, i) => [id, `Team ${i}`, now - span]), true);
    await insertRows(
      tx, 'users',
      ['id', 'name', 'email', 'role', 'permissions', 'tokenHash', 'presence', 'capacity', 'lastSeenAt', 'createdAt', 'updatedAt'],
      agents.map((id, i) => [id, `${FIRST[i % FIRST.length]} Agent${i}`, `${id}@example.com`, i === 0 ? 'admin' : 'agent', i % 2 ? '["notes"]' : '[]', `seedhash-${id}`, 'offline', 10, null, now - span, now - span]),
      true,
    );
    await insertRows(tx, 'team_members', ['teamId', 'userId'], agents.map((id, i) => [teams[i % teams.length], id]), true);
  });

  const nContacts = Math.max(1, Math.ceil(n / 2));
  let timelineRows = 0;
  let tlSeq = 0;
  const tlId = () => `seedtl${(tlSeq++).toString(36).padStart(10, '0')}`;
  const TX = 10_000;
  for (let base = 0; base < n; base += TX) {
    const end = Math.min(n, base + TX);
    const contacts: Param[][] = [];
    const identities: Param[][] = [];
    const tickets: Param[][] = [];
    const timeline: Param[][] = [];
    for (let i = base; i < end; i++) {
      // Contacts: ticket i and i + n/2 share one (returning customers).
      const ci = i % nContacts;
      const contactId = `seedc${ci.toString(36).padStart(8, '0')}`;
      let channel = rnd() < 0.5 ? 'whatsapp' : rnd() < 0.4 ? 'instagram' : rnd() < 0.8 ? 'email' : 'internal';
      if (i < nContacts) {
        const name = `${FIRST[ci % FIRST.length]} ${LAST[Math.floor(ci / FIRST.length) % LAST.length]} ${ci}`;
        contacts.push([contactId, name, now - span, now - span]);
        const ch = ci % 3 === 0 ? 'whatsapp' : ci % 3 === 1 ? 'instagram' : 'email';
        const value = ch === 'whatsapp' ? `49151${String(ci).padStart(8, '0')}` : ch === 'instagram' ? `178414${String(ci).padStart(10, '0')}` : `customer${ci}@example.org`;
        identities.push([`seedi${ci.toString(36).padStart(8, '0')}`, contactId, ch, value, now - span]);
      }
      if (channel !== 'internal') channel = ci % 3 === 0 ? 'whatsapp' : ci % 3 === 1 ? 'instagram' : 'email';
      const createdAt = Math.floor(now - span + ((i + rnd()) / n) * span);
      const age = now - createdAt;
      const r = rnd();
      let status: TicketStatus;
      if (age < 3 * DAY) status = r < 0.2 ? 'pending' : r < 0.55 ? 'active' : r < 0.65 ? 'idle' : r < 0.7 ? 'on_hold' : r < 0.75 ? 'proactive' : r < 0.9 ? 'resolved' : 'closed';
      else status = r < 0.97 ? 'closed' : r < 0.98 ? 'resolved' : r < 0.99 ? 'on_hold' : r < 0.995 ? 'pending' : 'active';
      const botChannel = channel === 'whatsapp' || channel === 'instagram';
      const botOnly = botChannel && status !== 'proactive' && rnd() < 0.35 && (status === 'closed' || status === 'active');
      const priority: Priority = pick(['low', 'low', 'medium', 'medium', 'medium', 'medium', 'medium', 'high', 'high', 'urgent'] as const);
      const target = settings.sla?.[priority];
      const frLen = target ? parseDuration(target.firstResponse) : DAY;
      const resLen = target ? parseDuration(target.resolution) : 3 * DAY;
      const handoffAt = botChannel && !botOnly && status !== 'proactive' ? createdAt + Math.floor(rnd() * 10 * 60_000) : null;
      const start = handoffAt ?? createdAt;
      const withAgent = !botOnly && status !== 'pending';
      const assigneeId = withAgent && status !== 'on_hold' ? pick(agents) : null;
      const firstResponseAt = withAgent || (status === 'pending' && rnd() < 0.2) ? Math.min(now, start + Math.floor(rnd() ** 2 * 1.4 * frLen)) : null;
      const done = status === 'resolved' || status === 'closed';
      const resolvedAt = done && !botOnly ? Math.min(now, start + Math.floor(rnd() ** 2 * 1.4 * resLen)) : done ? Math.min(now, createdAt + Math.floor(rnd() * 3_600_000)) : null;
      const closedAt = status === 'closed' ? Math.min(now, resolvedAt! + Math.floor(rnd() * 4 * DAY)) : null;
      const statusChangedAt = closedAt ?? resolvedAt ?? Math.min(now, Math.max(firstResponseAt ?? start, start) + Math.floor(rnd() * 3_600_000));
      const n1 = 10000 + Math.floor(rnd() * 90000);
      const t: TicketRow = {
        id: ticketId(i), conversationId: null, contactId: channel === 'internal' ? null : contactId, channel: channel as TicketRow['channel'],
        account: channel === 'internal' ? null : 'seed', subject: pick(TOPICS).replace('{n}', String(n1)), description: null,
        type: botOnly ? 'bot' : 'agent', status, priority, category: rnd() < 0.1 ? null : pick(SEED_CATEGORIES),
        tags: rnd() < 0.1 ? '["vip"]' : '[]', assigneeId, lastAssigneeId: assigneeId, teamId: rnd() < 0.2 ? null : pick(teams),
        createdBy: channel === 'internal' || status === 'proactive' ? 'agent' : 'customer', createdById: null, linkedTicketId: null, openKey: null,
        handoffAt, handoffCause: handoffAt ? pick(HANDOFF_CAUSES) : null, botFlow: null,
        createdAt, updatedAt: statusChangedAt, firstResponseAt, resolvedAt: status === 'closed' || status === 'resolved' ? resolvedAt : null, closedAt,
        lastCustomerMessageAt: channel === 'internal' ? null : createdAt, lastAgentMessageAt: firstResponseAt, statusChangedAt,
        slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null,
        csatScore: done && !botOnly && rnd() < 0.3 ? 1 + Math.floor(rnd() * 5) : null, csatComment: null, version: 1,
        slaPausedMs: 0, slaPausedAt: null, slaNextCheckAt: null, slaFirstResponseBreachedAt: null, slaResolutionBreachedAt: null, slaDueAt: null, slaWarnAt: null,
      };
      // The resolution clock stopped when the ticket was resolved (closing later does not count),
      // or when it started waiting on the customer.
      if (done) t.slaPausedAt = t.resolvedAt ?? closedAt;
      else if (status === 'idle' || status === 'proactive') t.slaPausedAt = statusChangedAt;
      // Breaches the scanner would have recorded by `now`.
      const plan = slaPlan(t, settings, now);
      if (plan.firstResponse?.missed) t.slaFirstResponseBreachedAt = plan.firstResponse.due;
      if (plan.resolution?.missed) t.slaResolutionBreachedAt = plan.resolution.due;
      const b = [t.slaFirstResponseBreachedAt, t.slaResolutionBreachedAt].filter((x): x is number => typeof x === 'number');
      t.slaBreachedAt = b.length ? Math.min(...b) : null;
      Object.assign(t, slaColumns(t, settings, now));
      if (!plan.applies) t.slaPausedAt = null;
      tickets.push(TICKET_COLS.map((k) => (t[k] ?? null) as Param));
      if (withTimeline) {
        const first = botOnly || handoffAt ? 'active' : status === 'proactive' ? 'proactive' : 'pending';
        timeline.push([tlId(), t.id, createdAt, 'status', t.createdBy === 'agent' ? 'agent' : 'system', null, null, JSON.stringify({ from: null, to: first, cause: 'created' })]);
        if (handoffAt) timeline.push([tlId(), t.id, handoffAt, 'handler', 'bot', null, null, JSON.stringify({ from: 'bot', to: 'agent', cause: t.handoffCause })]);
        if (status !== first) timeline.push([tlId(), t.id, statusChangedAt, 'status', 'agent', assigneeId, null, JSON.stringify({ from: first, to: status, cause: done ? 'manual' : 'assigned' })]);
        if (i % 10 === 0) timeline.push([tlId(), t.id, createdAt + 60_000, 'comment', 'agent', assigneeId ?? agents[1], null, JSON.stringify({ body: `Checked order ${n1}, looks fine` })]);
        if (i % 25 === 0) timeline.push([tlId(), t.id, createdAt + 120_000, 'note', 'agent', agents[1], null, JSON.stringify({ body: `Internal: customer ${contactId} is a reseller` })]);
      }
    }
    await sql.tx(async (tx) => {
      if (contacts.length) {
        await insertRows(tx, 'contacts', ['id', 'name', 'createdAt', 'updatedAt'], contacts);
        await insertRows(tx, 'contact_identities', ['id', 'contactId', 'channel', 'value', 'createdAt'], identities);
      }
      await insertRows(tx, 'tickets', TICKET_COLS, tickets);
      if (timeline.length) await insertRows(tx, 'timeline', TIMELINE_COLS, timeline);
    });
    timelineRows += timeline.length;
    await indexNewRows(sql, { batch: 10_000, max: Infinity }); // SQLite's search index, as the gateway's tick would
    opts.progress?.(end);
  }
  return { tickets: n, contacts: nContacts, timeline: timelineRows, agents, teams, categories: SEED_CATEGORIES, ms: Date.now() - started };
}
