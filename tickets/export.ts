// GET /api/tickets/export?format=csv|json (SPEC §3.9): every ticket matching the list's
// filters (status, type, channel, priority, category, team, assignee, q, from/to on
// createdAt, sla), with every field, comments, notes (only for users with the notes
// permission), status history and SLA data.
//
// Streamed from the database in keyset batches ordered by (createdAt, id): each batch
// is one indexed range query, written out before the next is read, and the loop waits
// for the socket to drain when the client reads slower than we produce. Memory stays
// flat whatever the number of tickets; a client that goes away stops the queries.
//
// CSV: one row per ticket (csv-stringify), nested content in named columns of
// "time — who: text" lines; every cell that a spreadsheet would read as a formula
// (leading = + - @ tab CR) gets a leading apostrophe so it opens as text.

import express, { type Request, type Response, type Router } from 'express';
import { stringify } from 'csv-stringify/sync';
import type { Sql } from '../gateway/db/sql.js';
import { canReadNotes, userOf } from './auth.js';
import type { TicketContext } from './context.js';
import { badRequest } from './errors.js';
import { whereOf } from './list.js';
import type { TicketRow } from './model.js';
import type { Settings } from './settings.js';
import type { Channel } from '../adapters/types.js';
import { ticketFromRow, type ContactView, type TimelineRow } from './store.js';
import { parseJson, ticketView, type TicketView } from './views.js';

export const EXPORT_BATCH = 500;
const WRITE_SLICE = 50;
const SLA_STATES = ['green', 'yellow', 'red', 'met', 'none'];

export interface ExportDeps {
  ctx: TicketContext;
}

/** Cells a spreadsheet would evaluate (=, +, -, @, tab, CR first) are prefixed with '. */
export function neutralise(cell: string): string {
  // Char codes of = + - @ tab CR (a switch: this runs for every cell of a million rows).
  switch (cell.charCodeAt(0)) {
    case 61:
    case 43:
    case 45:
    case 64:
    case 9:
    case 13:
      return `'${cell}`;
    default:
      return cell;
  }
}

interface Remark {
  id: string;
  at: string;
  author: { kind: string; id: string | null; name: string | null };
  body: string;
  editedAt?: string;
}

interface StatusChange {
  at: string;
  actor: { kind: string; id: string | null; name: string | null };
  kind: 'status' | 'handler';
  from: string | null;
  to: string | null;
  cause: string | null;
}

interface SlaEvent {
  at: string;
  event: string;
  data: Record<string, unknown>;
}

interface TicketHistory {
  comments: Remark[];
  notes: Remark[];
  statusHistory: StatusChange[];
  slaEvents: SlaEvent[];
}

export type ExportRecord = TicketView & {
  comments: Remark[];
  notes?: Remark[];
  statusHistory: StatusChange[];
  slaEvents: SlaEvent[];
};

const iso = (t: number) => new Date(t).toISOString();

/**
 * An IN list padded with NULLs (which match nothing) to a power of two: a handful of
 * distinct statement texts instead of one per batch size, so SQLite's prepared
 * statements are reused, not piled up (each one of ~500 parameters holds memory).
 */
function inList(values: string[]): { ph: string; params: (string | null)[] } {
  let size = 8;
  while (size < values.length) size *= 2;
  const params: (string | null)[] = [...values];
  while (params.length < size) params.push(null);
  return { ph: params.map(() => '?').join(', '), params };
}

/** Contacts with their identities (the first per channel), like the ticket views show them. */
async function contactsOf(sql: Sql, ids: string[]): Promise<Map<string, ContactView>> {
  const out = new Map<string, ContactView>();
  const uniq = [...new Set(ids)];
  if (!uniq.length) return out;
  const { ph, params } = inList(uniq);
  const [contacts, idents] = await Promise.all([
    sql.query<{ id: string; name: string | null }>(`SELECT id, name FROM contacts WHERE id IN (${ph})`, params),
    sql.query<{ contactId: string; channel: Channel; value: string }>(`SELECT contactId, channel, value FROM contact_identities WHERE contactId IN (${ph}) ORDER BY createdAt`, params),
  ]);
  for (const c of contacts) out.set(c.id, { id: c.id, name: c.name, identities: {} });
  for (const i of idents) {
    const c = out.get(i.contactId);
    if (c && !c.identities[i.channel]) c.identities[i.channel] = i.value;
  }
  return out;
}

