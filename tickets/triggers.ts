// Triggers (SPEC §4 /api/triggers, §4.1): admin-defined "when this changes and these
// conditions hold, do that", evaluated right after each committed change.
//
//   {name, on: "ticket.created" | "ticket.updated" | "message.received",
//    if:   [{field, op: is|not|in|includes, value}]      fields: status type priority category channel tags team
//    then: [{set: FIELD, value} | {addTag} | {removeTag} | {assign: agentId} | {sendMessage: text}]}
//
// Semantics: after a unit of work commits, each ticket it changed is looked at once per
// trigger, in list order; a trigger whose `on` matches one of the change's kinds and
// whose conditions all hold on the ticket *now* runs its actions in its own transaction
// (so one failing trigger never undoes another). Each trigger runs at most once per
// change, and changes made by triggers never fire triggers again: no loops, whatever
// the admin writes. Stored as one JSON row (`collection:triggers` in `settings`).

import AjvModule from 'ajv';
import { CHANNELS } from '../adapters/types.js';
import type { Sql } from '../gateway/db/sql.js';
import { getCategories } from './categories.js';
import { CachedCollection, putCollection } from './collections.js';
import type { TicketContext } from './context.js';
import { ApiError, badRequest } from './errors.js';
import { Effects, type TicketEvent } from './events.js';
import { assign, moveStatus } from './lifecycle.js';
import { PRIORITIES, STATUSES, type Actor, type TicketRow, type TicketStatus } from './model.js';
import { getTicket, insertTimeline, updateTicket } from './store.js';

const Ajv = (AjvModule as any).default ?? AjvModule;
const ajv = new Ajv({ allErrors: false, strict: false });

export const TRIGGER_EVENTS = ['ticket.created', 'ticket.updated', 'message.received'] as const;
export type TriggerEvent = (typeof TRIGGER_EVENTS)[number];
export const CONDITION_FIELDS = ['status', 'type', 'priority', 'category', 'channel', 'tags', 'team'] as const;
export type ConditionField = (typeof CONDITION_FIELDS)[number];
export const OPS = ['is', 'not', 'in', 'includes'] as const;
export const SETTABLE = ['status', 'priority', 'category', 'team'] as const;

export interface TriggerCondition {
  field: ConditionField;
  op: (typeof OPS)[number];
  value: string | null | string[];
}

export type TriggerAction =
  | { set: (typeof SETTABLE)[number]; value: string | null }
  | { addTag: string }
  | { removeTag: string }
  | { assign: string }
  | { sendMessage: string };

export interface Trigger {
  name: string;
  on: TriggerEvent;
  if: TriggerCondition[];
  then: TriggerAction[];
}

const str = { type: 'string', minLength: 1, maxLength: 255 };
const SCHEMA = {
  type: 'array',
  maxItems: 200,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'on', 'then'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 100 },
      on: { enum: TRIGGER_EVENTS },
      if: {
        type: 'array',
        maxItems: 20,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['field', 'op', 'value'],
          properties: {
            field: { enum: CONDITION_FIELDS },
            op: { enum: OPS },
            value: { anyOf: [{ type: 'string', maxLength: 255 }, { type: 'null' }, { type: 'array', maxItems: 50, items: str }] },
          },
        },
      },
      then: {
        type: 'array',
        minItems: 1,
        maxItems: 20,
        items: {
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['set', 'value'], properties: { set: { enum: SETTABLE }, value: { anyOf: [str, { type: 'null' }] } } },
            { type: 'object', additionalProperties: false, required: ['addTag'], properties: { addTag: str } },
            { type: 'object', additionalProperties: false, required: ['removeTag'], properties: { removeTag: str } },
            { type: 'object', additionalProperties: false, required: ['assign'], properties: { assign: str } },
            { type: 'object', additionalProperties: false, required: ['sendMessage'], properties: { sendMessage: { type: 'string', minLength: 1, maxLength: 4096 } } },
          ],
        },
      },
    },
  },
};
const validateShape = ajv.compile(SCHEMA);

const TICKET_CHANNELS: readonly string[] = [...CHANNELS, 'internal'];
const ALLOWED: Partial<Record<ConditionField, readonly string[]>> = {
  status: STATUSES,
  type: ['bot', 'agent'],
  priority: PRIORITIES,
  channel: TICKET_CHANNELS,
};

const invalid = (message: string) => badRequest(message, 'invalid_trigger');

