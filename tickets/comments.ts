// Comments and internal notes (SPEC §3.9): remarks on a ticket's timeline, never sent to
// the customer. Comments are seen by every team member; notes only by users holding the
// `notes` permission (admins always), who alone may write them. Authors (or admins)
// may edit or delete their entries; each change leaves an `edited`/`deleted` mark on
// the entry and a timeline entry of its own, which carries no body.
//
// Where notes could leak, and what stops them:
//   - detail timeline: api.ts filters isPrivateEntry() for users without the permission;
//   - lists: ticket views carry no timeline, and a note doesn't touch the ticket row
//     (not even updatedAt), so nothing in a list changes when a note is written;
//   - event stream: note events are private (gateway/http/events.ts filters them);
//   - export: tickets/export.ts only reads notes for users with the permission;
//   - customer and bot: they never read the timeline.

import express, { type Request, type Router } from 'express';
import type { Sql } from '../gateway/db/sql.js';
import { newId } from '../gateway/ids.js';
import { actorOf, canReadNotes, userOf, type AuthedUser } from './auth.js';
import type { TicketContext } from './context.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { Effects, type TicketEventType } from './events.js';
import { loadTicket } from './lifecycle.js';
import type { TimelineRow } from './store.js';
import { parseJson, timelineView } from './views.js';

export type RemarkKind = 'comment' | 'note';

export const MAX_BODY = 20_000;

/** Timeline entry types only users with the notes permission may see. */
export function isPrivateEntry(type: string): boolean {
  return type === 'note' || type.startsWith('note_');
}

export interface CommentDeps {
  ctx: TicketContext;
  afterCommit: (fx: Effects) => void | Promise<void>;
}

interface RemarkData {
  body: string | null;
  editedAt?: string;
  editedBy?: string;
  deleted?: boolean;
  deletedAt?: string;
  deletedBy?: string;
}

function bodyOf(req: Request): string {
  const b = req.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw badRequest('the request body must be a JSON object {body}');
  const unknown = Object.keys(b).filter((k) => k !== 'body');
  if (unknown.length) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
  if (typeof b.body !== 'string' || !b.body.trim()) throw badRequest('body must be a non-empty string');
  if (b.body.length > MAX_BODY) throw badRequest(`body must be at most ${MAX_BODY} characters`);
  return b.body;
}

function needNotes(u: AuthedUser): void {
  if (!canReadNotes(u)) throw new ApiError(403, 'forbidden', 'internal notes need the notes permission');
}

function entryView(row: TimelineRow) {
  return timelineView(row, new Map());
}

