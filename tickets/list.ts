// GET /api/tickets: filters, search, sort and keyset (cursor) pagination (SPEC §4).
// Keyset pagination on (sort value, id) has no duplicates or gaps while tickets change.

import type { Sql } from '../gateway/db/sql.js';
import { badRequest } from './errors.js';
import { PRIORITIES, STATUSES, type TicketRow } from './model.js';
import type { Settings } from './settings.js';
import { computeSla } from './sla.js';
import { ticketFromRow } from './store.js';

export interface ListQuery {
  [key: string]: unknown;
}

const LIST_FILTERS = ['status', 'type', 'channel', 'priority', 'category', 'team'] as const;
const COLUMN: Record<string, string> = { team: 'teamId' };

const rankCase = (col: string, values: readonly string[]) => `CASE ${col} ${values.map((v, i) => `WHEN '${v}' THEN ${i}`).join(' ')} ELSE 99 END`;

const SORTS: Record<string, string> = {
  createdAt: 't.createdAt',
  updatedAt: 't.updatedAt',
  priority: rankCase('t.priority', PRIORITIES),
  status: rankCase('t.status', STATUSES),
  subject: 't.subject',
  assignee: "COALESCE(t.assigneeId, '')",
};

function list(v: unknown): string[] {
  if (v === undefined || v === '') return [];
  const parts = (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
  return parts;
}

function time(v: unknown, name: string): number | null {
  if (v === undefined || v === '') return null;
  const t = Date.parse(String(v));
  if (Number.isNaN(t)) throw badRequest(`${name} must be an ISO date`);
  return t;
}

interface Cursor {
  v: string | number;
  id: string;
}

const encode = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');
function decode(s: unknown): Cursor | null {
  if (!s) return null;
  try {
    const c = JSON.parse(Buffer.from(String(s), 'base64url').toString());
    if (typeof c?.id !== 'string') throw new Error();
    return c;
  } catch {
    throw badRequest('cursor is not valid (use the nextCursor of the previous page)');
  }
}

/** Builds the WHERE clause shared by the list and the export. */
export function whereOf(q: ListQuery, me: string): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const f of LIST_FILTERS) {
    const vals = list(q[f]);
    if (vals.length) {
      where.push(`t.${COLUMN[f] ?? f} IN (${vals.map(() => '?').join(', ')})`);
      params.push(...vals);
    }
  }
  const assignees = list(q.assignee).map((a) => (a === 'me' ? me : a));
  if (assignees.length) {
    const ids = assignees.filter((a) => a !== 'none');
    const parts = [];
    if (ids.length) {
      parts.push(`t.assigneeId IN (${ids.map(() => '?').join(', ')})`);
      params.push(...ids);
    }
    if (assignees.includes('none')) parts.push('t.assigneeId IS NULL');
    where.push(`(${parts.join(' OR ')})`);
  }
  const from = time(q.from, 'from');
  const to = time(q.to, 'to');
  if (from !== null) {
    where.push('t.createdAt >= ?');
    params.push(from);
  }
  if (to !== null) {
    where.push('t.createdAt < ?');
    params.push(to);
  }
  const search = typeof q.q === 'string' ? q.q.trim() : '';
  if (search) {
    // '!' as the LIKE escape: a backslash means different things in MySQL and SQLite literals.
    const like = `%${search.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
    where.push(
      `(t.id = ? OR LOWER(t.subject) LIKE ? ESCAPE '!' OR t.contactId IN (SELECT id FROM contacts WHERE LOWER(name) LIKE ? ESCAPE '!') OR t.contactId IN (SELECT contactId FROM contact_identities WHERE LOWER(value) LIKE ? ESCAPE '!'))`,
    );
    params.push(search.toUpperCase(), like, like, like);
  }
  return { where, params };
}

export async function listTickets(sql: Sql, q: ListQuery, me: string, settings: Settings, now: number): Promise<{ rows: TicketRow[]; nextCursor: string | null }> {
  const limit = q.limit === undefined ? 50 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw badRequest('limit must be an integer from 1 to 200');
  const sortParam = typeof q.sort === 'string' && q.sort ? q.sort : '-createdAt';
  const desc = sortParam.startsWith('-');
  const sortKey = sortParam.replace(/^-/, '');
  const slaStates = list(q.sla);
  const { where, params } = whereOf(q, me);
  if (sortKey === 'sla') return listBySla(sql, where, params, limit, desc, slaStates, settings, now, decode(q.cursor));
  const expr = SORTS[sortKey];
  if (!expr) throw badRequest(`sort must be one of ${[...Object.keys(SORTS), 'sla'].join(', ')} (prefix - for descending)`);
  const cursor = decode(q.cursor);
  const cmp = desc ? '<' : '>';
  const out: TicketRow[] = [];
  let after = cursor;
  // With an SLA filter (computed, not stored) pages are topped up until full.
  for (let round = 0; round < 20 && out.length < limit; round++) {
    const w = [...where];
    const p = [...params];
    if (after) {
      w.push(`(${expr} ${cmp} ? OR (${expr} = ? AND t.id ${cmp} ?))`);
      p.push(after.v, after.v, after.id);
    }
    const rows = (await sql.query(
      `SELECT t.* FROM tickets t ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY ${expr} ${desc ? 'DESC' : 'ASC'}, t.id ${desc ? 'DESC' : 'ASC'} LIMIT ${limit + 1}`,
      p as any[],
    )).map(ticketFromRow);
    const more = rows.length > limit;
    for (const r of rows.slice(0, limit)) {
      after = { v: sortValue(sortKey, r), id: r.id };
      if (slaStates.length && !slaStates.includes(computeSla(r, settings, now).state)) continue;
      out.push(r);
      if (out.length === limit) break;
    }
    if (!more) return { rows: out, nextCursor: null };
    if (!slaStates.length) break;
  }
  return { rows: out, nextCursor: out.length && after ? encode({ v: sortValue(sortKey, out[out.length - 1]), id: out[out.length - 1].id }) : null };
}

function sortValue(key: string, r: TicketRow): string | number {
  switch (key) {
    case 'priority':
      return PRIORITIES.indexOf(r.priority);
    case 'status':
      return STATUSES.indexOf(r.status);
    case 'assignee':
      return r.assigneeId ?? '';
    default:
      return (r as any)[key];
  }
}

/** Sort by time left on the SLA (computed): open tickets only, ordered in memory over a bounded window. */
async function listBySla(sql: Sql, where: string[], params: unknown[], limit: number, desc: boolean, states: string[], settings: Settings, now: number, cursor: Cursor | null) {
  const w = [...where, "t.status NOT IN ('closed')"];
  const rows = (await sql.query(`SELECT t.* FROM tickets t WHERE ${w.join(' AND ')} ORDER BY t.createdAt DESC LIMIT 5000`, params as any[])).map(ticketFromRow);
  const scored = rows
    .map((r) => ({ r, s: computeSla(r, settings, now) }))
    .filter((x) => !states.length || states.includes(x.s.state))
    .map((x) => ({ r: x.r, left: x.s.timeLeft ?? Number.MAX_SAFE_INTEGER }))
    .sort((a, b) => (desc ? b.left - a.left : a.left - b.left) || (a.r.id < b.r.id ? -1 : 1));
  let start = 0;
  if (cursor) start = scored.findIndex((x) => x.r.id === cursor.id) + 1;
  const page = scored.slice(start, start + limit);
  const next = start + limit < scored.length ? encode({ v: 0, id: page[page.length - 1].r.id }) : null;
  return { rows: page.map((x) => x.r), nextCursor: next };
}