/** Comments, notes (when asked for), status history and SLA events of a batch of tickets. */
async function histories(sql: Sql, ids: string[], withNotes: boolean): Promise<Map<string, TicketHistory>> {
  const out = new Map<string, TicketHistory>(ids.map((id) => [id, { comments: [], notes: [], statusHistory: [], slaEvents: [] }]));
  if (!ids.length) return out;
  // Notes are not even read for users without the permission.
  const types = withNotes ? "'comment', 'status', 'handler', 'sla', 'note'" : "'comment', 'status', 'handler', 'sla'";
  const { ph, params } = inList(ids);
  const rows = await sql.query<TimelineRow>(
    `SELECT id, ticketId, at, type, actorKind, actorId, actorName, data FROM timeline WHERE ticketId IN (${ph}) AND type IN (${types}) ORDER BY ticketId, at, id`,
    params,
  );
  for (const r of rows) {
    const h = out.get(r.ticketId);
    if (!h) continue;
    const at = iso(Number(r.at));
    const actor = { kind: r.actorKind, id: r.actorId, name: r.actorName };
    const data = parseJson<Record<string, any>>(r.data, {});
    if (r.type === 'comment' || r.type === 'note') {
      if (data.deleted || typeof data.body !== 'string') continue;
      const remark: Remark = { id: r.id, at, author: actor, body: data.body, ...(data.editedAt ? { editedAt: data.editedAt } : {}) };
      (r.type === 'note' ? h.notes : h.comments).push(remark);
    } else if (r.type === 'status' || r.type === 'handler') {
      h.statusHistory.push({ at, actor, kind: r.type, from: data.from ?? null, to: data.to ?? null, cause: data.cause ?? null });
    } else {
      const { event, ...rest } = data;
      h.slaEvents.push({ at, event: String(event ?? 'sla'), data: rest });
    }
  }
  return out;
}

// ---- CSV -----------------------------------------------------------------------------

const who = (a: { kind: string; name: string | null; id: string | null }) => a.name ?? (a.kind === 'agent' ? a.id ?? 'agent' : a.kind);
const remarkLines = (rs: Remark[]) => rs.map((c) => `${c.at} — ${who(c.author)}: ${c.body}${c.editedAt ? ' (edited)' : ''}`).join('\n');
const statusLines = (ss: StatusChange[]) =>
  ss.map((s) => `${s.at} — ${who(s.actor)}: ${s.kind === 'handler' ? 'handler ' : ''}${s.from ?? '(new)'} → ${s.to ?? ''}${s.cause ? ` (${s.cause})` : ''}`).join('\n');
const slaLines = (es: SlaEvent[]) => es.map((e) => `${e.at} — ${e.event}${Object.keys(e.data).length ? ` ${JSON.stringify(e.data)}` : ''}`).join('\n');