export function commentRoutes(d: CommentDeps): Router {
  const { ctx } = d;
  const { sql, clock } = ctx;
  const r = express.Router();

  const work = async <T>(fn: (tx: Sql, fx: Effects) => Promise<T>): Promise<T> => {
    const fx = new Effects();
    const result = await sql.tx((tx) => fn(tx, fx));
    await d.afterCommit(fx);
    return result;
  };

  const event = (kind: RemarkKind, what: 'created' | 'updated' | 'deleted') => `${kind}.${what}` as TicketEventType;

  async function loadEntry(tx: Sql, kind: RemarkKind, ticketId: string, entryId: string): Promise<TimelineRow & { parsed: RemarkData }> {
    const rows = await tx.query<TimelineRow>('SELECT * FROM timeline WHERE id = ? AND ticketId = ? AND type = ?', [entryId, ticketId, kind]);
    const row = rows[0];
    if (!row) throw notFound(`${kind} ${entryId} on ticket ${ticketId}`);
    row.at = Number(row.at);
    const parsed = parseJson<RemarkData>(row.data, { body: null });
    if (parsed.deleted) throw notFound(`${kind} ${entryId} on ticket ${ticketId} (deleted)`);
    return Object.assign(row, { parsed });
  }

  function mayChange(me: AuthedUser, row: TimelineRow): void {
    if (me.role === 'admin' || (row.actorKind === 'agent' && row.actorId === me.id)) return;
    throw new ApiError(403, 'forbidden', 'only the author or an admin may change this entry');
  }

  for (const kind of ['comment', 'note'] as const) {
    const plural = `${kind}s`;
    const isPrivate = kind === 'note';

    r.post(`/tickets/:id/${plural}`, async (req, res) => {
      const me = userOf(req);
      if (isPrivate) needNotes(me);
      const body = bodyOf(req);
      const entry = await work(async (tx, fx) => {
        const t = await loadTicket(tx, String(req.params.id));
        const now = clock.now();
        const actor = actorOf(me);
        const row: TimelineRow = {
          id: newId(now), ticketId: t.id, at: now, type: kind, actorKind: actor.kind, actorId: actor.id ?? null,
          actorName: actor.name ?? null, data: JSON.stringify({ body } satisfies RemarkData),
        };
        await tx.execute('INSERT INTO timeline (id, ticketId, at, type, actorKind, actorId, actorName, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
          row.id, row.ticketId, row.at, row.type, row.actorKind, row.actorId, row.actorName, row.data,
        ]);
        // A comment is team-visible activity: lists sorted by updatedAt show it. A note
        // must not change anything others can see, so it leaves the ticket row alone.
        if (!isPrivate) await tx.execute('UPDATE tickets SET updatedAt = ? WHERE id = ? AND updatedAt < ?', [now, t.id, now]);
        fx.event(event(kind, 'created'), t.id, now, { entryId: row.id, body, actor: { id: me.id, name: me.name } }, isPrivate);
        return row;
      });
      res.status(201).json(entryView(entry));
    });

    r.patch(`/tickets/:id/${plural}/:entryId`, async (req, res) => {
      const me = userOf(req);
      if (isPrivate) needNotes(me);
      const body = bodyOf(req);
      const entry = await work(async (tx, fx) => {
        const row = await loadEntry(tx, kind, String(req.params.id), String(req.params.entryId));
        mayChange(me, row);
        const now = clock.now();
        const data: RemarkData = { ...row.parsed, body, editedAt: new Date(now).toISOString(), editedBy: me.id };
        row.data = JSON.stringify(data);
        await tx.execute('UPDATE timeline SET data = ? WHERE id = ?', [row.data, row.id]);
        await logChange(tx, row, `${kind}_edited`, me, now);
        fx.event(event(kind, 'updated'), row.ticketId, now, { entryId: row.id, body, actor: { id: me.id, name: me.name } }, isPrivate);
        return row;
      });
      res.json(entryView(entry));
    });

    r.delete(`/tickets/:id/${plural}/:entryId`, async (req, res) => {
      const me = userOf(req);
      if (isPrivate) needNotes(me);
      await work(async (tx, fx) => {
        const row = await loadEntry(tx, kind, String(req.params.id), String(req.params.entryId));
        mayChange(me, row);
        const now = clock.now();
        // The body is erased, the entry stays as a "deleted" mark in its place.
        const data: RemarkData = { body: null, deleted: true, deletedAt: new Date(now).toISOString(), deletedBy: me.id };
        await tx.execute('UPDATE timeline SET data = ? WHERE id = ?', [JSON.stringify(data), row.id]);
        await logChange(tx, row, `${kind}_deleted`, me, now);
        fx.event(event(kind, 'deleted'), row.ticketId, now, { entryId: row.id, actor: { id: me.id, name: me.name } }, isPrivate);
      });
      res.status(204).end();
    });
  }

  /** The audit entry of an edit/delete: who, when, which entry; never the body. */
  async function logChange(tx: Sql, row: TimelineRow, type: string, me: AuthedUser, now: number): Promise<void> {
    const actor = actorOf(me);
    await tx.execute('INSERT INTO timeline (id, ticketId, at, type, actorKind, actorId, actorName, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      newId(now), row.ticketId, now, type, actor.kind, actor.id ?? null, actor.name ?? null,
      JSON.stringify({ entryId: row.id, author: row.actorId }),
    ]);
  }

  return r;
}
