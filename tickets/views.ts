// API shapes (SPEC §4.1) of tickets, messages and timeline entries.

import type { Sql } from '../gateway/db/sql.js';
import type { MessageRow, TicketRow } from './model.js';
import type { Settings } from './settings.js';
import { computeSla, slaView } from './sla.js';
import { loadContacts, loadNames, type ContactView, type TimelineRow } from './store.js';

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());

export function parseJson<T>(s: string | null | undefined, fallback: T): T {
  if (!s) return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}

export async function ticketViews(sql: Sql, rows: TicketRow[], settings: Settings, now: number) {
  const [contacts, users, teams] = await Promise.all([
    loadContacts(sql, rows.map((r) => r.contactId!).filter(Boolean)),
    loadNames(sql, 'users', rows.map((r) => r.assigneeId)),
    loadNames(sql, 'teams', rows.map((r) => r.teamId)),
  ]);
  return rows.map((t) => ticketView(t, contacts, users, teams, settings, now));
}

export function ticketView(
  t: TicketRow,
  contacts: Map<string, ContactView>,
  users: Map<string, string>,
  teams: Map<string, string>,
  settings: Settings,
  now: number,
) {
  return {
    id: t.id,
    subject: t.subject,
    description: t.description,
    channel: t.channel,
    type: t.type,
    status: t.status,
    priority: t.priority,
    category: t.category,
    tags: parseJson<string[]>(t.tags, []),
    assignee: t.assigneeId ? { id: t.assigneeId, name: users.get(t.assigneeId) ?? null } : null,
    team: t.teamId ? { id: t.teamId, name: teams.get(t.teamId) ?? null } : null,
    createdBy: t.createdBy,
    linkedTicketId: t.linkedTicketId,
    contact: t.contactId ? (contacts.get(t.contactId) ?? { id: t.contactId, name: null, identities: {} }) : null,
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
    firstResponseAt: iso(t.firstResponseAt),
    resolvedAt: iso(t.resolvedAt),
    closedAt: iso(t.closedAt),
    lastCustomerMessageAt: iso(t.lastCustomerMessageAt),
    handoffAt: iso(t.handoffAt),
    handoffCause: t.handoffCause,
    // Rated, asked and waiting (score null), or not asked because the channel's window was closed (skipped).
    csat: t.csatScore === null && !t.csatRequestedAt && !t.csatSkipped
      ? null
      : { score: t.csatScore, comment: t.csatComment, requestedAt: iso(t.csatRequestedAt === null || t.csatRequestedAt === undefined ? null : Number(t.csatRequestedAt)), skipped: t.csatSkipped ?? null },
    sla: slaView(computeSla(t, settings, now)),
  };
}

export type TicketView = ReturnType<typeof ticketView>;

export function messageView(m: MessageRow) {
  const payload = parseJson<any>(m.payload, null);
  return {
    id: m.id,
    direction: m.direction,
    author: m.author,
    authorId: m.authorId,
    text: m.text,
    kind: m.kind,
    status: m.status,
    error: m.error,
    createdAt: iso(m.createdAt),
    platformAt: iso(m.platformAt),
    ...(m.kind === 'choice' && payload?.options ? { options: payload.options } : {}),
    ...(m.kind === 'choice' && payload?.choice ? { choice: payload.choice } : {}),
    ...(m.kind === 'template' && payload?.name ? { template: { name: payload.name, language: payload.language, params: payload.params } } : {}),
    ...(payload?.media ? { media: payload.media } : {}),
    ...(payload?.location ? { location: payload.location } : {}),
    ...(payload?.unsent ? { unsent: true } : {}),
  };
}

export function timelineView(e: TimelineRow, messages: Map<string, ReturnType<typeof messageView>>) {
  const data = parseJson<Record<string, unknown>>(e.data, {});
  const actor = { kind: e.actorKind, ...(e.actorId ? { id: e.actorId } : {}), ...(e.actorName ? { name: e.actorName } : {}) };
  // The id lets clients address an entry (edit/delete a comment or note).
  const base = { id: e.id, type: e.type, at: iso(e.at), actor };
  if (e.type === 'message') {
    const { messageId, ...rest } = data;
    return { ...base, ...rest, message: messages.get(String(messageId)) ?? null };
  }
  return { ...base, ...data };
}