/** Validates a PUT /api/triggers body (400 invalid_trigger naming what is wrong); teams given by name are stored by id. */
export async function validateTriggers(sql: Sql, v: unknown): Promise<Trigger[]> {
  if (!validateShape(v)) {
    const e = validateShape.errors?.[0];
    const where = e?.instancePath ? `triggers${e.instancePath}` : 'triggers';
    const extra = e?.params?.allowedValues ? `: ${e.params.allowedValues.join(', ')}` : e?.params?.additionalProperty ? ` (${e.params.additionalProperty})` : '';
    throw invalid(`${where} ${e?.message ?? 'is invalid'}${extra}; expected [{name, on, if: [{field, op, value}], then: [{set, value} | {addTag} | {removeTag} | {assign} | {sendMessage}]}]`);
  }
  const list = v as Trigger[];
  const teams = await sql.query<{ id: string; name: string }>('SELECT id, name FROM teams');
  const teamId = (at: string, x: string | null) => {
    if (x === null) return null;
    const t = teams.find((tm) => tm.id === x) ?? teams.find((tm) => tm.name === x);
    if (!t) throw invalid(`${at}: unknown team ${JSON.stringify(x)}`);
    return t.id;
  };
  const names = new Set<string>();
  const out: Trigger[] = [];
  for (const [i, t] of list.entries()) {
    const at = `trigger ${i + 1} (${t.name})`;
    if (names.has(t.name)) throw invalid(`${at}: the name is used twice`);
    names.add(t.name);
    const conds: TriggerCondition[] = [];
    for (const c of t.if ?? []) {
      const values = Array.isArray(c.value) ? c.value : [c.value];
      if (c.op === 'in' && !Array.isArray(c.value)) throw invalid(`${at}: "in" takes a list of values`);
      if (c.op !== 'in' && Array.isArray(c.value)) throw invalid(`${at}: "${c.op}" takes one value (use "in" for a list)`);
      if (c.op === 'includes' && c.field !== 'tags') throw invalid(`${at}: "includes" applies to tags`);
      if (c.value === null && !['category', 'team'].includes(c.field)) throw invalid(`${at}: ${c.field} cannot be null`);
      const allowed = ALLOWED[c.field];
      const bad = allowed ? values.find((x) => !allowed.includes(x as string)) : undefined;
      if (bad !== undefined) throw invalid(`${at}: ${c.field} must be one of ${allowed!.join(', ')} (got ${JSON.stringify(bad)})`);
      conds.push({ ...c, value: c.field === 'team' ? (Array.isArray(c.value) ? c.value.map((x) => teamId(at, x)!) : teamId(at, c.value)) : c.value });
    }
    const actions: TriggerAction[] = [];
    for (const a of t.then) {
      if ('set' in a) {
        if (a.set === 'status' && !STATUSES.includes(a.value as TicketStatus)) throw invalid(`${at}: status must be one of ${STATUSES.join(', ')}`);
        if (a.set === 'priority' && !PRIORITIES.includes(a.value as any)) throw invalid(`${at}: priority must be one of ${PRIORITIES.join(', ')}`);
        if (a.set === 'category' && a.value !== null) {
          const categories = await getCategories(sql);
          if (!categories.includes(a.value)) throw invalid(`${at}: unknown category ${a.value}; known: ${categories.join(', ') || '(none)'}`);
        }
        actions.push(a.set === 'team' ? { set: 'team', value: teamId(at, a.value) } : a);
      } else if ('assign' in a) {
        const u = await sql.query('SELECT id FROM users WHERE id = ?', [a.assign]);
        if (!u.length) throw invalid(`${at}: unknown agent ${a.assign}`);
        actions.push(a);
      } else actions.push(a);
    }
    out.push({ name: t.name, on: t.on, if: conds, then: actions });
  }
  return out;
}

// ---- evaluation ------------------------------------------------------------------------