/** The CSV columns: [header, value of a record]. */
const CSV_COLUMNS: [string, (r: ExportRecord) => unknown][] = [
  ['id', (r) => r.id],
  ['subject', (r) => r.subject],
  ['description', (r) => r.description],
  ['channel', (r) => r.channel],
  ['type', (r) => r.type],
  ['status', (r) => r.status],
  ['priority', (r) => r.priority],
  ['category', (r) => r.category],
  ['tags', (r) => r.tags.join(', ')],
  ['assignee_id', (r) => r.assignee?.id],
  ['assignee_name', (r) => r.assignee?.name],
  ['team_id', (r) => r.team?.id],
  ['team_name', (r) => r.team?.name],
  ['created_by', (r) => r.createdBy],
  ['linked_ticket_id', (r) => r.linkedTicketId],
  ['contact_id', (r) => r.contact?.id],
  ['contact_name', (r) => r.contact?.name],
  ['contact_whatsapp', (r) => r.contact?.identities.whatsapp],
  ['contact_instagram', (r) => r.contact?.identities.instagram],
  ['contact_email', (r) => r.contact?.identities.email],
  ['created_at', (r) => r.createdAt],
  ['updated_at', (r) => r.updatedAt],
  ['first_response_at', (r) => r.firstResponseAt],
  ['resolved_at', (r) => r.resolvedAt],
  ['closed_at', (r) => r.closedAt],
  ['last_customer_message_at', (r) => r.lastCustomerMessageAt],
  ['handoff_at', (r) => r.handoffAt],
  ['handoff_cause', (r) => r.handoffCause],
  ['csat_score', (r) => r.csat?.score],
  ['csat_comment', (r) => r.csat?.comment],
  ['sla_state', (r) => r.sla.state],
  ['sla_first_response_due_at', (r) => r.sla.firstResponseDueAt],
  ['sla_resolution_due_at', (r) => r.sla.resolutionDueAt],
  ['sla_breached_at', (r) => r.sla.breachedAt],
  ['sla_events', (r) => slaLines(r.slaEvents)],
  ['status_history', (r) => statusLines(r.statusHistory)],
  ['comments', (r) => remarkLines(r.comments)],
];
const NOTES_COLUMN: [string, (r: ExportRecord) => unknown] = ['notes', (r) => remarkLines(r.notes ?? [])];

function cell(v: unknown): string | number {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return v;
  return neutralise(String(v));
}

function csvChunk(records: ExportRecord[], columns: typeof CSV_COLUMNS, header: boolean): string {
  const rows: (string | number)[][] = header ? [columns.map(([h]) => h)] : [];
  for (const r of records) rows.push(columns.map(([, get]) => cell(get(r))));
  return stringify(rows, { record_delimiter: 'windows' });
}

// ---- the route ------------------------------------------------------------------------

export function exportRoutes(d: ExportDeps): Router {
  const { ctx } = d;
  const r = express.Router();
  r.get('/tickets/export', async (req, res) => {
    await exportTickets(ctx, req, res);
  });
  return r;
}

/** A client that reads nothing for this long is cut off (it holds no database resources meanwhile). */
const STALL_MS = 120_000;

/** Waits until the socket takes more data (or is gone, or stalled too long). */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      res.destroy();
      done();
    }, STALL_MS);
    function done() {
      clearTimeout(timer);
      res.off('drain', done);
      res.off('close', done);
      resolve();
    }
    res.on('drain', done);
    res.on('close', done);
  });
}

export interface ExportQuery {
  [key: string]: unknown;
}

/**
 * The batches of an export: keyset pages in (createdAt, id) order over the list's filters,
 * each turned into records with views, histories and SLA; `sla=` is applied to the
 * computed state.
 *
 * Two kinds of page keep every query an index range scan (an ORDER BY createdAt, id with
 * an OR on both columns made SQLite sort the whole remaining range for every page):
 * pages after a createdAt value ordered by createdAt alone, cut before the last
 * createdAt value they reach, and that value's tickets ("ties") paged by id.
 */
