// GET /api/tickets: filters, search, sort and keyset (cursor) pagination (SPEC §4).
//
// Everything runs in SQL, on indexes, so the list stays fast with a million tickets:
// - `sla=` filters on the stored SLA columns (tickets/sla.ts slaStateSql), not on a clock
//   computed per row;
// - every sort is split into segments, each ordered by one non-null column and the id:
//   enum sorts (priority, status) run one segment per value in rank order (each served by
//   its (value, createdAt) index), nullable sorts (assignee, sla) put the nulls in their
//   own segment. The cursor names the segment and the last (value, id) seen, so paging has
//   no duplicates or gaps while other tickets are created or change (a ticket whose own sort
//   value changes moves, as it should);
// - a list of statuses runs as one query per status, merged in order;
// - `q` is answered from indexes when it can (searchCandidates: SQLite's trigram index of
//   subjects and names plus LIKE over the few rows it has not indexed yet, identity
//   prefixes, the id), else by LIKE in list order.

import { CHANNELS } from '../adapters/types.js';
import type { Sql } from '../gateway/db/sql.js';
import { badRequest } from './errors.js';
import { PRIORITIES, STATUSES, type TicketRow } from './model.js';
import type { Settings } from './settings.js';
import { SLA_STATES, slaStateSql, type SlaState } from './sla.js';
import { ticketFromRow } from './store.js';
import { containingSql, searchIndexReady } from '../gateway/db/search-index.js';

export interface ListQuery {
  [key: string]: unknown;
}

const TICKET_CHANNELS = [...CHANNELS, 'internal'] as readonly string[];

/** Filters on one column: the query parameter, its column, and the values allowed (null: any). */
const FILTERS: { name: string; column: string; values: readonly string[] | null }[] = [
  { name: 'status', column: 't.status', values: STATUSES },
  { name: 'type', column: 't.type', values: ['bot', 'agent'] },
  { name: 'channel', column: 't.channel', values: TICKET_CHANNELS },
  { name: 'priority', column: 't.priority', values: PRIORITIES },
  { name: 'category', column: 't.category', values: null },
  { name: 'team', column: 't.teamId', values: null },
];

export const SORT_KEYS = ['createdAt', 'updatedAt', 'priority', 'status', 'subject', 'assignee', 'sla'] as const;

function list(v: unknown): string[] {
  if (v === undefined || v === '') return [];
  return (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
}

function time(v: unknown, name: string): number | null {
  if (v === undefined || v === '') return null;
  if (typeof v !== 'string') throw badRequest(`${name} must be an ISO date`);
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(t)) throw badRequest(`${name} must be an ISO date (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`);
  return t;
}

function inList(column: string, vals: string[], params: unknown[]): string {
  params.push(...vals);
  return vals.length === 1 ? `${column} = ?` : `${column} IN (${vals.map(() => '?').join(', ')})`;
}

/** Values of `sla=` (validated). */
export function slaStates(q: ListQuery): SlaState[] {
  const vals = list(q.sla);
  const bad = vals.filter((s) => !SLA_STATES.includes(s as SlaState));
  if (bad.length) throw badRequest(`sla must be a comma list of ${SLA_STATES.join(', ')} (got ${bad.join(', ')})`);
  return vals as SlaState[];
}

/**
 * The WHERE clause shared by the list and the export (alias `t`). With `now`, `sla=` is
 * included (on the stored SLA columns); without it the caller filters SLA itself.
 */
