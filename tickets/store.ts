// SQL for contacts, conversations, tickets, messages and the timeline. Plain
// parameterised statements, portable between SQLite and MySQL.

import type { Sql } from '../gateway/db/sql.js';
import { newId } from '../gateway/ids.js';
import type { Channel } from '../adapters/types.js';
import type { Actor, ConversationRow, MessageRow, TicketRow, UserRow } from './model.js';

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** mysql2 may return BIGINT as number or string; normalise the time columns. */
const TICKET_NUMS = [
  'handoffAt', 'createdAt', 'updatedAt', 'firstResponseAt', 'resolvedAt', 'closedAt', 'lastCustomerMessageAt',
  'lastAgentMessageAt', 'statusChangedAt', 'slaFirstResponseDueAt', 'slaResolutionDueAt', 'slaBreachedAt', 'csatScore', 'version',
] as const;

export function ticketFromRow(r: any): TicketRow {
  for (const k of TICKET_NUMS) r[k] = num(r[k]);
  return r as TicketRow;
}

function messageFromRow(r: any): MessageRow {
  r.platformAt = num(r.platformAt);
  r.createdAt = Number(r.createdAt);
  r.updatedAt = Number(r.updatedAt);
  return r as MessageRow;
}

export async function getTicket(sql: Sql, id: string): Promise<TicketRow | null> {
  const rows = await sql.query('SELECT * FROM tickets WHERE id = ?', [id]);
  return rows[0] ? ticketFromRow(rows[0]) : null;
}

export async function findOpenTicket(sql: Sql, openKey: string): Promise<TicketRow | null> {
  const rows = await sql.query('SELECT * FROM tickets WHERE openKey = ?', [openKey]);
  return rows[0] ? ticketFromRow(rows[0]) : null;
}

/** `(columns) VALUES (?, …)` and its parameters, for a whole row. */
function rowValues<T extends object>(row: T): [string, any[]] {
  const keys = Object.keys(row) as (keyof T)[];
  return [`(${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`, keys.map((k) => row[k])];
}

/** `SET a = ?, …, version = version + 1` and its parameters (id and version are never set from a patch). */
function ticketSet(patch: Partial<TicketRow>): [string, any[]] {
  const keys = Object.keys(patch).filter((k) => k !== 'id' && k !== 'version') as (keyof TicketRow)[];
  return [`SET ${keys.map((k) => `${k} = ?`).concat('version = version + 1').join(', ')}`, keys.map((k) => patch[k])];
}

export async function insertTicket(sql: Sql, t: TicketRow): Promise<void> {
  const [values, params] = rowValues(t);
  // A unique violation (uq_ticket_open: a concurrent opener) fails the caller's transaction, which retries.
  await sql.defer(`INSERT INTO tickets ${values}`, params);
}

/**
 * Writes the given fields. With `expectVersion`, only when the row still has that
 * version (optimistic concurrency); returns whether the row was updated.
 */
export async function updateTicket(sql: Sql, id: string, patch: Partial<TicketRow>, expectVersion?: number): Promise<boolean> {
  const [set, params] = ticketSet(patch);
  let where = 'id = ?';
  params.push(id);
  if (expectVersion !== undefined) {
    where += ' AND version = ?';
    params.push(expectVersion);
  }
  const { affected } = await sql.execute(`UPDATE tickets ${set} WHERE ${where}`, params);
  return affected > 0;
}

/** updateTicket without a version check or a result: held for the transaction's next round trip (Sql.defer). */
export async function patchTicket(sql: Sql, id: string, patch: Partial<TicketRow>): Promise<void> {
  const [set, params] = ticketSet(patch);
  await sql.defer(`UPDATE tickets ${set} WHERE id = ?`, [...params, id]);
}

/**
 * Inserts a message that cannot be stored already (a new id and no platform id yet, or the
 * first message of a contact created in this transaction): no IGNORE, no result awaited
 * (Sql.defer); a unique violation fails the caller's transaction.
 */
export async function insertNewMessage(sql: Sql, m: MessageRow): Promise<void> {
  const [values, params] = rowValues(m);
  await sql.defer(`INSERT INTO messages ${values}`, params);
}

/** Inserts a message; returns false (and writes nothing) when its platform id is already stored. */
export async function insertMessage(sql: Sql, m: MessageRow): Promise<boolean> {
  const [values, params] = rowValues(m);
  const { affected } = await sql.execute(`${sql.insertIgnore()} INTO messages ${values}`, params);
  return affected > 0;
}