function tagsOf(t: TicketRow): string[] {
  try {
    const v = JSON.parse(t.tags);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

function fieldOf(t: TicketRow, f: ConditionField): string | null {
  switch (f) {
    case 'team':
      return t.teamId;
    case 'tags':
      return null;
    default:
      return (t as any)[f] ?? null;
  }
}

export function conditionHolds(c: TriggerCondition, t: TicketRow): boolean {
  if (c.field === 'tags') {
    const tags = tagsOf(t);
    if (c.op === 'in') return (c.value as string[]).some((x) => tags.includes(x));
    const has = tags.includes(c.value as string);
    return c.op === 'not' ? !has : has;
  }
  const v = fieldOf(t, c.field);
  if (c.op === 'in') return (c.value as string[]).includes(v as string);
  return c.op === 'not' ? v !== c.value : v === c.value;
}

/** Which trigger kinds a unit of work's events amount to, per ticket (in the order tickets appear). */
export function changesOf(events: TicketEvent[]): Map<string, Set<TriggerEvent>> {
  const out = new Map<string, Set<TriggerEvent>>();
  const add = (id: string, k: TriggerEvent) => {
    if (!out.has(id)) out.set(id, new Set());
    out.get(id)!.add(k);
  };
  for (const e of events) {
    if (e.type === 'ticket.created') add(e.ticketId, 'ticket.created');
    else if (e.type === 'ticket.updated' || e.type === 'ticket.handoff' || e.type === 'ticket.assigned') add(e.ticketId, 'ticket.updated');
    else if (e.type === 'message.created' && e.data?.direction === 'in') add(e.ticketId, 'message.received');
  }
  return out;
}

/** Effects produced by triggers: their changes fire no triggers (the no-loop rule). */
const byTriggers = new WeakSet<Effects>();

export class Triggers {
  private readonly cache: CachedCollection<Trigger[]>;

  constructor(private readonly ctx: TicketContext, ttlMs = 1000) {
    this.cache = new CachedCollection<Trigger[]>(ctx.sql, 'triggers', [], ttlMs);
  }

  list(): Promise<Trigger[]> {
    return this.cache.get();
  }

  /** Validates and replaces the whole list (PUT /api/triggers). */
  async put(body: unknown): Promise<Trigger[]> {
    const list = await validateTriggers(this.ctx.sql, body);
    await putCollection(this.ctx.sql, 'triggers', list, this.ctx.clock.now());
    this.cache.invalidate();
    return this.list();
  }

  /**
   * Runs the triggers a committed unit of work calls for. `commit` is the gateway's
   * afterCommit (events, outbox, flows, routing) for the triggers' own effects.
   * Never rejects: a failing trigger is logged and skipped.
   */
  async afterCommit(fx: Effects, commit: (fx: Effects) => unknown): Promise<void> {
    if (byTriggers.has(fx) || !fx.events.length) return;
    try {
      const changes = changesOf(fx.events);
      if (!changes.size) return;
      const list = await this.list();
      if (!list.length) return;
      for (const [ticketId, kinds] of changes) {
        for (const trigger of list) {
          if (kinds.has(trigger.on)) await this.fire(trigger, ticketId, commit);
        }
      }
    } catch (err) {
      this.ctx.log.error({ err }, 'triggers failed');
    }
  }

  private async fire(trigger: Trigger, ticketId: string, commit: (fx: Effects) => unknown): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const fx = new Effects();
      byTriggers.add(fx);
      try {
        const ran = await this.ctx.sql.tx(async (tx) => {
          const t = await getTicket(tx, ticketId);
          if (!t || !trigger.if.every((c) => conditionHolds(c, t))) return false;
          await this.apply(tx, fx, trigger, t);
          return true;
        });
        if (ran) commit(fx);
        return;
      } catch (err) {
        // Someone changed the ticket meanwhile: look again (the conditions may no longer hold).
        if (err instanceof ApiError && err.code === 'concurrent_update' && attempt < 3) continue;
        this.ctx.log.warn({ err: (err as Error).message, trigger: trigger.name, ticket: ticketId }, 'trigger not applied');
        return;
      }
    }
  }

  private async apply(tx: Sql, fx: Effects, trigger: Trigger, t0: TicketRow): Promise<void> {
    const actor: Actor = { kind: 'system', name: `trigger: ${trigger.name}` };
    const detail = { trigger: trigger.name };
    const now = this.ctx.clock.now();
    let t = t0;
    const done: string[] = [];
    const skipped: { action: string; reason: string }[] = [];
    const setFields = async (patch: Partial<TicketRow>, changes: Record<string, unknown>) => {
      const ok = await updateTicket(tx, t.id, { ...patch, updatedAt: now }, t.version);
      if (!ok) throw new ApiError(409, 'concurrent_update', `ticket ${t.id} changed at the same time`);
      await insertTimeline(tx, t.id, now, 'fields', actor, { changes, ...detail });
      fx.event('ticket.updated', t.id, now, { changes, ...detail });
      t = { ...t, ...patch, updatedAt: now, version: t.version + 1 };
    };
    for (const a of trigger.then) {
      const label = Object.keys(a)[0]!;
      try {
        if ('set' in a) {
          if (a.set === 'status') {
            if (t.status === a.value) continue;
            t = await moveStatus(this.ctx, tx, fx, t, a.value as TicketStatus, actor, { as: 'trigger', detail });
          } else {
            const col = a.set === 'team' ? 'teamId' : a.set;
            if ((t as any)[col] === a.value) continue;
            await setFields({ [col]: a.value } as Partial<TicketRow>, { [col]: { from: (t as any)[col], to: a.value } });
          }
        } else if ('addTag' in a || 'removeTag' in a) {
          const tags = tagsOf(t);
          const next = 'addTag' in a ? (tags.includes(a.addTag) ? tags : [...tags, a.addTag]) : tags.filter((x) => x !== a.removeTag);
          if (next.length === tags.length && next.every((x, i) => x === tags[i])) continue;
          await setFields({ tags: JSON.stringify(next) }, { tags: { from: tags, to: next } });
        } else if ('assign' in a) {
          if (t.assigneeId === a.assign) continue;
          t = await assign(this.ctx, tx, fx, t, a.assign, actor, 'trigger');
        } else if ('sendMessage' in a) {
          await this.ctx.outbound.enqueue(tx, fx, { ticket: t, content: { kind: 'text', text: a.sendMessage }, author: 'system', automatic: true });
        }
        done.push(label);
      } catch (err) {
        // A refused action (status table, offline agent, closed window) writes nothing; the others still run.
        if (!(err instanceof ApiError) || err.code === 'concurrent_update') throw err;
        skipped.push({ action: label, reason: err.message });
      }
    }
    await insertTimeline(tx, t.id, now, 'trigger', actor, { name: trigger.name, actions: done, ...(skipped.length ? { skipped } : {}) });
  }
}