export async function* exportBatches(sql: Sql, q: ExportQuery, me: string, withNotes: boolean, settings: Settings, now: number, batch = EXPORT_BATCH): AsyncGenerator<ExportRecord[]> {
  const { where, params } = whereOf(q, me);
  // Agents and teams are few: their names are read once for the whole export.
  const [users, teams] = await Promise.all([
    sql.query<{ id: string; name: string }>('SELECT id, name FROM users'),
    sql.query<{ id: string; name: string }>('SELECT id, name FROM teams'),
  ]);
  const names = { users: new Map(users.map((u) => [u.id, u.name])), teams: new Map(teams.map((x) => [x.id, x.name])) };
  const sla = String(q.sla ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const select = async (extra: string[], extraParams: unknown[], order: string): Promise<TicketRow[]> => {
    const w = [...where, ...extra];
    return (await sql.query(
      `SELECT t.* FROM tickets t ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ${batch}`,
      [...params, ...extraParams] as any[],
    )).map(ticketFromRow);
  };
  let after: number | null = null; // every ticket created at or before this is done
  let tie: { at: number; id: string } | null = null; // paging through tickets created at `at`
  for (;;) {
    let rows: TicketRow[];
    if (tie) {
      rows = await select(['t.createdAt = ?', 't.id > ?'], [tie.at, tie.id], 't.id');
      if (rows.length < batch) {
        after = tie.at;
        tie = null;
      } else {
        tie = { at: tie.at, id: rows[rows.length - 1].id };
      }
    } else {
      rows = await select(after === null ? [] : ['t.createdAt > ?'], after === null ? [] : [after], 't.createdAt');
      if (rows.length === batch) {
        // The last createdAt value may continue past this page: leave it to the tie pages.
        const last = rows[rows.length - 1].createdAt;
        rows = rows.filter((r) => r.createdAt !== last);
        tie = { at: last, id: '' };
      } else if (!rows.length) {
        return;
      } else {
        after = Infinity;
      }
    }
    if (rows.length) {
      const [contacts, hist] = await Promise.all([
        contactsOf(sql, rows.map((r) => r.contactId).filter((x): x is string => !!x)),
        histories(sql, rows.map((t) => t.id), withNotes),
      ]);
      const records: ExportRecord[] = [];
      for (const t of rows) {
        const v = ticketView(t, contacts, names.users, names.teams, settings, now);
        if (sla.length && !sla.includes(v.sla.state)) continue;
        const h = hist.get(v.id)!;
        // The view is fresh: extend it in place rather than copying it.
        const rec = v as ExportRecord;
        rec.comments = h.comments;
        if (withNotes) rec.notes = h.notes;
        rec.statusHistory = h.statusHistory;
        rec.slaEvents = h.slaEvents;
        records.push(rec);
      }
      if (records.length) yield records;
    }
    if (after === Infinity) return;
  }
}

async function exportTickets(ctx: TicketContext, req: Request, res: Response): Promise<void> {
  const q = req.query as ExportQuery;
  const format = q.format === undefined || q.format === '' ? 'csv' : String(q.format);
  if (format !== 'csv' && format !== 'json') throw badRequest('format must be csv or json');
  const bad = String(q.sla ?? '').split(',').map((s) => s.trim()).filter((s) => s && !SLA_STATES.includes(s));
  if (bad.length) throw badRequest(`sla must be a list of ${SLA_STATES.join(', ')}`);
  const me = userOf(req);
  const withNotes = canReadNotes(me);
  const settings = await ctx.settings.get();
  const now = ctx.clock.now();
  const batches = exportBatches(ctx.sql, q, me.id, withNotes, settings, now);
  // The first batch is read before answering: bad filters and database errors still get
  // a proper JSON error instead of a truncated file.
  let next = await batches.next();

  const date = new Date(now).toISOString().slice(0, 10);
  res.status(200);
  res.setHeader('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="tickets-${date}.${format}"`);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');

  const columns = withNotes ? [...CSV_COLUMNS, NOTES_COLUMN] : CSV_COLUMNS;
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const write = async (chunk: string) => {
    if (!res.write(chunk) && !closed) await drained(res);
  };

  try {
    let first = true;
    // A byte-order mark so spreadsheets read the file as UTF-8.
    if (format === 'csv') await write(`\uFEFF${csvChunk([], columns, true)}`);
    else await write('[');
    while (!next.done && !closed) {
      const records = next.value;
      // Written in slices of WRITE_SLICE records: small strings stay in V8's young
      // generation (one big chunk per batch would land in large-object space, which only
      // a full GC frees), so the heap does not grow with the export.
      for (let i = 0; i < records.length && !closed; i += WRITE_SLICE) {
        const slice = records.slice(i, i + WRITE_SLICE);
        if (format === 'csv') {
          await write(csvChunk(slice, columns, false));
        } else {
          let s = '';
          for (const rec of slice) {
            s += `${first ? '\n' : ',\n'}${JSON.stringify(rec)}`;
            first = false;
          }
          await write(s);
        }
      }
      if (closed) break;
      next = await batches.next();
    }
    if (closed) {
      await batches.return(undefined);
      return;
    }
    res.end(format === 'json' ? '\n]\n' : undefined);
  } catch (err) {
    // Headers are gone: cut the connection so the client sees an incomplete download,
    // never a file that looks complete.
    ctx.log.error({ err }, 'export failed');
    res.destroy(err as Error);
  }
}