export async function getMessage(sql: Sql, id: string): Promise<MessageRow | null> {
  const rows = await sql.query('SELECT * FROM messages WHERE id = ?', [id]);
  return rows[0] ? messageFromRow(rows[0]) : null;
}

export async function getMessageByExternalId(sql: Sql, channel: string, externalId: string): Promise<MessageRow | null> {
  const rows = await sql.query('SELECT * FROM messages WHERE channel = ? AND externalId = ?', [channel, externalId]);
  return rows[0] ? messageFromRow(rows[0]) : null;
}

export async function listMessages(sql: Sql, ticketId: string): Promise<MessageRow[]> {
  const rows = await sql.query('SELECT * FROM messages WHERE ticketId = ? ORDER BY createdAt, id', [ticketId]);
  return rows.map(messageFromRow);
}

export interface TimelineRow {
  id: string;
  ticketId: string;
  at: number;
  type: string;
  actorKind: string;
  actorId: string | null;
  actorName: string | null;
  data: string;
}

export async function insertTimeline(sql: Sql, ticketId: string, at: number, type: string, actor: Actor, data: Record<string, unknown>): Promise<void> {
  await sql.defer(
    'INSERT INTO timeline (id, ticketId, at, type, actorKind, actorId, actorName, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    [newId(), ticketId, at, type, actor.kind, actor.id ?? null, actor.name ?? null, JSON.stringify(data)],
  );
}

/** A timeline entry not yet written (see insertTimelines). */
export interface PendingTimeline {
  ticketId: string;
  at: number;
  type: string;
  actor: Actor;
  data: Record<string, unknown>;
}

/** Several timeline entries in one statement (one round trip on MySQL), in array order. */
export async function insertTimelines(sql: Sql, entries: PendingTimeline[]): Promise<void> {
  if (!entries.length) return;
  const params: (string | number | null)[] = [];
  for (const e of entries) params.push(newId(), e.ticketId, e.at, e.type, e.actor.kind, e.actor.id ?? null, e.actor.name ?? null, JSON.stringify(e.data));
  await sql.defer(
    `INSERT INTO timeline (id, ticketId, at, type, actorKind, actorId, actorName, data) VALUES ${entries.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    params,
  );
}

export async function listTimeline(sql: Sql, ticketId: string): Promise<TimelineRow[]> {
  const rows = await sql.query<TimelineRow>('SELECT * FROM timeline WHERE ticketId = ? ORDER BY at, id', [ticketId]);
  for (const r of rows) r.at = Number(r.at);
  return rows;
}

// ---- contacts and conversations -------------------------------------------------

/**
 * Finds the contact owning any of `identities` on `channel`, or creates one; identities
 * not yet known are attached to it. Under concurrency the unique identity key decides:
 * a loser's insert fails with a unique violation and the caller retries its unit of work.
 */
export async function resolveContact(sql: Sql, channel: Channel, identities: string[], name: string | undefined, now: number): Promise<string> {
  return (await resolveContactEx(sql, channel, identities, name, now)).contactId;
}

/**
 * resolveContact, also telling whether the contact was created by this call: a brand-new
 * contact has no conversation and no ticket yet, so the caller can skip looking for them.
 */
export async function resolveContactEx(sql: Sql, channel: Channel, identities: string[], name: string | undefined, now: number): Promise<{ contactId: string; created: boolean }> {
  const ids = [...new Set(identities.filter(Boolean))];
  // The contact's name comes with the lookup, so an unchanged name costs no UPDATE.
  const known = await sql.query<{ contactId: string; value: string; name: string | null }>(
    `SELECT ci.contactId, ci.value, c.name FROM contact_identities ci LEFT JOIN contacts c ON c.id = ci.contactId WHERE ci.channel = ? AND ci.value IN (${ids.map(() => '?').join(', ')})`,
    [channel, ...ids],
  );
  let contactId = known[0]?.contactId;
  const created = !contactId;
  if (!contactId) {
    contactId = newId(now);
    await sql.defer('INSERT INTO contacts (id, name, createdAt, updatedAt) VALUES (?, ?, ?, ?)', [contactId, name ?? null, now, now]);
  } else if (name && known[0].name !== name) {
    await sql.defer('UPDATE contacts SET name = ?, updatedAt = ? WHERE id = ? AND (name IS NULL OR name <> ?)', [name, now, contactId, name]);
  }
  const missing = ids.filter((v) => !known.some((k) => k.value === v));
  if (missing.length) {
    const params: (string | number)[] = [];
    for (const value of missing) params.push(newId(now), contactId, channel, value, now);
    // A concurrent creator of the same identity makes this fail on the unique key; the caller retries.
    await sql.defer(`INSERT INTO contact_identities (id, contactId, channel, value, createdAt) VALUES ${missing.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, params);
  }
  return { contactId, created };
}