export function whereOf(q: ListQuery, me: string, now?: number, opts: { searchIds?: string[] | null; fts?: boolean } = {}): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const f of FILTERS) {
    const vals = list(q[f.name]);
    if (!vals.length) continue;
    if (f.values) {
      const bad = vals.filter((v) => !f.values!.includes(v));
      if (bad.length) throw badRequest(`${f.name} must be a comma list of ${f.values.join(', ')} (got ${bad.join(', ')})`);
    }
    // team=none / category=none: tickets without one.
    const none = !f.values && vals.includes('none');
    const ids = vals.filter((v) => !(none && v === 'none'));
    const parts = [];
    if (ids.length) parts.push(inList(f.column, ids, params));
    if (none) parts.push(`${f.column} IS NULL`);
    where.push(parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`);
  }
  const assignees = list(q.assignee).map((a) => (a === 'me' ? me : a));
  if (assignees.length) {
    const ids = [...new Set(assignees.filter((a) => a !== 'none'))];
    const parts = [];
    if (ids.length) parts.push(inList('t.assigneeId', ids, params));
    if (assignees.includes('none')) parts.push('t.assigneeId IS NULL');
    where.push(parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`);
  }
  const from = time(q.from, 'from');
  const to = time(q.to, 'to');
  if (from !== null && to !== null && to < from) throw badRequest('to must not be before from');
  if (from !== null) {
    where.push('t.createdAt >= ?');
    params.push(from);
  }
  if (to !== null) {
    where.push('t.createdAt < ?');
    params.push(to);
  }
  const search = searchTerm(q);
  if (search && opts.searchIds) {
    // The matches were found on the search index (searchCandidates).
    where.push(opts.searchIds.length ? inList('t.id', opts.searchIds, params) : '1 = 0');
  } else if (search) {
    // '!' as the LIKE escape: a backslash means different things in MySQL and SQLite literals.
    // Subject and name match anywhere (LOWER: MySQL's binary collation is case-sensitive);
    // the id exactly (primary key); identities (phone, IGSID, email) by prefix on their
    // unique (channel, value) index, phone numbers with or without the leading +.
    const esc = (s: string) => s.replace(/[!%_]/g, (c) => `!${c}`);
    const like = `%${esc(search.toLowerCase())}%`;
    const ident = identityPrefixes(search);
    // Names from the trigram index when it can answer (a common term lands here: the
    // subjects are then scanned in list order, which finds a page quickly).
    const namesFts = opts.fts && ftsCanAnswer(search);
    const names = namesFts ? containingSql('contacts') : "SELECT id FROM contacts WHERE LOWER(name) LIKE ? ESCAPE '!'";
    where.push(
      `(t.id = ? OR LOWER(t.subject) LIKE ? ESCAPE '!'` +
        ` OR t.contactId IN (${names})` +
        ` OR t.contactId IN (SELECT contactId FROM contact_identities WHERE ${ident.sql}))`,
    );
    params.push(search.toUpperCase(), like, like, ...(namesFts ? [like] : []), ...ident.params);
  }
  if (now !== undefined) {
    const states = slaStates(q);
    if (states.length && states.length < SLA_STATES.length) {
      const parts = states.map((s) => {
        const c = slaStateSql(s);
        for (let i = 0; i < c.nowParams; i++) params.push(now);
        return c.sql;
      });
      where.push(parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`);
    }
  }
  return { where, params };
}

const searchTerm = (q: ListQuery) => (typeof q.q === 'string' ? q.q.trim().slice(0, 200) : '');
/** The trigram index matches LIKE patterns of 3+ characters; wildcards in the term itself need LIKE's ESCAPE. */
const ftsCanAnswer = (term: string) => [...term].length >= 3 && !/[%_!]/.test(term);

/** More matches than this: the ordered scan with LIKE finds a page sooner than collecting them all. */
const SEARCH_CAP = 2000;

/**
 * The ids of the tickets `q` matches, from indexes (SQLite's trigram index of subjects and
 * contact names, or a LIKE over the (subject, id) index where there is none; the
 * identities' (channel, value) index; the primary key), or null when the term is so common
 * that scanning in list order finds a page sooner.
 */
export async function searchCandidates(sql: Sql, q: ListQuery): Promise<string[] | null> {
  const search = searchTerm(q);
  if (!search) return null;
  const fts = ftsCanAnswer(search) && (await searchIndexReady(sql));
  const ids = new Set<string>();
  // Without the trigram index (MySQL, short terms): LIKE over the (subject, id) index alone,
  // which reads far less than walking the tickets in list order and fetching each row.
  const like = fts ? `%${search.toLowerCase()}%` : `%${search.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
  // Ids of the rows whose column contains the term: through its trigram index (and LIKE over
  // the rows not indexed yet), else by LIKE.
  const containing = (table: 'tickets' | 'contacts', column: 'subject' | 'name') => sql.query<{ id: string }>(
    fts
      ? `${containingSql(table)} LIMIT ${SEARCH_CAP + 1}`
      : `SELECT id FROM ${table} WHERE LOWER(${column}) LIKE ? ESCAPE '!' LIMIT ${SEARCH_CAP + 1}`,
    fts ? [like, like] : [like],
  );
  const subjects = await containing('tickets', 'subject');
  if (subjects.length > SEARCH_CAP) return null;
  for (const r of subjects) ids.add(r.id);
  const named = await containing('contacts', 'name');
  if (named.length > SEARCH_CAP) return null;
  const ident = identityPrefixes(search);
  const identified = await sql.query<{ contactId: string }>(`SELECT contactId FROM contact_identities WHERE ${ident.sql} LIMIT ${SEARCH_CAP + 1}`, ident.params as any[]);
  if (identified.length > SEARCH_CAP) return null;
  const contacts = [...new Set([...named.map((r) => r.id), ...identified.map((r) => r.contactId)])];
  for (let i = 0; i < contacts.length; i += 500) {
    const chunk = contacts.slice(i, i + 500);
    const rows = await sql.query<{ id: string }>(`SELECT id FROM tickets WHERE contactId IN (${chunk.map(() => '?').join(', ')}) LIMIT ${SEARCH_CAP + 1}`, chunk);
    if (rows.length > SEARCH_CAP) return null;
    for (const r of rows) ids.add(r.id);
    if (ids.size > 2 * SEARCH_CAP) return null;
  }
  const byId = await sql.query<{ id: string }>('SELECT id FROM tickets WHERE id = ?', [search.toUpperCase()]);
  for (const r of byId) ids.add(r.id);
  return [...ids];
}

/** Identities (phone, IGSID, email) starting with the term, on the (channel, value) index; a phone's leading + is optional. */
function identityPrefixes(search: string): { sql: string; params: unknown[] } {
  const ident = search.replace(/^\+/, '');
  const prefixes = [...new Set([ident, ident.toLowerCase()])];
  return {
    sql: prefixes.map(() => `(channel IN (${CHANNELS.map(() => '?').join(', ')}) AND value >= ? AND value < ?)`).join(' OR '),
    params: prefixes.flatMap((p) => [...CHANNELS, p, `${p}\u{10FFFF}`]),
  };
}

/** One part of a sort: rows matching `cond`, ordered by the non-null `col`, then id. */
interface Segment {
  cond: string | null;
  col: string;
  value(r: TicketRow): string | number;
}

const num = (k: keyof TicketRow) => (r: TicketRow) => Number(r[k]);
const byCreated = (cond: string | null): Segment => ({ cond, col: 't.createdAt', value: num('createdAt') });

function segmentsOf(key: string, desc: boolean): Segment[] {
  const ordered = (segs: Segment[]) => (desc ? segs.reverse() : segs);
  switch (key) {
    case 'createdAt':
      return [byCreated(null)];
    case 'updatedAt':
      return [{ cond: null, col: 't.updatedAt', value: num('updatedAt') }];
    case 'subject':
      return [{ cond: null, col: 't.subject', value: (r) => r.subject }];
    case 'priority':
      return ordered(PRIORITIES.map((p) => byCreated(`t.priority = '${p}'`)));
    case 'status':
      return ordered(STATUSES.map((s) => byCreated(`t.status = '${s}'`)));
    case 'assignee':
      // Unassigned first (ascending), like an empty name.
      return ordered([byCreated('t.assigneeId IS NULL'), { cond: 't.assigneeId IS NOT NULL', col: 't.assigneeId', value: (r) => r.assigneeId! }]);
    case 'sla':
      // By time left (the earliest due of a running clock); tickets without a running clock last, either way.
      return [{ cond: 't.slaDueAt IS NOT NULL', col: 't.slaDueAt', value: num('slaDueAt') }, byCreated('t.slaDueAt IS NULL')];
    default:
      throw badRequest(`sort must be one of ${SORT_KEYS.join(', ')} (prefix - for descending)`);
  }
}

interface Cursor {
  k: string;
  s: number;
  v: string | number;
  id: string;
}

const encode = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');
function decode(s: unknown, sort: string, segments: number): Cursor | null {
  if (s === undefined || s === '') return null;
  let c: Cursor;
  try {
    c = JSON.parse(Buffer.from(String(s), 'base64url').toString());
  } catch {
    throw badRequest('cursor is not valid (use the nextCursor of the previous page)');
  }
  if (typeof c?.id !== 'string' || !Number.isInteger(c.s) || c.s < 0 || c.s >= segments || !['string', 'number'].includes(typeof c.v)) {
    throw badRequest('cursor is not valid (use the nextCursor of the previous page)');
  }
  if (c.k !== sort) throw badRequest(`cursor belongs to sort=${c.k}; start again without a cursor to sort by ${sort}`);
  return c;
}

export interface ListPage {
  rows: TicketRow[];
  nextCursor: string | null;
}

/** Compares sort values as the databases do: numbers numerically, strings by code point (UTF-8 byte order). */
function compareValues(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}

export async function listTickets(sql: Sql, q: ListQuery, me: string, _settings: Settings, now: number): Promise<ListPage> {
  const limit = q.limit === undefined || q.limit === '' ? 50 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw badRequest('limit must be an integer from 1 to 200');
  const sort = typeof q.sort === 'string' && q.sort ? q.sort : '-createdAt';
  const desc = sort.startsWith('-');
  const segments = segmentsOf(sort.replace(/^-/, ''), desc);
  const cursor = decode(q.cursor, sort, segments.length);
  // A list of statuses (the inbox's usual filter) runs as one query per status, merged here:
  // each is an equality the (status, ...) indexes serve in order, where an IN list would
  // make the database sort every matching ticket before returning the first page.
  const statuses = list(q.status);
  const branches = statuses.length > 1 && statuses.every((v) => (STATUSES as readonly string[]).includes(v)) ? [...new Set(statuses)] : [null];
  const searchIds = await searchCandidates(sql, q);
  const fts = searchTerm(q) ? await searchIndexReady(sql) : false;
  const { where, params } = whereOf(branches[0] === null ? q : { ...q, status: undefined }, me, now, { searchIds, fts });
  const dir = desc ? 'DESC' : 'ASC';
  const cmp = desc ? '<' : '>';
  const out: { row: TicketRow; s: number }[] = [];
  for (let s = cursor?.s ?? 0; s < segments.length && out.length <= limit; s++) {
    const seg = segments[s];
    const need = limit + 1 - out.length;
    const found: TicketRow[] = [];
    for (const status of branches) {
      const w = [...where];
      const p = [...params];
      if (status !== null) {
        w.push('t.status = ?');
        p.push(status);
      }
      if (seg.cond) w.push(seg.cond);
      if (cursor && cursor.s === s) {
        // Written so the column's index serves the range (an OR alone would not).
        w.push(`${seg.col} ${cmp}= ? AND (${seg.col} ${cmp} ? OR t.id ${cmp} ?)`);
        p.push(cursor.v, cursor.v, cursor.id);
      }
      const rows = await sql.query(
        `SELECT t.* FROM tickets t ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY ${seg.col} ${dir}, t.id ${dir} LIMIT ${need}`,
        p as any[],
      );
      for (const r of rows) found.push(ticketFromRow(r));
    }
    if (branches.length > 1) {
      const sign = desc ? -1 : 1;
      found.sort((x, y) => sign * (compareValues(seg.value(x), seg.value(y)) || compareValues(x.id, y.id)));
    }
    for (const row of found.slice(0, need)) out.push({ row, s });
  }
  if (out.length <= limit) return { rows: out.map((x) => x.row), nextCursor: null };
  const last = out[limit - 1];
  return { rows: out.slice(0, limit).map((x) => x.row), nextCursor: encode({ k: sort, s: last.s, v: segments[last.s].value(last.row), id: last.row.id }) };
}
