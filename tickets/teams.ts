// Teams (SPEC §4 /api/teams): named groups of agents that routing rules send tickets
// to. PUT replaces the whole list: teams missing from it are deleted (refused while
// an open ticket or a routing rule still uses them).

import type { Sql } from '../gateway/db/sql.js';
import { newId } from '../gateway/ids.js';
import { badRequest, conflict } from './errors.js';
import { getRoutingRules } from './routing.js';

export interface Team {
  id: string;
  name: string;
  memberIds: string[];
}

export interface TeamInput {
  id?: string;
  name: string;
  memberIds: string[];
}

export async function listTeams(sql: Sql): Promise<Team[]> {
  const teams = await sql.query<{ id: string; name: string }>('SELECT id, name FROM teams ORDER BY name, id');
  const members = await sql.query<{ teamId: string; userId: string }>('SELECT teamId, userId FROM team_members ORDER BY userId');
  return teams.map((t) => ({ id: t.id, name: t.name, memberIds: members.filter((m) => m.teamId === t.id).map((m) => m.userId) }));
}

export function validateTeams(v: unknown): TeamInput[] {
  if (!Array.isArray(v)) throw badRequest('teams must be a JSON array of {id?, name, memberIds}', 'invalid_team');
  if (v.length > 500) throw badRequest('at most 500 teams', 'invalid_team');
  const names = new Set<string>();
  const ids = new Set<string>();
  return v.map((t: any, i: number) => {
    const at = `team ${i + 1}`;
    if (!t || typeof t !== 'object' || Array.isArray(t)) throw badRequest(`${at} must be an object {id?, name, memberIds}`, 'invalid_team');
    const extra = Object.keys(t).filter((k) => !['id', 'name', 'memberIds'].includes(k));
    if (extra.length) throw badRequest(`${at}: unknown field(s) ${extra.join(', ')}`, 'invalid_team');
    if (typeof t.name !== 'string' || !t.name.trim() || t.name.length > 100) throw badRequest(`${at}: name must be a non-empty string (≤ 100 characters)`, 'invalid_team');
    const name = t.name.trim();
    if (names.has(name)) throw badRequest(`team name ${name} is listed twice`, 'invalid_team');
    names.add(name);
    if (t.id !== undefined && (typeof t.id !== 'string' || !t.id)) throw badRequest(`${at}: id must be a string (omit it for a new team)`, 'invalid_team');
    if (t.id !== undefined) {
      if (ids.has(t.id)) throw badRequest(`team id ${t.id} is listed twice`, 'invalid_team');
      ids.add(t.id);
    }
    const memberIds = t.memberIds ?? [];
    if (!Array.isArray(memberIds) || memberIds.some((m: unknown) => typeof m !== 'string')) throw badRequest(`${at}: memberIds must be a list of agent ids`, 'invalid_team');
    return { ...(t.id !== undefined ? { id: t.id } : {}), name, memberIds: [...new Set(memberIds as string[])] };
  });
}

/** Replaces the teams with `list` inside the caller's transaction; returns the stored teams. */
export async function putTeams(tx: Sql, list: TeamInput[], now: number): Promise<Team[]> {
  const existing = await tx.query<{ id: string; name: string }>('SELECT id, name FROM teams');
  const known = new Set(existing.map((t) => t.id));
  for (const t of list) if (t.id && !known.has(t.id)) throw badRequest(`unknown team id ${t.id} (omit id to create a team)`, 'unknown_team');
  const users = new Set((await tx.query<{ id: string }>('SELECT id FROM users')).map((u) => u.id));
  for (const t of list) {
    const missing = t.memberIds.filter((m) => !users.has(m));
    if (missing.length) throw badRequest(`team ${t.name}: unknown agent(s) ${missing.join(', ')}`, 'unknown_agent');
  }
  const keep = new Set(list.map((t) => t.id).filter(Boolean));
  const removed = existing.filter((t) => !keep.has(t.id));
  if (removed.length) {
    const ph = removed.map(() => '?').join(', ');
    const used = await tx.query<{ teamId: string }>(`SELECT DISTINCT teamId FROM tickets WHERE teamId IN (${ph}) AND status <> 'closed'`, removed.map((t) => t.id));
    if (used.length) {
      const names = removed.filter((t) => used.some((u) => u.teamId === t.id)).map((t) => t.name);
      throw conflict(`team(s) ${names.join(', ')} still have open tickets: move them first`, 'team_in_use');
    }
    const rules = await getRoutingRules(tx);
    const ruled = removed.filter((t) => rules.some((r) => r.team === t.id));
    if (ruled.length) throw conflict(`team(s) ${ruled.map((t) => t.name).join(', ')} are used by routing rules: change the rules first`, 'team_in_use');
    await tx.execute(`DELETE FROM team_members WHERE teamId IN (${ph})`, removed.map((t) => t.id));
    await tx.execute(`DELETE FROM teams WHERE id IN (${ph})`, removed.map((t) => t.id));
  }
  // Renames go through a temporary name so swapping two names doesn't trip the unique index.
  const updates = list.filter((t) => t.id && existing.find((e) => e.id === t.id)!.name !== t.name);
  for (const t of updates) await tx.execute('UPDATE teams SET name = ? WHERE id = ?', [`~renaming~${t.id}`, t.id!]);
  for (const t of updates) await tx.execute('UPDATE teams SET name = ? WHERE id = ?', [t.name, t.id!]);
  for (const t of list) {
    if (!t.id) {
      t.id = newId(now);
      await tx.execute('INSERT INTO teams (id, name, createdAt) VALUES (?, ?, ?)', [t.id, t.name, now]);
    }
    await tx.execute('DELETE FROM team_members WHERE teamId = ?', [t.id]);
    for (const m of t.memberIds) await tx.execute('INSERT INTO team_members (teamId, userId) VALUES (?, ?)', [t.id, m]);
  }
  return listTeams(tx);
}