export async function getConversation(sql: Sql, id: string): Promise<ConversationRow | null> {
  const rows = await sql.query<ConversationRow>('SELECT * FROM conversations WHERE id = ?', [id]);
  return rows[0] ? convFromRow(rows[0]) : null;
}

function convFromRow(r: any): ConversationRow {
  r.lastInboundAt = num(r.lastInboundAt);
  r.createdAt = Number(r.createdAt);
  r.updatedAt = Number(r.updatedAt);
  return r;
}

/** The conversation of a contact on one channel account (created on first contact). */
export async function ensureConversation(
  sql: Sql, channel: Channel, account: string, contactId: string, address: string, now: number,
  /** The contact was created in this transaction: it has no conversation yet (no lookup), and `lastInboundAt` is written with the row. */
  fresh?: { lastInboundAt: number | null },
): Promise<ConversationRow> {
  const find = async () => {
    const rows = await sql.query('SELECT * FROM conversations WHERE channel = ? AND account = ? AND contactId = ?', [channel, account, contactId]);
    return rows[0] ? convFromRow(rows[0]) : null;
  };
  const conv = fresh ? null : await find();
  if (!conv) {
    // A concurrent creator makes this INSERT fail on the unique key; the caller retries.
    const row: ConversationRow = { id: newId(now), channel, account, contactId, address, lastInboundAt: fresh?.lastInboundAt ?? null, createdAt: now, updatedAt: now };
    await sql.defer(
      'INSERT INTO conversations (id, channel, account, contactId, address, lastInboundAt, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [row.id, channel, account, contactId, address, row.lastInboundAt, now, now],
    );
    return row;
  }
  if (conv.address !== address) {
    await sql.defer('UPDATE conversations SET address = ?, updatedAt = ? WHERE id = ?', [address, now, conv.id]);
    conv.address = address;
  }
  return conv;
}

/** Moves the messaging window forward (never back: webhooks may arrive out of order). */
export async function touchInbound(sql: Sql, conversationId: string, platformAt: number, now: number): Promise<void> {
  await sql.defer('UPDATE conversations SET lastInboundAt = ?, updatedAt = ? WHERE id = ? AND (lastInboundAt IS NULL OR lastInboundAt < ?)', [
    platformAt, now, conversationId, platformAt,
  ]);
}

export interface ContactView {
  id: string;
  name: string | null;
  identities: Partial<Record<Channel, string>>;
}

export async function loadContacts(sql: Sql, ids: string[]): Promise<Map<string, ContactView>> {
  const out = new Map<string, ContactView>();
  const uniq = [...new Set(ids.filter(Boolean))];
  if (!uniq.length) return out;
  const ph = uniq.map(() => '?').join(', ');
  const contacts = await sql.query<{ id: string; name: string | null }>(`SELECT id, name FROM contacts WHERE id IN (${ph})`, uniq);
  for (const c of contacts) out.set(c.id, { id: c.id, name: c.name, identities: {} });
  const idents = await sql.query<{ contactId: string; channel: Channel; value: string }>(
    `SELECT contactId, channel, value FROM contact_identities WHERE contactId IN (${ph}) ORDER BY createdAt`,
    uniq,
  );
  for (const i of idents) {
    const c = out.get(i.contactId);
    if (c && !c.identities[i.channel]) c.identities[i.channel] = i.value;
  }
  return out;
}

// ---- users and teams --------------------------------------------------------------

export function userFromRow(r: any): UserRow {
  r.capacity = Number(r.capacity);
  r.lastSeenAt = num(r.lastSeenAt);
  r.createdAt = Number(r.createdAt);
  r.updatedAt = Number(r.updatedAt);
  return r;
}

export async function loadNames(sql: Sql, table: 'users' | 'teams', ids: (string | null)[]): Promise<Map<string, string>> {
  const uniq = [...new Set(ids.filter((x): x is string => !!x))];
  if (!uniq.length) return new Map();
  const rows = await sql.query<{ id: string; name: string }>(`SELECT id, name FROM ${table} WHERE id IN (${uniq.map(() => '?').join(', ')})`, uniq);
  return new Map(rows.map((r) => [r.id, r.name]));
}
